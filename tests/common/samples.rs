//! Reading sample partitions back: their features by pair, and their row order.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::{Array, Float64Array};

use super::{col_i64, read_dir};

/// Sample columns that are labels or weights, not features.
pub const NOT_FEATURES: &[&str] = &[
    "label",
    "watch_s",
    "watch_cnt",
    "click",
    "watch30",
    "gift",
    "expo_cnt",
    "best_position",
    "sample_weight",
];

/// (user, anchor) -> every feature column rendered exactly (floats by their bits).
pub fn features(dir: &Path) -> HashMap<(i64, i64), Vec<String>> {
    let mut out = HashMap::new();
    for b in read_dir(dir) {
        let (u, a) = (col_i64(&b, "user_id"), col_i64(&b, "anchor_id"));
        let schema = b.schema();
        for r in 0..b.num_rows() {
            let mut values = Vec::new();
            for (f, c) in schema.fields().iter().zip(b.columns()) {
                if NOT_FEATURES.contains(&f.name().as_str()) {
                    continue;
                }
                let v = if let Some(x) = c.as_any().downcast_ref::<Float64Array>() {
                    format!("{}={:x}", f.name(), x.value(r).to_bits())
                } else {
                    format!(
                        "{}={}",
                        f.name(),
                        arrow::util::display::array_value_to_string(c, r).unwrap()
                    )
                };
                values.push(v);
            }
            out.insert((u[r], a[r]), values);
        }
    }
    out
}

/// Fails unless the partition's rows are in strictly increasing (user, anchor) order, file by
/// file as written (what the outputs' `ORDER BY` promises, sorted or not).
pub fn assert_sorted_by_pair(dir: &Path) {
    let mut keys = Vec::new();
    for b in read_dir(dir) {
        keys.extend(
            col_i64(&b, "user_id")
                .into_iter()
                .zip(col_i64(&b, "anchor_id")),
        );
    }
    assert!(!keys.is_empty(), "{} is empty", dir.display());
    if let Some(w) = keys.windows(2).find(|w| w[0] >= w[1]) {
        panic!("{}: {:?} before {:?}", dir.display(), w[0], w[1]);
    }
}
