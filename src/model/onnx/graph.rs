//! A small builder for ONNX graphs: named values, constants as initializers, nodes in order.

use super::proto::{
    AttributeProto, Dimension, GraphProto, NodeProto, TensorProto, TensorShapeProto,
    TensorTypeProto, TypeProto, ValueInfoProto, attribute_type, data_type,
};

/// The ONNX-ML operator domain (LabelEncoder, TreeEnsembleRegressor).
pub const ML: &str = "ai.onnx.ml";

#[derive(Default)]
pub struct Graph {
    pub proto: GraphProto,
    next: usize,
}

/// A node attribute.
pub enum Attr {
    Float(f32),
    Int(i64),
    Ints(Vec<i64>),
    Str(String),
    Strs(Vec<String>),
    Floats(Vec<f32>),
    Tensor(TensorProto),
}

impl Graph {
    /// A fresh value name.
    fn name(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}_{}", self.next)
    }

    /// Declares a graph input of shape [N, 1].
    pub fn input(&mut self, name: &str, elem_type: i32) {
        self.proto
            .input
            .push(value_info(name, elem_type, &[None, Some(1)]));
    }

    /// Declares a graph output of shape [N].
    pub fn output(&mut self, name: &str, elem_type: i32) {
        self.proto.output.push(value_info(name, elem_type, &[None]));
    }

    /// A double constant of the given shape.
    pub fn doubles(&mut self, hint: &str, dims: &[i64], values: Vec<f64>) -> String {
        let name = self.name(hint);
        self.proto.initializer.push(TensorProto {
            name: name.clone(),
            dims: dims.to_vec(),
            data_type: data_type::DOUBLE,
            double_data: values,
            ..Default::default()
        });
        name
    }

    /// An int64 constant of the given shape.
    pub fn ints(&mut self, hint: &str, dims: &[i64], values: Vec<i64>) -> String {
        let name = self.name(hint);
        self.proto.initializer.push(TensorProto {
            name: name.clone(),
            dims: dims.to_vec(),
            data_type: data_type::INT64,
            int64_data: values,
            ..Default::default()
        });
        name
    }

    /// Adds a node of the default domain (or `domain`) and returns its one output.
    pub fn op_in(
        &mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
    ) -> String {
        let out = self.name(&op.to_lowercase());
        self.op_into(domain, op, inputs, attrs, &out);
        out
    }

    pub fn op(&mut self, op: &str, inputs: &[&str]) -> String {
        self.op_in("", op, inputs, Vec::new())
    }

    /// Adds a node writing the named output.
    pub fn op_into(
        &mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        out: &str,
    ) {
        let name = self.name(&format!("node_{}", op.to_lowercase()));
        self.proto.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.to_string()],
            name,
            op_type: op.into(),
            attribute: attrs.into_iter().map(|(n, a)| attribute(n, a)).collect(),
            domain: domain.into(),
        });
    }
}

pub fn tensor_doubles(values: Vec<f64>) -> TensorProto {
    TensorProto {
        dims: vec![values.len() as i64],
        data_type: data_type::DOUBLE,
        double_data: values,
        ..Default::default()
    }
}

fn attribute(name: &str, a: Attr) -> AttributeProto {
    let mut p = AttributeProto {
        name: name.into(),
        ..Default::default()
    };
    match a {
        Attr::Float(f) => (p.f, p.r#type) = (f, attribute_type::FLOAT),
        Attr::Int(i) => (p.i, p.r#type) = (i, attribute_type::INT),
        Attr::Ints(v) => (p.ints, p.r#type) = (v, attribute_type::INTS),
        Attr::Str(s) => (p.s, p.r#type) = (s.into_bytes(), attribute_type::STRING),
        Attr::Strs(v) => {
            p.strings = v.into_iter().map(String::into_bytes).collect();
            p.r#type = attribute_type::STRINGS;
        }
        Attr::Floats(v) => (p.floats, p.r#type) = (v, attribute_type::FLOATS),
        Attr::Tensor(t) => (p.t, p.r#type) = (Some(t), attribute_type::TENSOR),
    }
    p
}

/// Dims: None is the batch dimension "N".
fn value_info(name: &str, elem_type: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d {
                            Some(v) => Dimension {
                                dim_value: Some(*v),
                                dim_param: None,
                            },
                            None => Dimension {
                                dim_value: None,
                                dim_param: Some("N".into()),
                            },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}
