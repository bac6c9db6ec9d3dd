//! One bucket's neighbour lists from its likes, as a sparse user × item product does it:
//! the likes are indexed by user (the matrix's rows) and, for the bucket's own items, by item
//! (the transpose); each own item's co-occurrences are accumulated in one dense scratch row
//! from the rows of its users, and its k best neighbours kept. Own items are split into
//! ranges of about equal work, one thread each.

use arrow::array::{Array, Float64Array};
use datafusion::common::{Result, exec_err};

use crate::id_map::IdMap;
use crate::top_k::keep_top_k;

/// Fixed point of the weighted sums (as sql/itemcf/reference/sim.sql's ROUND(… * 1e9)).
pub const UNIT: f64 = 1e9;

/// How many threads a bucket's product may use.
#[derive(Debug, Clone, Copy)]
pub struct Parallelism {
    pub max_threads: usize,
    /// Basket entries to visit per thread at least (below, fewer threads).
    pub work_per_thread: usize,
}

impl Parallelism {
    /// The machine's cores; a thread only for a million entries or more (a small bucket's
    /// product takes less than starting a thread would save).
    pub fn of_machine() -> Self {
        Self {
            max_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            work_per_thread: 1 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    Cosine,
    Jaccard,
    Lift,
}

impl Measure {
    pub fn parse(name: &str) -> Result<Self> {
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

/// The literal arguments.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub buckets: i64,
    pub measure: Measure,
    pub min_cooccurrence: i64,
    pub k: usize,
}

/// One group's likes: entry e is user `user[e]` liking item slot `slot[e]` with weight
/// `x[e]`; slot s is item `item_id[s]`, with the Σ x² its rows carried (NaN when none did).
#[derive(Default)]
pub struct Likes {
    pub user: Vec<i64>,
    pub slot: Vec<u32>,
    pub x: Vec<f64>,
    pub item_id: Vec<i64>,
    given_norm2: Vec<f64>,
    slot_of: IdMap<u32>,
}

impl Likes {
    pub fn clear(&mut self) {
        self.user.clear();
        self.slot.clear();
        self.x.clear();
        self.item_id.clear();
        self.given_norm2.clear();
        self.slot_of.clear();
    }

    pub fn reserve(&mut self, likes: usize) {
        self.user.reserve(likes);
        self.slot.reserve(likes);
        self.x.reserve(likes);
    }

    /// Appends likes: users, items, weights, and the items' norm2 where given (entry i of
    /// the slices is entry `norm2_from + i` of `norm2`).
    pub fn extend(
        &mut self,
        user: &[i64],
        item: &[i64],
        x: &[f64],
        norm2: &Float64Array,
        norm2_from: usize,
    ) {
        self.user.extend_from_slice(user);
        self.x.extend_from_slice(x);
        self.slot.reserve(item.len());
        for (i, &id) in item.iter().enumerate() {
            let slot = self.slot_of_item(id);
            let e = norm2_from + i;
            if norm2.is_valid(e) {
                self.given_norm2[slot as usize] = norm2.value(e);
            }
            self.slot.push(slot);
        }
    }

    fn slot_of_item(&mut self, item: i64) -> u32 {
        let next = self.item_id.len() as u32;
        let slot = *self.slot_of.entry(item).or_insert(next);
        if slot == next {
            self.item_id.push(item);
            self.given_norm2.push(f64::NAN);
        }
        slot
    }

    #[cfg(test)]
    pub fn push(&mut self, user: i64, item: i64, x: f64, norm2: Option<f64>) {
        self.extend(&[user], &[item], &[x], &Float64Array::from(vec![norm2]), 0);
    }

    pub fn capacity_bytes(&self) -> usize {
        self.user.capacity() * 20 + self.item_id.capacity() * 16 + self.slot_of.capacity() * 16
    }
}

/// The neighbour lists being built, as columns.
#[derive(Default)]
pub struct Lists {
    pub anchor: Vec<i64>,
    pub neighbor: Vec<i64>,
    pub score: Vec<f64>,
    pub cooccurrence: Vec<i64>,
    pub rank: Vec<u64>,
}

impl Lists {
    fn append(&mut self, mut other: Lists) {
        self.anchor.append(&mut other.anchor);
        self.neighbor.append(&mut other.neighbor);
        self.score.append(&mut other.score);
        self.cooccurrence.append(&mut other.cooccurrence);
        self.rank.append(&mut other.rank);
    }
}

/// The likes by user (the matrix's rows, users by id): row r's item slots and weights are
/// `slot[start[r]..start[r + 1]]`, `x[..]` (`x` is empty when every weight is 1).
struct UserRows {
    start: Vec<u32>,
    slot: Vec<u32>,
    x: Vec<f64>,
}

/// Users as 32-bit sort keys: the id minus the smallest when the ids span less than 2^32
/// (the usual case), else each id's rank among the distinct ids.
fn user_keys(users: &[i64]) -> Vec<u32> {
    let (Some(&min), Some(&max)) = (users.iter().min(), users.iter().max()) else {
        return Vec::new();
    };
    if (max as i128 - min as i128) < (1i128 << 32) {
        return users
            .iter()
            .map(|&u| (u as i128 - min as i128) as u32)
            .collect();
    }
    let mut distinct = users.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    users
        .iter()
        .map(|u| distinct.binary_search(u).unwrap_or_default() as u32)
        .collect()
}

/// Sorts `items` by a 32-bit key: LSD radix, 16 bits at a time (both digits counted in one
/// pass), skipping a digit every key shares (a hash map of users instead costs a cache miss
/// per like).
fn radix_sort<T: Copy + Default>(items: &mut Vec<T>, key: impl Fn(&T) -> u32) {
    let mut counts = [vec![0usize; 1 << 16], vec![0usize; 1 << 16]];
    for item in items.iter() {
        let k = key(item);
        counts[0][(k & 0xFFFF) as usize] += 1;
        counts[1][(k >> 16) as usize] += 1;
    }
    let mut spare = vec![T::default(); items.len()];
    for (digit, mut count) in counts.into_iter().enumerate() {
        if count.contains(&items.len()) {
            continue;
        }
        let mut at = 0;
        for c in count.iter_mut() {
            (*c, at) = (at, at + *c);
        }
        let shift = 16 * digit;
        for item in items.iter() {
            let d = ((key(item) >> shift) & 0xFFFF) as usize;
            spare[count[d]] = *item;
            count[d] += 1;
        }
        std::mem::swap(items, &mut spare);
    }
}

/// Where each run of equal keys starts in `keys` (sorted), and the end.
fn run_starts(keys: impl Iterator<Item = u32>, n: usize) -> Vec<u32> {
    let mut start = Vec::new();
    let mut last = None;
    for (i, k) in keys.enumerate() {
        if last != Some(k) {
            start.push(i as u32);
            last = Some(k);
        }
    }
    start.push(n as u32);
    start
}

impl UserRows {
    /// The entries sorted by user carry their item (and weight) along, so nothing is looked
    /// up afterwards.
    fn of(likes: &Likes, weighted: bool) -> Result<Self> {
        let n = likes.user.len();
        if n >= u32::MAX as usize {
            return exec_err!("item_neighbours: {n} likes in one bucket; use more buckets");
        }
        let keys = user_keys(&likes.user);
        if weighted {
            let mut items: Vec<(u32, u32, f64)> = (0..n)
                .map(|e| (keys[e], likes.slot[e], likes.x[e]))
                .collect();
            radix_sort(&mut items, |t| t.0);
            Ok(Self {
                start: run_starts(items.iter().map(|t| t.0), n),
                slot: items.iter().map(|t| t.1).collect(),
                x: items.iter().map(|t| t.2).collect(),
            })
        } else {
            let mut items: Vec<(u32, u32)> =
                keys.into_iter().zip(likes.slot.iter().copied()).collect();
            radix_sort(&mut items, |t| t.0);
            Ok(Self {
                start: run_starts(items.iter().map(|t| t.0), n),
                slot: items.iter().map(|t| t.1).collect(),
                x: Vec::new(),
            })
        }
    }

    fn users(&self) -> usize {
        self.start.len() - 1
    }

    fn row(&self, r: usize) -> std::ops::Range<usize> {
        self.start[r] as usize..self.start[r + 1] as usize
    }
}

/// Each item's Σ x² (in integers of 1e-9, as the reference sums it): computed for the
/// bucket's own items, whose every like is in the bucket's rows; taken from the rows for the
/// others.
fn item_norms(likes: &Likes, own: &[bool], bucket: i64, buckets: i64) -> Result<Vec<f64>> {
    let mut sums = vec![0i64; likes.item_id.len()];
    for (&s, &x) in likes.slot.iter().zip(&likes.x) {
        if own[s as usize] {
            sums[s as usize] += (x * x * UNIT).round() as i64;
        }
    }
    let mut norm2 = Vec::with_capacity(sums.len());
    for (s, sum) in sums.into_iter().enumerate() {
        if own[s] {
            norm2.push(sum as f64 / UNIT);
        } else if likes.given_norm2[s].is_nan() {
            return exec_err!(
                "item_neighbours: norm2 is NULL for item {} outside bucket {bucket} of {buckets} \
                 (only with one bucket may it be NULL)",
                likes.item_id[s]
            );
        } else {
            norm2.push(likes.given_norm2[s]);
        }
    }
    Ok(norm2)
}

/// The transpose for the own items (ids ascending): item j's users' rows (only rows with two
/// likes or more: a single like makes no pair), as their entry ranges in `UserRows` — read
/// in place, so the product does not look each row up — and the item's weight in each:
/// `rows[start[j]..start[j + 1]]`, `x[..]`.
struct OwnColumns {
    slot: Vec<u32>,
    start: Vec<usize>,
    rows: Vec<(u32, u32)>,
    x: Vec<f64>,
    /// Basket entries the product visits for item j.
    work: Vec<usize>,
}

impl OwnColumns {
    fn of(likes: &Likes, rows: &UserRows, own: &[bool]) -> Self {
        let mut slot: Vec<u32> = (0..own.len() as u32).filter(|&s| own[s as usize]).collect();
        slot.sort_unstable_by_key(|&s| likes.item_id[s as usize]);
        let mut column_of = vec![u32::MAX; own.len()];
        for (j, &s) in slot.iter().enumerate() {
            column_of[s as usize] = j as u32;
        }
        let paired = |r: usize| rows.row(r).len() >= 2;
        let mut start = vec![0usize; slot.len() + 1];
        let mut work = vec![0usize; slot.len()];
        for r in (0..rows.users()).filter(|&r| paired(r)) {
            let row = rows.row(r);
            for &s in &rows.slot[row.clone()] {
                if own[s as usize] {
                    let j = column_of[s as usize] as usize;
                    start[j + 1] += 1;
                    work[j] += row.len();
                }
            }
        }
        for j in 0..slot.len() {
            start[j + 1] += start[j];
        }
        let mut at = start.clone();
        let total = start[slot.len()];
        let weighted = !rows.x.is_empty();
        let mut in_rows = vec![(0u32, 0u32); total];
        let mut x = vec![0f64; if weighted { total } else { 0 }];
        for r in (0..rows.users()).filter(|&r| paired(r)) {
            let range = (rows.start[r], rows.start[r + 1]);
            for e in rows.row(r) {
                let s = rows.slot[e] as usize;
                if own[s] {
                    let j = column_of[s] as usize;
                    in_rows[at[j]] = range;
                    if weighted {
                        x[at[j]] = rows.x[e];
                    }
                    at[j] += 1;
                }
            }
        }
        Self {
            slot,
            start,
            rows: in_rows,
            x,
            work,
        }
    }
}

/// Splits 0..work.len() into at most `parts` consecutive ranges of about equal work.
fn balanced_ranges(work: &[usize], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: usize = work.iter().sum();
    let per = total.div_ceil(parts.max(1)).max(1);
    let (mut ranges, mut begin, mut acc) = (Vec::new(), 0, 0);
    for (j, w) in work.iter().enumerate() {
        acc += w;
        if acc >= per && ranges.len() + 1 < parts {
            ranges.push(begin..j + 1);
            begin = j + 1;
            acc = 0;
        }
    }
    ranges.push(begin..work.len());
    ranges.retain(|r| !r.is_empty());
    ranges
}

/// What every thread reads.
struct Product<'a> {
    likes: &'a Likes,
    rows: &'a UserRows,
    columns: &'a OwnColumns,
    norm2: &'a [f64],
    users: i64,
    params: Params,
    unweighted: bool,
}

/// How many rows ahead the product asks for a user's row: rows are scattered over the likes,
/// so each is a cache miss, and reading the next ones early hides most of it (on large data
/// the loop waited on those loads more than half its time).
const PREFETCH_ROWS: usize = 6;

/// A hint to load the cache line of `value`; nothing on other targets.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and changes no memory, and SSE is
    // part of every x86_64 target.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// One thread's working memory: a dense row of the product, and which of its columns are set.
struct Scratch {
    co: Vec<u32>,
    dot: Vec<i64>,
    touched: Vec<u32>,
    candidates: Vec<(f64, i64, i64)>,
}

impl Product<'_> {
    /// Item j's co-occurrences (and with weights, dot products) into the scratch row.
    fn accumulate<const WEIGHTED: bool>(&self, j: usize, s: &mut Scratch) {
        let column = self.columns.start[j]..self.columns.start[j + 1];
        let rows = &self.columns.rows[column.clone()];
        for (i, &(lo, hi)) in rows.iter().enumerate() {
            if let Some(&(ahead, _)) = rows.get(i + PREFETCH_ROWS) {
                prefetch(&self.rows.slot[ahead as usize]);
            }
            let entries = lo as usize..hi as usize;
            for (e, &b) in entries.clone().zip(&self.rows.slot[entries]) {
                let bi = b as usize;
                if s.co[bi] == 0 {
                    s.touched.push(b);
                }
                s.co[bi] += 1;
                if WEIGHTED {
                    let x_a = self.columns.x[column.start + i];
                    s.dot[bi] += (x_a * self.rows.x[e] * UNIT).round() as i64;
                }
            }
        }
    }

    /// The neighbour lists of own items `range` (in id order).
    fn lists(&self, range: std::ops::Range<usize>) -> Lists {
        let Params {
            measure,
            min_cooccurrence,
            k,
            ..
        } = self.params;
        let n = self.likes.item_id.len();
        let mut s = Scratch {
            co: vec![0; n],
            dot: vec![0; if self.unweighted { 0 } else { n }],
            touched: Vec::new(),
            candidates: Vec::new(),
        };
        let mut out = Lists::default();
        for j in range {
            if self.unweighted {
                self.accumulate::<false>(j, &mut s);
            } else {
                self.accumulate::<true>(j, &mut s);
            }
            let a = self.columns.slot[j] as usize;
            s.candidates.clear();
            for b in s.touched.drain(..) {
                let bi = b as usize;
                let c = i64::from(std::mem::take(&mut s.co[bi]));
                let d = if self.unweighted {
                    c * UNIT as i64
                } else {
                    std::mem::take(&mut s.dot[bi])
                };
                // The item itself is in every one of its rows.
                if bi != a && c >= min_cooccurrence {
                    let score =
                        measure.score(d as f64 / UNIT, self.norm2[a], self.norm2[bi], self.users);
                    s.candidates.push((score, self.likes.item_id[bi], c));
                }
            }
            keep_top_k(&mut s.candidates, k, |c| (c.0, c.1));
            let anchor = self.likes.item_id[a];
            for (rank, &(score, neighbor, c)) in s.candidates.iter().enumerate() {
                out.anchor.push(anchor);
                out.neighbor.push(neighbor);
                out.score.push(score);
                out.cooccurrence.push(c);
                out.rank.push(rank as u64 + 1);
            }
        }
        out
    }
}

/// The neighbour lists of bucket `bucket`'s items (ids ascending), appended to `out`.
/// `users` is U for lift; None counts the distinct users of `likes` (right with one bucket,
/// which holds every like).
pub fn neighbour_lists(
    likes: &Likes,
    bucket: i64,
    users: Option<i64>,
    params: Params,
    parallelism: Parallelism,
    out: &mut Lists,
) -> Result<()> {
    let own: Vec<bool> = likes
        .item_id
        .iter()
        .map(|id| id.rem_euclid(params.buckets) == bucket)
        .collect();
    let norm2 = item_norms(likes, &own, bucket, params.buckets)?;
    // Unweighted likes (the default): every product x_a x_b is 1, so dot = co.
    let unweighted = likes.x.iter().all(|&x| x == 1.0);
    let rows = UserRows::of(likes, !unweighted)?;
    let columns = OwnColumns::of(likes, &rows, &own);
    let product = Product {
        likes,
        rows: &rows,
        columns: &columns,
        norm2: &norm2,
        users: users.unwrap_or(rows.users() as i64),
        params,
        unweighted,
    };
    let total: usize = columns.work.iter().sum();
    let threads = parallelism
        .max_threads
        .min(total / parallelism.work_per_thread.max(1))
        .max(1);
    if threads == 1 {
        out.append(product.lists(0..columns.slot.len()));
        return Ok(());
    }
    let ranges = balanced_ranges(&columns.work, threads);
    let parts: Vec<Lists> = std::thread::scope(|scope| {
        let handles: Vec<_> = ranges
            .into_iter()
            .map(|range| {
                let product = &product;
                scope.spawn(move || product.lists(range))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    for part in parts {
        out.append(part);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skewed likes from a fixed linear congruential sequence; weights not all 1 if `weighted`.
    fn likes(weighted: bool) -> Likes {
        let mut likes = Likes::default();
        let mut state = 12345u64;
        let mut next = |m: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % m
        };
        for user in 0..300i64 {
            let basket = 1 + next(40) as usize;
            let mut seen = std::collections::HashSet::new();
            for _ in 0..basket {
                // Low ids are popular; some ids negative.
                let item = (next(60) * next(60) / 60) as i64 - 10;
                if seen.insert(item) {
                    let x = if weighted {
                        1.0 / (1.0 + next(4) as f64)
                    } else {
                        1.0
                    };
                    likes.push(user, item, x, None);
                }
            }
        }
        likes
    }

    fn run(likes: &Likes, measure: Measure, parallelism: Parallelism) -> Lists {
        let params = Params {
            buckets: 1,
            measure,
            min_cooccurrence: 2,
            k: 7,
        };
        let mut out = Lists::default();
        neighbour_lists(likes, 0, None, params, parallelism, &mut out).unwrap();
        out
    }

    #[test]
    fn threads_give_the_lists_of_one_thread() {
        let one = Parallelism {
            max_threads: 1,
            work_per_thread: 1,
        };
        let four = Parallelism {
            max_threads: 4,
            work_per_thread: 1,
        };
        for weighted in [false, true] {
            let likes = likes(weighted);
            for measure in [Measure::Cosine, Measure::Jaccard, Measure::Lift] {
                let (a, b) = (run(&likes, measure, one), run(&likes, measure, four));
                assert!(a.anchor.len() > 100, "{measure:?}: {} rows", a.anchor.len());
                assert_eq!(a.anchor, b.anchor);
                assert_eq!(a.neighbor, b.neighbor);
                assert_eq!(a.cooccurrence, b.cooccurrence);
                assert_eq!(a.rank, b.rank);
                let bits = |l: &Lists| l.score.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "{measure:?} weighted {weighted}");
            }
        }
    }

    #[test]
    fn counts_and_scores_a_small_example() {
        // Users 1..3 like {10, 20}, {10, 20, 30}, {10}: co(10, 20) = 2, n = 3, 2, 1.
        let mut likes = Likes::default();
        for (u, i) in [(1, 10), (1, 20), (2, 10), (2, 20), (2, 30), (3, 10)] {
            likes.push(u, i, 1.0, None);
        }
        let params = Params {
            buckets: 1,
            measure: Measure::Cosine,
            min_cooccurrence: 1,
            k: 5,
        };
        let mut out = Lists::default();
        neighbour_lists(&likes, 0, None, params, Parallelism::of_machine(), &mut out).unwrap();
        let rows: Vec<(i64, i64, i64, u64)> = (0..out.anchor.len())
            .map(|r| {
                (
                    out.anchor[r],
                    out.neighbor[r],
                    out.cooccurrence[r],
                    out.rank[r],
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (10, 20, 2, 1),
                (10, 30, 1, 2),
                (20, 10, 2, 1),
                (20, 30, 1, 2),
                (30, 20, 1, 1),
                (30, 10, 1, 2),
            ]
        );
        // cosine(10, 20) = 2 / sqrt(3 * 2); cosine(30, 20) = 1 / sqrt(2) > cosine(30, 10).
        assert_eq!(out.score[0], (4.0f64 / 6.0).sqrt());
        assert_eq!(out.score[4], (1.0f64 / 2.0).sqrt());
    }

    #[test]
    fn radix_sort_is_a_stable_sort_by_key() {
        let mut state = 7u64;
        let mut items: Vec<(u32, u32)> = (0..5000)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                // Keys over both 16-bit digits, with repeats.
                (((state >> 40) as u32) % 300_000, i)
            })
            .collect();
        let mut expected = items.clone();
        expected.sort_by_key(|t| t.0);
        radix_sort(&mut items, |t| t.0);
        assert_eq!(items, expected);
    }

    #[test]
    fn user_ids_far_apart_give_the_same_lists() {
        // The same likes with users 0..300 and with ids spanning the whole i64 range (ranked
        // instead of offset).
        let near = likes(true);
        let spread = |u: i64| match u % 3 {
            0 => i64::MIN + u,
            1 => i64::MAX - u,
            _ => u * 1_000_003,
        };
        let mut far = Likes::default();
        for e in 0..near.user.len() {
            let item = near.item_id[near.slot[e] as usize];
            far.push(spread(near.user[e]), item, near.x[e], None);
        }
        assert_eq!(user_keys(&far.user).len(), far.user.len());
        let one = Parallelism::of_machine();
        for measure in [Measure::Cosine, Measure::Lift] {
            let (a, b) = (run(&near, measure, one), run(&far, measure, one));
            assert!(a.anchor.len() > 100);
            assert_eq!(
                (&a.anchor, &a.neighbor, &a.cooccurrence),
                (&b.anchor, &b.neighbor, &b.cooccurrence)
            );
            assert_eq!(a.score, b.score, "{measure:?}");
        }
    }

    #[test]
    fn balanced_ranges_cover_every_item_once() {
        for (work, parts) in [
            (vec![5, 1, 1, 1, 1, 1], 2),
            (vec![0, 0, 0], 4),
            (vec![1; 10], 3),
            (vec![], 2),
            (vec![100, 0, 0, 1], 2),
        ] {
            let ranges = balanced_ranges(&work, parts);
            assert!(ranges.len() <= parts.max(1), "{work:?}: {ranges:?}");
            let covered: Vec<usize> = ranges.into_iter().flatten().collect();
            assert_eq!(covered, (0..work.len()).collect::<Vec<_>>(), "{work:?}");
        }
    }
}
