//! `item_neighbours(user, item, x, bucket, buckets, norm2, users, similarity, min_cooccurrence, k)`:
//! the top-k neighbours of every item of one bucket by co-occurrence similarity, as
//! `LIST<STRUCT<anchor_id, neighbor_id BIGINT, score DOUBLE, cooccurrence BIGINT, rank BIGINT UNSIGNED>>`.
//!
//! Each input row is one like: `user` likes `item` with weight `x`. Items are split into
//! `buckets` buckets by `item mod buckets` (Euclidean); group `bucket` must receive every like
//! of every user who likes one of its items, and the function computes the neighbours of
//! exactly those items. `norm2` is the item's Σ x² over all users: the bucket computes it for
//! its own items, and needs it (non-NULL) for the others; `users` is U for lift, NULL = the
//! distinct users of the group's likes. With one bucket both may be NULL: the group holds every
//! like. The definition is sql/itemcf/reference/sim.sql's (a test runs both):
//! - co(a, b) = users liking both; dot(a, b) = Σ_u x_ua x_ub summed in integers of 1e-9 (so
//!   the result does not depend on row order);
//! - pairs with co < min_cooccurrence are dropped; score = cosine sqrt(dot² / (norm2_a norm2_b)),
//!   jaccard dot / (norm2_a + norm2_b − dot) or lift dot · users / (norm2_a norm2_b);
//! - the k best by score descending, ties by neighbour id ascending, ranked 1..k.
//!
//! Rows with a NULL user, item or x are not likes and are skipped.
//!
//! Why a UDAF: as a SQL self-join the pair generation materializes Σ_u likes_u² rows and then
//! hashes each into a GROUP BY, six to eight times a sparse matrix product's time. Here the
//! group's likes are indexed by user and by item, and each item's co-occurrences accumulated
//! in one dense scratch row, as a CSR product does (`product.rs`). Buckets are the unit of
//! parallel work across tasks and executors; within a bucket, threads share the items.

mod groups;
mod product;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use self::groups::NeighboursGroups;
use self::product::{Measure, Params};
use crate::args::{int_literal, string_literal};
use crate::lists::list_of;
use crate::one_group::OneGroup;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ItemNeighbours {
    signature: Signature,
}

impl ItemNeighbours {
    pub fn new() -> Self {
        Self {
            signature: Signature::new(TypeSignature::UserDefined, Volatility::Immutable),
        }
    }
}

impl Default for ItemNeighbours {
    fn default() -> Self {
        Self::new()
    }
}

fn output_fields() -> Fields {
    Fields::from(vec![
        Field::new("anchor_id", DataType::Int64, false),
        Field::new("neighbor_id", DataType::Int64, false),
        Field::new("score", DataType::Float64, false),
        Field::new("cooccurrence", DataType::Int64, false),
        Field::new("rank", DataType::UInt64, false),
    ])
}

/// One like in a partial state.
fn entry_fields() -> Fields {
    Fields::from(vec![
        Field::new("user", DataType::Int64, false),
        Field::new("item", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("norm2", DataType::Float64, true),
    ])
}

const ARGUMENTS: &str = "item_neighbours(user, item, x, bucket, buckets, norm2, users, similarity, min_cooccurrence, k)";

impl AggregateUDFImpl for ItemNeighbours {
    fn name(&self) -> &str {
        "item_neighbours"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 10 {
            return plan_err!("{ARGUMENTS} takes 10 arguments");
        }
        // A `$parameter` or a NULL literal is untyped (Null) when the call is planned.
        let ints = [
            (0, "user"),
            (1, "item"),
            (3, "bucket"),
            (4, "buckets"),
            (6, "users"),
            (8, "min_cooccurrence"),
            (9, "k"),
        ];
        for (i, what) in ints {
            if !arg_types[i].is_integer() && !arg_types[i].is_null() {
                return plan_err!(
                    "item_neighbours: {what} must be an integer, found {}",
                    arg_types[i]
                );
            }
        }
        for (i, what) in [(2, "x"), (5, "norm2")] {
            if !arg_types[i].is_numeric() && !arg_types[i].is_null() {
                return plan_err!(
                    "item_neighbours: {what} must be a number, found {}",
                    arg_types[i]
                );
            }
        }
        let similarity = match &arg_types[7] {
            DataType::Null => DataType::Utf8,
            t @ (DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) => t.clone(),
            other => {
                return plan_err!("item_neighbours: similarity must be a string, found {other}");
            }
        };
        let (int, float) = (DataType::Int64, DataType::Float64);
        Ok(vec![
            int.clone(),
            int.clone(),
            float.clone(),
            int.clone(),
            int.clone(),
            float,
            int.clone(),
            similarity,
            int.clone(),
            int,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_of(DataType::Struct(output_fields())))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let field = |what: &str, t: DataType| {
            Arc::new(Field::new(format!("{}[{what}]", args.name), t, true))
        };
        Ok(vec![
            field("bucket", DataType::Int64),
            field("users", DataType::Int64),
            field("entries", list_of(DataType::Struct(entry_fields()))),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(NeighboursGroups::new(params(&args)?))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(NeighboursGroups::new(params(&args)?)))
    }
}

/// The literal arguments, validated.
fn params(args: &AccumulatorArgs) -> Result<Params> {
    let int = |i: usize| int_literal(args, i);
    let buckets = match int(4) {
        Some(v) if (1..=1_000_000).contains(&v) => v,
        _ => {
            return exec_err!(
                "item_neighbours: buckets must be an integer literal between 1 and 1000000"
            );
        }
    };
    let measure = match string_literal(args, 7) {
        Some(name) => Measure::parse(&name)?,
        None => return exec_err!("item_neighbours: similarity must be a string literal"),
    };
    let min_cooccurrence = match int(8) {
        Some(v) if v >= 1 => v,
        _ => {
            return exec_err!("item_neighbours: min_cooccurrence must be an integer literal >= 1");
        }
    };
    let k = match int(9) {
        Some(v) if (1..=100_000).contains(&v) => v as usize,
        _ => {
            return exec_err!("item_neighbours: k must be an integer literal between 1 and 100000");
        }
    };
    Ok(Params {
        buckets,
        measure,
        min_cooccurrence,
        k,
    })
}

#[cfg(test)]
mod tests;
