//! Column buffers for the six contract tables, turned into Arrow batches of the canonical
//! schemas (see `contract.rs`).

use std::sync::Arc;

use anyhow::Result;
use arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::SchemaRef;

fn ts(v: &mut Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(std::mem::take(v)).with_timezone("UTC"))
}
fn i64s(v: &mut Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(std::mem::take(v)))
}
fn strs(v: &mut Vec<Option<&'static str>>) -> ArrayRef {
    Arc::new(StringArray::from(std::mem::take(v)))
}

#[derive(Default)]
pub struct Exposures {
    pub ts: Vec<i64>,
    pub user_id: Vec<i64>,
    pub anchor_id: Vec<i64>,
    pub live_id: Vec<i64>,
    pub position: Vec<Option<i32>>,
    pub page: Vec<Option<&'static str>>,
}

#[derive(Default)]
pub struct Watches {
    pub ts: Vec<i64>,
    pub user_id: Vec<i64>,
    pub anchor_id: Vec<i64>,
    pub live_id: Vec<i64>,
    pub duration_s: Vec<f64>,
}

#[derive(Default)]
pub struct Interactions {
    pub ts: Vec<i64>,
    pub user_id: Vec<i64>,
    pub anchor_id: Vec<i64>,
    pub live_id: Vec<Option<i64>>,
    pub kind: Vec<Option<&'static str>>,
    pub value: Vec<f64>,
}

#[derive(Default)]
pub struct LiveSessions {
    pub live_id: Vec<i64>,
    pub anchor_id: Vec<i64>,
    pub start_ts: Vec<i64>,
    pub end_ts: Vec<i64>,
    pub category: Vec<Option<&'static str>>,
}

#[derive(Default)]
pub struct Users {
    pub user_id: Vec<i64>,
    pub gender: Vec<Option<&'static str>>,
    pub age: Vec<Option<i32>>,
    pub city: Vec<Option<&'static str>>,
    pub register_dt: Vec<Option<i32>>,
}

#[derive(Default)]
pub struct Anchors {
    pub anchor_id: Vec<i64>,
    pub gender: Vec<Option<&'static str>>,
    pub age: Vec<Option<i32>>,
    pub city: Vec<Option<&'static str>>,
    pub category: Vec<Option<&'static str>>,
}

/// A buffer that can be drained into a batch of its table's schema.
pub trait Buffer {
    fn len(&self) -> usize;
    fn drain(&mut self, schema: &SchemaRef) -> Result<RecordBatch>;
}

impl Buffer for Exposures {
    fn len(&self) -> usize {
        self.ts.len()
    }
    fn drain(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            schema.clone(),
            vec![
                ts(&mut self.ts),
                i64s(&mut self.user_id),
                i64s(&mut self.anchor_id),
                i64s(&mut self.live_id),
                Arc::new(Int32Array::from(std::mem::take(&mut self.position))),
                strs(&mut self.page),
            ],
        )?)
    }
}

impl Buffer for Watches {
    fn len(&self) -> usize {
        self.ts.len()
    }
    fn drain(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            schema.clone(),
            vec![
                ts(&mut self.ts),
                i64s(&mut self.user_id),
                i64s(&mut self.anchor_id),
                i64s(&mut self.live_id),
                Arc::new(Float64Array::from(std::mem::take(&mut self.duration_s))),
            ],
        )?)
    }
}

impl Buffer for Interactions {
    fn len(&self) -> usize {
        self.ts.len()
    }
    fn drain(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            schema.clone(),
            vec![
                ts(&mut self.ts),
                i64s(&mut self.user_id),
                i64s(&mut self.anchor_id),
                Arc::new(Int64Array::from(std::mem::take(&mut self.live_id))),
                strs(&mut self.kind),
                Arc::new(Float64Array::from(std::mem::take(&mut self.value))),
            ],
        )?)
    }
}

impl Buffer for LiveSessions {
    fn len(&self) -> usize {
        self.live_id.len()
    }
    fn drain(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            schema.clone(),
            vec![
                i64s(&mut self.live_id),
                i64s(&mut self.anchor_id),
                ts(&mut self.start_ts),
                ts(&mut self.end_ts),
                strs(&mut self.category),
            ],
        )?)
    }
}

impl Buffer for Users {
    fn len(&self) -> usize {
        self.user_id.len()
    }
    fn drain(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            schema.clone(),
            vec![
                i64s(&mut self.user_id),
                strs(&mut self.gender),
                Arc::new(Int32Array::from(std::mem::take(&mut self.age))),
                strs(&mut self.city),
                Arc::new(Date32Array::from(std::mem::take(&mut self.register_dt))),
            ],
        )?)
    }
}

impl Buffer for Anchors {
    fn len(&self) -> usize {
        self.anchor_id.len()
    }
    fn drain(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            schema.clone(),
            vec![
                i64s(&mut self.anchor_id),
                strs(&mut self.gender),
                Arc::new(Int32Array::from(std::mem::take(&mut self.age))),
                strs(&mut self.city),
                strs(&mut self.category),
            ],
        )?)
    }
}
