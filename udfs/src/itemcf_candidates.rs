//! `itemcf_candidates(neighbours, item_id, k, exclude_liked)`: one user's item-CF candidates,
//! as `LIST<STRUCT<anchor_id BIGINT, score DOUBLE, rank BIGINT UNSIGNED>>`, best first.
//!
//! Each input row is one like of the group's user: `item_id` the liked item and `neighbours`
//! its similarity list, `LIST<STRUCT<id BIGINT, score DOUBLE>>` (NULL when it has none). The
//! definition is sql/itemcf/reference/itemcf_channel.sql's (a test runs both):
//! score(u, b) = Σ over u's likes a of sim(a, b), summed in integers of 1e-12 (the same in any
//! row order); b among u's likes left out when `exclude_liked`; the k best by score
//! descending, ties by id ascending, ranked 1..k.
//!
//! Why a UDAF: in SQL this is a join producing Σ over likes of the neighbour-list length
//! rows, a GROUP BY (user, candidate) over them, an anti-join against the likes and a window
//! ranking every candidate; here each user's candidates are summed in a small hash map and
//! only the top k leave the aggregation (on medium the SQL took about half the item-CF job).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StructArray, UInt64Array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use crate::args::{bool_literal, float64s, int_literal, int64s};
use crate::held_groups::{HeldGroups, Run, rows_of};
use crate::id_map::IdMap;
use crate::lists::{list_array, list_of, list_parts};
use crate::one_group::OneGroup;
use crate::top_k::keep_top_k;

/// Fixed point of the summed scores (as the reference SQL's ROUND(score * 1e12)).
const UNIT: f64 = 1e12;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ItemcfCandidates {
    signature: Signature,
}

impl ItemcfCandidates {
    pub fn new() -> Self {
        Self {
            signature: Signature::new(TypeSignature::UserDefined, Volatility::Immutable),
        }
    }
}

impl Default for ItemcfCandidates {
    fn default() -> Self {
        Self::new()
    }
}

fn output_fields() -> Fields {
    Fields::from(vec![
        Field::new("anchor_id", DataType::Int64, false),
        Field::new("score", DataType::Float64, false),
        Field::new("rank", DataType::UInt64, false),
    ])
}

impl AggregateUDFImpl for ItemcfCandidates {
    fn name(&self) -> &str {
        "itemcf_candidates"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 4 {
            return plan_err!(
                "itemcf_candidates(neighbours, item_id, k, exclude_liked) takes 4 arguments"
            );
        }
        let neighbours_ok = match &arg_types[0] {
            DataType::List(f) | DataType::LargeList(f) => {
                matches!(f.data_type(), DataType::Struct(fields) if fields.len() == 2)
            }
            DataType::Null => true,
            _ => false,
        };
        if !neighbours_ok {
            return plan_err!(
                "itemcf_candidates: neighbours must be a list of struct(id, score), found {}",
                arg_types[0]
            );
        }
        // A `$parameter` is still untyped (Null) when the call is planned.
        for (i, what) in [(1, "item_id"), (2, "k")] {
            if !arg_types[i].is_integer() && !arg_types[i].is_null() {
                return plan_err!(
                    "itemcf_candidates: {what} must be an integer, found {}",
                    arg_types[i]
                );
            }
        }
        if !matches!(arg_types[3], DataType::Boolean | DataType::Null) {
            return plan_err!(
                "itemcf_candidates: exclude_liked must be a boolean, found {}",
                arg_types[3]
            );
        }
        Ok(vec![
            arg_types[0].clone(),
            DataType::Int64,
            DataType::Int64,
            DataType::Boolean,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_of(DataType::Struct(output_fields())))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let field = |what: &str| {
            Arc::new(Field::new(
                format!("{}[{what}]", args.name),
                list_of(DataType::Int64),
                true,
            ))
        };
        Ok(vec![field("liked"), field("candidates"), field("sums")])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(CandidateGroups::new(Settings::of(
            &args,
        )?))))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(CandidateGroups::new(Settings::of(&args)?)))
    }
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    k: usize,
    exclude_liked: bool,
}

impl Settings {
    fn of(args: &AccumulatorArgs) -> Result<Self> {
        let k = match int_literal(args, 2) {
            Some(v) if (1..=100_000).contains(&v) => v as usize,
            _ => {
                return exec_err!(
                    "itemcf_candidates: k must be an integer literal between 1 and 100000"
                );
            }
        };
        let Some(exclude_liked) = bool_literal(args, 3) else {
            return exec_err!("itemcf_candidates: exclude_liked must be a boolean literal");
        };
        Ok(Self { k, exclude_liked })
    }
}

/// A batch of input rows (one like each) or of partial states (one user each), typed once.
/// Row r: liked items `liked[liked_start[r]..liked_start[r + 1]]`, candidates
/// `ids / sums[entry_start[r]..entry_start[r + 1]]` (sums already in fixed point).
struct Held {
    liked_start: Vec<usize>,
    liked: Int64Array,
    entry_start: Vec<usize>,
    /// A NULL list has no candidates, whatever range its offsets give.
    entry_nulls: Option<NullBuffer>,
    ids: Int64Array,
    sums: Vec<i64>,
}

struct CandidateGroups {
    settings: Settings,
    held: HeldGroups<Held>,
    sums: IdMap<i64>,
    liked: Vec<i64>,
}

impl CandidateGroups {
    fn new(settings: Settings) -> Self {
        Self {
            settings,
            held: HeldGroups::default(),
            sums: IdMap::default(),
            liked: Vec::new(),
        }
    }

    /// Sums one user's candidates into `self.sums` and collects their likes.
    fn accumulate(&mut self, sources: &[Run]) {
        self.sums.clear();
        self.liked.clear();
        for (h, row) in rows_of(sources) {
            let held = &self.held.batches[h];
            let liked = &held.liked.values()[held.liked_start[row]..held.liked_start[row + 1]];
            self.liked.extend_from_slice(liked);
            if held.entry_nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                continue;
            }
            for e in held.entry_start[row]..held.entry_start[row + 1] {
                *self.sums.entry(held.ids.value(e)).or_insert(0) += held.sums[e];
            }
        }
    }

    fn top_lists(&mut self, emit_to: EmitTo) -> ArrayRef {
        let Settings { k, exclude_liked } = self.settings;
        let groups = self.held.take(emit_to);
        let (mut ids, mut scores, mut ranks) = (Vec::new(), Vec::new(), Vec::new());
        let mut lengths = Vec::with_capacity(groups.len());
        let mut best: Vec<(f64, i64)> = Vec::new();
        for sources in &groups {
            self.accumulate(sources);
            if exclude_liked {
                for a in &self.liked {
                    self.sums.remove(a);
                }
            }
            best.clear();
            best.extend(self.sums.iter().map(|(id, sum)| (*sum as f64 / UNIT, *id)));
            keep_top_k(&mut best, k, |b| *b);
            for (rank, (score, id)) in best.iter().enumerate() {
                ids.push(*id);
                scores.push(*score);
                ranks.push(rank as u64 + 1);
            }
            lengths.push(best.len());
        }
        self.held.release_if_done();
        let values = StructArray::new(
            output_fields(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(Float64Array::from(scores)),
                Arc::new(UInt64Array::from(ranks)),
            ],
            None,
        );
        list_array(DataType::Struct(output_fields()), lengths, Arc::new(values))
    }

    /// Partial states: each user's likes and summed (not yet ranked) candidates.
    fn partial_states(&mut self, emit_to: EmitTo) -> Vec<ArrayRef> {
        let groups = self.held.take(emit_to);
        let (mut liked, mut liked_lengths) = (Vec::new(), Vec::new());
        let (mut ids, mut sums, mut lengths) = (Vec::new(), Vec::new(), Vec::new());
        for sources in &groups {
            self.accumulate(sources);
            liked.extend_from_slice(&self.liked);
            liked_lengths.push(self.liked.len());
            lengths.push(self.sums.len());
            for (id, sum) in &self.sums {
                ids.push(*id);
                sums.push(*sum);
            }
        }
        self.held.release_if_done();
        vec![
            list_array(
                DataType::Int64,
                liked_lengths,
                Arc::new(Int64Array::from(liked)),
            ),
            list_array(
                DataType::Int64,
                lengths.clone(),
                Arc::new(Int64Array::from(ids)),
            ),
            list_array(DataType::Int64, lengths, Arc::new(Int64Array::from(sums))),
        ]
    }
}

impl GroupsAccumulator for CandidateGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.held.resize(total_num_groups);
        let rows = values[1].len();
        let liked = int64s(&values[1])?;
        // A like without a similarity list still counts as liked (NULL list: no entries).
        let (entry_start, entry_nulls, ids, sums) = if values[0].data_type().is_null() {
            (
                vec![0; rows + 1],
                None,
                Int64Array::from(Vec::<i64>::new()),
                Vec::new(),
            )
        } else {
            let (offsets, nulls, entries) = list_parts(&values[0])?;
            let Some(entries) = entries.as_struct_opt() else {
                return exec_err!("itemcf_candidates: neighbours must be struct(id, score)");
            };
            let scores = float64s(entries.column(1))?;
            let sums = scores
                .values()
                .iter()
                .map(|s| (s * UNIT).round() as i64)
                .collect();
            (offsets, nulls, int64s(entries.column(0))?, sums)
        };
        let held = Held {
            liked_start: (0..=rows).collect(),
            liked: liked.clone(),
            entry_start,
            entry_nulls,
            ids,
            sums,
        };
        self.held.hold(held, values, group_indices, |_, row, _| {
            opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row)) && liked.is_valid(row)
        });
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.held.resize(total_num_groups);
        let (liked_start, _, liked) = list_parts(&values[0])?;
        let (entry_start, _, ids) = list_parts(&values[1])?;
        let (sum_start, _, sums) = list_parts(&values[2])?;
        if sum_start != entry_start {
            return exec_err!("itemcf_candidates: candidate and sum lists differ in length");
        }
        let held = Held {
            liked_start,
            liked: int64s(&liked)?,
            entry_start,
            entry_nulls: None,
            ids: int64s(&ids)?,
            sums: int64s(&sums)?.values().to_vec(),
        };
        self.held.hold(held, values, group_indices, |_, _, _| true);
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut rows = CandidateGroups::new(self.settings);
        let groups: Vec<usize> = (0..values[1].len()).collect();
        rows.update_batch(values, &groups, opt_filter, groups.len())?;
        Ok(rows.partial_states(EmitTo::All))
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.top_lists(emit_to))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(self.partial_states(emit_to))
    }

    fn size(&self) -> usize {
        self.held.size() + self.sums.capacity() * 16 + self.liked.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow::array::{Array, AsArray, RecordBatch};
    use arrow::datatypes::{Float64Type, Int64Type, UInt64Type};
    use datafusion::common::ScalarValue;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// The job's view and the plain-SQL definition, as the jobs run them.
    const CHANNEL_SQL: &str = include_str!("../../sql/itemcf/itemcf_channel.sql");
    const REFERENCE_SQL: &str = include_str!("../../sql/itemcf/reference/itemcf_channel.sql");

    type Row = (i64, i64, u64, u64);

    fn rows(batches: &[RecordBatch]) -> Vec<Row> {
        let mut out = Vec::new();
        for b in batches {
            let col = |name: &str| b.column(b.schema().index_of(name).unwrap()).clone();
            let (u, a, s, r) = (col("user_id"), col("anchor_id"), col("score"), col("rank"));
            for i in 0..b.num_rows() {
                out.push((
                    u.as_primitive::<Int64Type>().value(i),
                    a.as_primitive::<Int64Type>().value(i),
                    s.as_primitive::<Float64Type>().value(i).to_bits(),
                    r.as_primitive::<UInt64Type>().value(i),
                ));
            }
        }
        out.sort_unstable();
        out
    }

    #[tokio::test]
    async fn equals_the_reference_sql() -> datafusion::common::Result<()> {
        let mut ctx =
            SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
        crate::register_all(&mut ctx)?;
        // 300 users liking a few of 80 items; a similarity table with many equal scores
        // (ties) and some items without neighbours.
        ctx.sql(
            "CREATE VIEW likes AS
             SELECT DISTINCT value % 300 AS user_id, (value * 7919) % ((value % 5) * 15 + 5) AS anchor_id
             FROM generate_series(1, 1500)",
        )
        .await?;
        ctx.sql(
            "CREATE VIEW sim AS
             SELECT a.anchor_id, b.anchor_id AS neighbor_id,
                    CAST((a.anchor_id * 31 + b.anchor_id * 17) % 7 AS DOUBLE) / 7.0 + 0.1 AS score
             FROM (SELECT DISTINCT anchor_id FROM likes WHERE anchor_id % 9 <> 4) a
             CROSS JOIN (SELECT DISTINCT anchor_id FROM likes) b
             WHERE a.anchor_id <> b.anchor_id AND (a.anchor_id + b.anchor_id) % 3 <> 0",
        )
        .await?;
        for (k, exclude) in [(100, true), (5, true), (7, false)] {
            let params: HashMap<String, ScalarValue> = [
                ("candidates_per_user", ScalarValue::Int64(Some(k))),
                ("exclude_liked", ScalarValue::Boolean(Some(exclude))),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let run = |sql: &'static str| {
                let (ctx, params) = (ctx.clone(), params.clone());
                async move {
                    let df = ctx.sql(sql).await.unwrap();
                    rows(
                        &df.with_param_values(params)
                            .unwrap()
                            .collect()
                            .await
                            .unwrap(),
                    )
                }
            };
            let (ours, reference) = (run(CHANNEL_SQL).await, run(REFERENCE_SQL).await);
            assert!(ours.len() > 500, "k = {k}: only {} rows", ours.len());
            assert_eq!(ours, reference, "k = {k}, exclude_liked = {exclude}");
        }
        // Without GROUP BY (one user's rows, and no rows at all) the same function serves.
        let one_user = |user: i64| {
            format!(
                "SELECT itemcf_candidates(n.neighbours, l.anchor_id, 5, true) AS top
                 FROM likes l
                 LEFT JOIN (SELECT anchor_id, array_agg(named_struct('id', neighbor_id, 'score', score)) AS neighbours
                            FROM sim GROUP BY anchor_id) n ON n.anchor_id = l.anchor_id
                 WHERE l.user_id = {user}"
            )
        };
        let grouped_sql = format!(
            "{} GROUP BY l.user_id",
            one_user(7).replace("AS top", "AS top, l.user_id")
        );
        let grouped = ctx.sql(&grouped_sql).await?.collect().await?;
        let single = ctx.sql(&one_user(7)).await?.collect().await?;
        assert_eq!(grouped[0].column(0).as_ref(), single[0].column(0).as_ref());
        assert!(!single[0].column(0).is_null(0));
        let nobody = ctx.sql(&one_user(-1)).await?.collect().await?;
        let none = nobody[0].column(0);
        assert!(none.is_null(0) || none.as_list::<i32>().value(0).is_empty());
        Ok(())
    }
}
