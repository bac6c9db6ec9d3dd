//! `item_neighbours(basket, bucket, buckets, users, similarity, min_cooccurrence, k)`: the
//! top-k neighbours of every item of one bucket by co-occurrence similarity, as
//! `LIST<STRUCT<anchor_id, neighbor_id BIGINT, score DOUBLE, cooccurrence BIGINT, rank BIGINT UNSIGNED>>`.
//!
//! Each input row is one user's basket, `LIST<STRUCT<id BIGINT, x DOUBLE, norm2 DOUBLE>>`:
//! everything the user likes, with each like's weight x and each item's Σ x². Items are split
//! into `buckets` buckets by `id mod buckets` (Euclidean); the rows of group `bucket` are the
//! baskets holding at least one of its items, and the function computes the neighbours of
//! exactly those items. The definition is sql/itemcf/reference/sim.sql's (a test runs both):
//! - co(a, b) = users liking both; dot(a, b) = Σ_u x_ua x_ub summed in integers of 1e-9 (so
//!   the result does not depend on row order);
//! - pairs with co < min_cooccurrence are dropped; score = cosine sqrt(dot² / (norm2_a norm2_b)),
//!   jaccard dot / (norm2_a + norm2_b − dot) or lift dot · users / (norm2_a norm2_b);
//! - the k best by score descending, ties by neighbour id ascending, ranked 1..k.
//!
//! Why a UDAF: as a SQL self-join the pair generation materializes Σ_u likes_u² rows and then
//! hashes each into a GROUP BY, six to eight times a sparse matrix product's time. Here a
//! bucket's baskets are gathered, indexed by item (the transpose of the user × item matrix),
//! and each item's co-occurrences accumulated in one dense scratch row, as a CSR product does.
//! Partial states just carry the baskets on, so buckets are the unit of parallel work.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, StructArray,
    UInt64Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Int32Type};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};

use crate::args::{float64s, int_literal, int64s, string_literal};
use crate::held_groups::HeldGroups;
use crate::id_map::IdMap;
use crate::lists::{list_array, list_of, list_parts};
use crate::one_group::OneGroup;
use crate::top_k::keep_top_k;

/// Fixed point of the weighted sums (as sql/itemcf/reference/sim.sql's ROUND(… * 1e9)).
const UNIT: f64 = 1e9;

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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    Cosine,
    Jaccard,
    Lift,
}

impl Measure {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "cosine" => Ok(Self::Cosine),
            "jaccard" => Ok(Self::Jaccard),
            "lift" => Ok(Self::Lift),
            other => exec_err!(
                "item_neighbours: similarity must be 'cosine', 'jaccard' or 'lift', found '{other}'"
            ),
        }
    }

    /// The same floating-point operations, in the same order, as the reference SQL. Each
    /// measure is one correctly rounded division of exact products (counts are exact in f64),
    /// so pairs with equal similarity get bit-equal scores and the tie rule (neighbour id)
    /// decides between them: co / sqrt(n_a n_b) would round twice and order equal cosines
    /// such as 2 / sqrt(4 n) and 1 / sqrt(n) by rounding noise.
    fn score(self, dot: f64, norm2_a: f64, norm2_b: f64, users: i64) -> f64 {
        match self {
            Self::Cosine => (dot * dot / (norm2_a * norm2_b)).sqrt(),
            Self::Jaccard => dot / (norm2_a + norm2_b - dot),
            Self::Lift => dot * users as f64 / (norm2_a * norm2_b),
        }
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

fn entry_fields() -> Fields {
    Fields::from(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("norm2", DataType::Float64, false),
    ])
}

impl AggregateUDFImpl for ItemNeighbours {
    fn name(&self) -> &str {
        "item_neighbours"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 7 {
            return plan_err!(
                "item_neighbours(basket, bucket, buckets, users, similarity, min_cooccurrence, k) takes 7 arguments"
            );
        }
        let basket_ok = match &arg_types[0] {
            DataType::List(f) | DataType::LargeList(f) => {
                matches!(f.data_type(), DataType::Struct(fields) if fields.len() == 3)
            }
            _ => false,
        };
        if !basket_ok {
            return plan_err!(
                "item_neighbours: basket must be a list of struct(id, x, norm2), found {}",
                arg_types[0]
            );
        }
        let ints = [
            (1, "bucket"),
            (2, "buckets"),
            (3, "users"),
            (5, "min_cooccurrence"),
            (6, "k"),
        ];
        for (i, what) in ints {
            // A `$parameter` is still untyped (Null) when the call is planned.
            if !arg_types[i].is_integer() && !arg_types[i].is_null() {
                return plan_err!(
                    "item_neighbours: {what} must be an integer, found {}",
                    arg_types[i]
                );
            }
        }
        let similarity = match &arg_types[4] {
            DataType::Null => DataType::Utf8,
            t @ (DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) => t.clone(),
            other => {
                return plan_err!("item_neighbours: similarity must be a string, found {other}");
            }
        };
        let int = DataType::Int64;
        Ok(vec![
            arg_types[0].clone(),
            int.clone(),
            int.clone(),
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
            field("lengths", list_of(DataType::Int32)),
            field("entries", list_of(DataType::Struct(entry_fields()))),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(NeighboursGroups::new(Settings::of(
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
        Ok(Box::new(NeighboursGroups::new(Settings::of(&args)?)))
    }
}

/// The literal arguments.
#[derive(Debug, Clone, Copy)]
struct Settings {
    buckets: i64,
    measure: Measure,
    min_cooccurrence: i64,
    k: usize,
}

impl Settings {
    fn of(args: &AccumulatorArgs) -> Result<Self> {
        let int = |i: usize| int_literal(args, i);
        let buckets = match int(2) {
            Some(v) if (1..=1_000_000).contains(&v) => v,
            _ => {
                return exec_err!(
                    "item_neighbours: buckets must be an integer literal between 1 and 1000000"
                );
            }
        };
        let measure = match string_literal(args, 4) {
            Some(name) => Measure::parse(&name)?,
            None => return exec_err!("item_neighbours: similarity must be a string literal"),
        };
        let min_cooccurrence = match int(5) {
            Some(v) if v >= 1 => v,
            _ => {
                return exec_err!(
                    "item_neighbours: min_cooccurrence must be an integer literal >= 1"
                );
            }
        };
        let k = match int(6) {
            Some(v) if (1..=100_000).contains(&v) => v as usize,
            _ => {
                return exec_err!(
                    "item_neighbours: k must be an integer literal between 1 and 100000"
                );
            }
        };
        Ok(Self {
            buckets,
            measure,
            min_cooccurrence,
            k,
        })
    }
}

/// One batch of input rows (one basket each) or of partial states (many baskets each),
/// typed once: row r holds baskets `row_start[r]..row_start[r + 1]`, basket b the entries
/// `entry_start[b]..entry_start[b + 1]` of `ids` / `xs` / `norms`.
struct Held {
    buckets: Int64Array,
    users: Int64Array,
    row_start: Vec<usize>,
    entry_start: Vec<usize>,
    ids: Int64Array,
    xs: Float64Array,
    norms: Float64Array,
}

impl Held {
    fn row_valid(&self, row: usize) -> bool {
        self.buckets.is_valid(row) && self.users.is_valid(row)
    }
}

/// What is known of a group besides its rows.
#[derive(Clone, Copy, Default)]
struct GroupHead {
    bucket: Option<i64>,
    users: i64,
}

/// One group's baskets copied together (the scattered input rows are read once, in order).
#[derive(Default)]
struct Gathered {
    start: Vec<usize>,
    ids: Vec<i64>,
    xs: Vec<f64>,
    norms: Vec<f64>,
}

impl Gathered {
    fn clear(&mut self) {
        self.start.clear();
        self.start.push(0);
        self.ids.clear();
        self.xs.clear();
        self.norms.clear();
    }
}

/// The product's working memory, reused from group to group.
#[derive(Default)]
struct Scratch {
    slot_of: IdMap<u32>,
    slot_id: Vec<i64>,
    slot_norm: Vec<f64>,
    entry_slot: Vec<u32>,
    /// (item slot, basket, x of the item in it) for the bucket's own items, sorted by slot.
    own: Vec<(u32, u32, f64)>,
    cooccurrence: Vec<i64>,
    dot: Vec<i64>,
    touched: Vec<u32>,
    candidates: Vec<(f64, i64, i64)>,
}

struct NeighboursGroups {
    settings: Settings,
    held: HeldGroups<Held>,
    heads: Vec<GroupHead>,
    gathered: Gathered,
    scratch: Scratch,
}

/// The id / x / norm2 columns of basket entries.
fn entry_columns(values: &ArrayRef) -> Result<(Int64Array, Float64Array, Float64Array)> {
    let Some(entries) = values.as_struct_opt() else {
        return exec_err!("item_neighbours: basket entries must be struct(id, x, norm2)");
    };
    if entries.num_columns() != 3 {
        return exec_err!("item_neighbours: basket entries must be struct(id, x, norm2)");
    }
    Ok((
        int64s(entries.column(0))?,
        float64s(entries.column(1))?,
        float64s(entries.column(2))?,
    ))
}

impl NeighboursGroups {
    fn new(settings: Settings) -> Self {
        Self {
            settings,
            held: HeldGroups::default(),
            heads: Vec::new(),
            gathered: Gathered::default(),
            scratch: Scratch::default(),
        }
    }

    fn resize(&mut self, total_num_groups: usize) {
        self.heads.resize_with(total_num_groups, GroupHead::default);
        self.held.resize(total_num_groups);
    }

    /// Keeps a batch; a kept row also tells its group's bucket and user count.
    fn hold(
        &mut self,
        held: Held,
        arrays: &[ArrayRef],
        valid: impl Fn(usize) -> bool,
        group_indices: &[usize],
    ) {
        let heads = &mut self.heads;
        self.held.hold(held, arrays, group_indices, |held, row, g| {
            let keep = valid(row) && held.row_valid(row);
            if keep {
                heads[g] = GroupHead {
                    bucket: Some(held.buckets.value(row)),
                    users: held.users.value(row),
                };
            }
            keep
        });
    }

    /// Copies one group's baskets into `self.gathered`.
    fn gather(&mut self, sources: &[(u32, u32)]) {
        let out = &mut self.gathered;
        out.clear();
        for &(h, row) in sources {
            let held = &self.held.batches[h as usize];
            let row = row as usize;
            for basket in held.row_start[row]..held.row_start[row + 1] {
                let (lo, hi) = (held.entry_start[basket], held.entry_start[basket + 1]);
                out.ids.extend_from_slice(&held.ids.values()[lo..hi]);
                out.xs.extend_from_slice(&held.xs.values()[lo..hi]);
                out.norms.extend_from_slice(&held.norms.values()[lo..hi]);
                out.start.push(out.ids.len());
            }
        }
    }

    /// The neighbour lists of the gathered bucket's own items, appended to `out`.
    fn product(&mut self, head: GroupHead, out: &mut Output) {
        let Settings {
            buckets,
            measure,
            min_cooccurrence,
            k,
        } = self.settings;
        let Some(bucket) = head.bucket else { return };
        let (g, s) = (&self.gathered, &mut self.scratch);
        // Dense slots for the items seen, and the transpose: each own item's baskets.
        s.slot_of.clear();
        s.slot_id.clear();
        s.slot_norm.clear();
        s.entry_slot.clear();
        s.own.clear();
        for basket in 0..g.start.len() - 1 {
            for e in g.start[basket]..g.start[basket + 1] {
                let id = g.ids[e];
                let next = s.slot_id.len() as u32;
                let slot = *s.slot_of.entry(id).or_insert(next);
                if slot == next {
                    s.slot_id.push(id);
                    s.slot_norm.push(g.norms[e]);
                }
                s.entry_slot.push(slot);
                if id.rem_euclid(buckets) == bucket {
                    s.own.push((slot, basket as u32, g.xs[e]));
                }
            }
        }
        s.own.sort_unstable_by_key(|o| (o.0, o.1));
        s.cooccurrence.clear();
        s.cooccurrence.resize(s.slot_id.len(), 0);
        s.dot.clear();
        s.dot.resize(s.slot_id.len(), 0);
        // Unweighted likes (the default): every product x_ua x_ub is 1, so dot = co.
        let unweighted = g.xs.iter().all(|&x| x == 1.0);
        let mut i = 0;
        while i < s.own.len() {
            let a = s.own[i].0;
            // One item's row of the product: every basket holding it, into the dense scratch.
            while i < s.own.len() && s.own[i].0 == a {
                let (_, basket, x_a) = s.own[i];
                let entries = g.start[basket as usize]..g.start[basket as usize + 1];
                let slots = &s.entry_slot[entries.clone()];
                for (&b, &x_b) in slots.iter().zip(&g.xs[entries]) {
                    if b != a {
                        let bi = b as usize;
                        if s.cooccurrence[bi] == 0 {
                            s.touched.push(b);
                        }
                        s.cooccurrence[bi] += 1;
                        if !unweighted {
                            s.dot[bi] += (x_a * x_b * UNIT).round() as i64;
                        }
                    }
                }
                i += 1;
            }
            let norm2_a = s.slot_norm[a as usize];
            s.candidates.clear();
            for b in s.touched.drain(..) {
                let bi = b as usize;
                let co = s.cooccurrence[bi];
                let dot = if unweighted {
                    co * UNIT as i64
                } else {
                    s.dot[bi]
                };
                s.cooccurrence[bi] = 0;
                s.dot[bi] = 0;
                if co >= min_cooccurrence {
                    let score =
                        measure.score(dot as f64 / UNIT, norm2_a, s.slot_norm[bi], head.users);
                    s.candidates.push((score, s.slot_id[bi], co));
                }
            }
            keep_top_k(&mut s.candidates, k, |c| (c.0, c.1));
            let anchor = s.slot_id[a as usize];
            for (rank, &(score, neighbor, co)) in s.candidates.iter().enumerate() {
                out.anchor.push(anchor);
                out.neighbor.push(neighbor);
                out.score.push(score);
                out.cooccurrence.push(co);
                out.rank.push(rank as u64 + 1);
            }
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> (Vec<GroupHead>, Vec<Vec<(u32, u32)>>) {
        (
            emit_to.take_needed(&mut self.heads),
            self.held.take(emit_to),
        )
    }

    fn neighbour_lists(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (heads, sources) = self.take(emit_to);
        let mut out = Output::default();
        let mut lengths = Vec::with_capacity(heads.len());
        for (head, sources) in heads.into_iter().zip(&sources) {
            let before = out.anchor.len();
            self.gather(sources);
            self.product(head, &mut out);
            lengths.push(out.anchor.len() - before);
        }
        self.held.release_if_done();
        let values = StructArray::new(
            output_fields(),
            vec![
                Arc::new(Int64Array::from(out.anchor)),
                Arc::new(Int64Array::from(out.neighbor)),
                Arc::new(Float64Array::from(out.score)),
                Arc::new(Int64Array::from(out.cooccurrence)),
                Arc::new(UInt64Array::from(out.rank)),
            ],
            None,
        );
        Ok(list_array(
            DataType::Struct(output_fields()),
            lengths,
            Arc::new(values),
        ))
    }

    /// Partial states carry the baskets on: (bucket, users, basket lengths, entries).
    fn partial_states(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (heads, sources) = self.take(emit_to);
        let (mut buckets, mut users) = (Vec::new(), Vec::new());
        let (mut lengths, mut basket_counts, mut entry_counts) =
            (Vec::new(), Vec::new(), Vec::new());
        let (mut ids, mut xs, mut norms) = (Vec::new(), Vec::new(), Vec::new());
        for (head, sources) in heads.into_iter().zip(&sources) {
            self.gather(sources);
            let g = &self.gathered;
            buckets.push(head.bucket);
            users.push(head.bucket.map(|_| head.users));
            lengths.extend(g.start.windows(2).map(|w| (w[1] - w[0]) as i32));
            basket_counts.push(g.start.len() - 1);
            entry_counts.push(g.ids.len());
            ids.extend_from_slice(&g.ids);
            xs.extend_from_slice(&g.xs);
            norms.extend_from_slice(&g.norms);
        }
        self.held.release_if_done();
        let entries = StructArray::new(
            entry_fields(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(Float64Array::from(xs)),
                Arc::new(Float64Array::from(norms)),
            ],
            None,
        );
        Ok(vec![
            Arc::new(Int64Array::from(buckets)),
            Arc::new(Int64Array::from(users)),
            list_array(
                DataType::Int32,
                basket_counts,
                Arc::new(Int32Array::from(lengths)),
            ),
            list_array(
                DataType::Struct(entry_fields()),
                entry_counts,
                Arc::new(entries),
            ),
        ])
    }
}

/// The columns of the neighbour lists being built.
#[derive(Default)]
struct Output {
    anchor: Vec<i64>,
    neighbor: Vec<i64>,
    score: Vec<f64>,
    cooccurrence: Vec<i64>,
    rank: Vec<u64>,
}

impl GroupsAccumulator for NeighboursGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let (entry_start, nulls, entries) = list_parts(&values[0])?;
        let (ids, xs, norms) = entry_columns(&entries)?;
        let held = Held {
            buckets: int64s(&values[1])?,
            users: int64s(&values[3])?,
            row_start: (0..=values[0].len()).collect(),
            entry_start,
            ids,
            xs,
            norms,
        };
        let valid = |row: usize| {
            opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
                && nulls.as_ref().is_none_or(|n| n.is_valid(row))
        };
        self.hold(held, values, valid, group_indices);
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let (basket_offsets, _, lengths) = list_parts(&values[2])?;
        let lengths = cast(&lengths, &DataType::Int32)?;
        let lengths = lengths.as_primitive::<Int32Type>();
        let (entry_offsets, _, entries) = list_parts(&values[3])?;
        let (ids, xs, norms) = entry_columns(&entries)?;
        // Row r's baskets are basket_offsets[r]..; their entries start where the row's do.
        let mut entry_start = Vec::with_capacity(lengths.len() + 1);
        let rows = basket_offsets.len() - 1;
        for r in 0..rows {
            let mut at = entry_offsets[r];
            for b in basket_offsets[r]..basket_offsets[r + 1] {
                entry_start.push(at);
                at += lengths.value(b) as usize;
            }
        }
        entry_start.push(entry_offsets[rows]);
        // Relative to this batch (a sliced list's offsets need not start at 0).
        let first = basket_offsets[0];
        let held = Held {
            buckets: int64s(&values[0])?,
            users: int64s(&values[1])?,
            row_start: basket_offsets.iter().map(|o| o - first).collect(),
            entry_start,
            ids,
            xs,
            norms,
        };
        self.hold(held, values, |_| true, group_indices);
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row its own group (if the engine skips a partial aggregation that does not reduce).
        let mut rows = NeighboursGroups::new(self.settings);
        let groups: Vec<usize> = (0..values[0].len()).collect();
        rows.update_batch(values, &groups, opt_filter, groups.len())?;
        rows.partial_states(EmitTo::All)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.neighbour_lists(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.partial_states(emit_to)
    }

    fn size(&self) -> usize {
        let s = &self.scratch;
        let scratch = s.slot_id.capacity() * 40 + s.slot_of.capacity() * 16 + s.own.capacity() * 16;
        self.held.size()
            + scratch
            + self.gathered.ids.capacity() * 24
            + self.heads.capacity() * std::mem::size_of::<GroupHead>()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow::array::{AsArray, RecordBatch};
    use arrow::datatypes::{Float64Type, Int64Type, UInt64Type};
    use datafusion::common::ScalarValue;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// The job's query and the plain-SQL definition, as the jobs run them.
    const NEIGHBOURS_SQL: &str = include_str!("../../sql/itemcf/neighbours.sql");
    const REFERENCE_SQL: &str = include_str!("../../sql/itemcf/reference/sim.sql");

    type Row = (i64, i64, u64, i64, u64);

    fn rows(batches: &[RecordBatch]) -> Vec<Row> {
        let mut out = Vec::new();
        for b in batches {
            let col = |name: &str| b.column(b.schema().index_of(name).unwrap()).clone();
            let (a, n, s, c, r) = (
                col("anchor_id"),
                col("neighbor_id"),
                col("score"),
                col("cooccurrence"),
                col("rank"),
            );
            for i in 0..b.num_rows() {
                out.push((
                    a.as_primitive::<Int64Type>().value(i),
                    n.as_primitive::<Int64Type>().value(i),
                    // Bit for bit: the UDAF must do the reference's floating-point operations.
                    s.as_primitive::<Float64Type>().value(i).to_bits(),
                    c.as_primitive::<Int64Type>().value(i),
                    r.as_primitive::<UInt64Type>().value(i),
                ));
            }
        }
        out.sort_unstable();
        out
    }

    async fn run(
        ctx: &SessionContext,
        sql: &str,
        params: &HashMap<String, ScalarValue>,
    ) -> Vec<Row> {
        let df = ctx.sql(sql).await.unwrap();
        rows(
            &df.with_param_values(params.clone())
                .unwrap()
                .collect()
                .await
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn equals_the_reference_sql() -> datafusion::common::Result<()> {
        // Four partitions: partial states are merged across them.
        let mut ctx =
            SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
        crate::register_all(&mut ctx)?;
        // 400 users, 150 anchors (some ids negative: buckets are Euclidean), skewed baskets,
        // and weights that are not 1 for the weighted variant.
        ctx.sql(
            "CREATE VIEW raw AS
             SELECT value % 400 AS user_id,
                    ((value * 7919) % ((value % 7) * 20 + 10)) - 30 AS anchor_id,
                    1.0 / (1.0 + CAST((value * 104729) % 5 AS DOUBLE)) AS w
             FROM generate_series(1, 6000)",
        )
        .await?;
        for weighted in [false, true] {
            let x = if weighted { "sqrt(MAX(w))" } else { "1.0" };
            ctx.sql("DROP VIEW IF EXISTS likes").await?;
            ctx.sql(&format!(
                "CREATE VIEW likes AS SELECT user_id, anchor_id, {x} AS x FROM raw GROUP BY user_id, anchor_id"
            ))
            .await?;
            for (similarity, buckets, min_co, k) in [
                ("cosine", 1, 1, 50),
                ("cosine", 3, 2, 5),
                ("jaccard", 7, 1, 10),
                ("lift", 2, 3, 20),
            ] {
                let params: HashMap<String, ScalarValue> = [
                    ("similarity", ScalarValue::from(similarity)),
                    ("similarity_buckets", ScalarValue::Int64(Some(buckets))),
                    ("min_cooccurrence", ScalarValue::Int64(Some(min_co))),
                    ("neighbors", ScalarValue::Int64(Some(k))),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                let ours = run(&ctx, NEIGHBOURS_SQL, &params).await;
                let reference = run(&ctx, REFERENCE_SQL, &params).await;
                let what = format!(
                    "{similarity}, {buckets} buckets, co >= {min_co}, k = {k}, weighted {weighted}"
                );
                assert!(ours.len() > 200, "{what}: only {} rows", ours.len());
                assert!(ours.iter().any(|r| r.0 < 0), "{what}: negative ids covered");
                assert_eq!(ours, reference, "{what}");
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn rejects_an_unknown_similarity() -> datafusion::common::Result<()> {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx)?;
        let sql = "SELECT item_neighbours(b, 0, 1, 1, 'pearson', 1, 5) FROM
                   (SELECT [named_struct('id', 1, 'x', 1.0, 'norm2', 1.0)] AS b)";
        let err = ctx.sql(sql).await?.collect().await.unwrap_err().to_string();
        assert!(err.contains("'cosine', 'jaccard' or 'lift'"), "{err}");
        Ok(())
    }
}
