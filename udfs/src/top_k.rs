//! The ranking rule of every recommender list: score descending (NaN first, as SQL's
//! `ORDER BY score DESC`), ties by id ascending.

/// Keeps the `k` (≥ 1) best of `items` by that rule, sorted best first; `key` gives an
/// item's (score, id).
pub fn keep_top_k<T>(items: &mut Vec<T>, k: usize, key: impl Fn(&T) -> (f64, i64)) {
    let order = |x: &T, y: &T| {
        let ((sx, ix), (sy, iy)) = (key(x), key(y));
        sy.total_cmp(&sx).then(ix.cmp(&iy))
    };
    if items.len() > k {
        items.select_nth_unstable_by(k - 1, order);
        items.truncate(k);
    }
    items.sort_unstable_by(order);
}
