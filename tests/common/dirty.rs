//! Rows of the event tables as plain structs, to read generated data and write dirty
//! variants of it (nulls, NaN, duplicates, misfiled timestamps) as extra Parquet files.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;

use super::read_dir;

pub const DAY_US: i64 = 86_400_000_000;

/// Microseconds of 00:00 UTC of 2026-01-DD.
pub fn day_start(day_of_january: i64) -> i64 {
    // 2026-01-01T00:00:00Z
    1_767_225_600_000_000 + (day_of_january - 1) * DAY_US
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn i64s(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let c = cast(b.column_by_name(name).unwrap(), &DataType::Int64).unwrap();
    c.as_primitive::<arrow::datatypes::Int64Type>()
        .iter()
        .collect()
}

fn ts(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let c = cast(
        b.column_by_name(name).unwrap(),
        &DataType::Timestamp(TimeUnit::Microsecond, None),
    )
    .unwrap();
    let c = cast(&c, &DataType::Int64).unwrap();
    c.as_primitive::<arrow::datatypes::Int64Type>()
        .iter()
        .collect()
}

fn f64s(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let c = cast(b.column_by_name(name).unwrap(), &DataType::Float64).unwrap();
    c.as_primitive::<arrow::datatypes::Float64Type>()
        .iter()
        .collect()
}

fn strs(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let c = cast(b.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
    c.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    pub ts: Option<i64>,
    pub user_id: Option<i64>,
    pub anchor_id: Option<i64>,
    pub live_id: Option<i64>,
    pub duration_s: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Interaction {
    pub ts: Option<i64>,
    pub user_id: Option<i64>,
    pub anchor_id: Option<i64>,
    pub live_id: Option<i64>,
    pub kind: Option<String>,
    pub value: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Exposure {
    pub ts: Option<i64>,
    pub user_id: Option<i64>,
    pub anchor_id: Option<i64>,
    pub live_id: Option<i64>,
    pub position: Option<i32>,
    pub page: Option<String>,
}

pub fn read_watches(dir: &Path) -> Vec<Watch> {
    let mut out = Vec::new();
    for b in read_dir(dir) {
        let (t, u, a, l, d) = (
            ts(&b, "ts"),
            i64s(&b, "user_id"),
            i64s(&b, "anchor_id"),
            i64s(&b, "live_id"),
            f64s(&b, "duration_s"),
        );
        for i in 0..b.num_rows() {
            out.push(Watch {
                ts: t[i],
                user_id: u[i],
                anchor_id: a[i],
                live_id: l[i],
                duration_s: d[i],
            });
        }
    }
    out
}

pub fn read_interactions(dir: &Path) -> Vec<Interaction> {
    let mut out = Vec::new();
    for b in read_dir(dir) {
        let (t, u, a, l, k, v) = (
            ts(&b, "ts"),
            i64s(&b, "user_id"),
            i64s(&b, "anchor_id"),
            i64s(&b, "live_id"),
            strs(&b, "kind"),
            f64s(&b, "value"),
        );
        for i in 0..b.num_rows() {
            out.push(Interaction {
                ts: t[i],
                user_id: u[i],
                anchor_id: a[i],
                live_id: l[i],
                kind: k[i].clone(),
                value: v[i],
            });
        }
    }
    out
}

pub fn read_exposures(dir: &Path) -> Vec<Exposure> {
    let mut out = Vec::new();
    for b in read_dir(dir) {
        let (t, u, a, l, pos, page) = (
            ts(&b, "ts"),
            i64s(&b, "user_id"),
            i64s(&b, "anchor_id"),
            i64s(&b, "live_id"),
            i64s(&b, "position"),
            strs(&b, "page"),
        );
        for i in 0..b.num_rows() {
            out.push(Exposure {
                ts: t[i],
                user_id: u[i],
                anchor_id: a[i],
                live_id: l[i],
                position: pos[i].map(|p| p as i32),
                page: page[i].clone(),
            });
        }
    }
    out
}

fn write(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn ts_array(v: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    let a: TimestampMicrosecondArray = v.collect();
    Arc::new(a.with_data_type(ts_type()))
}

fn ints<T>(rows: &[T], f: impl Fn(&T) -> Option<i64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Int64Array>())
}

fn floats<T>(rows: &[T], f: impl Fn(&T) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Float64Array>())
}

fn texts<T>(rows: &[T], f: impl Fn(&T) -> Option<&str>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}

pub fn write_watches(path: &Path, rows: &[Watch]) {
    write(
        path,
        vec![
            ("ts", ts_array(rows.iter().map(|r| r.ts))),
            ("user_id", ints(rows, |r| r.user_id)),
            ("anchor_id", ints(rows, |r| r.anchor_id)),
            ("live_id", ints(rows, |r| r.live_id)),
            ("duration_s", floats(rows, |r| r.duration_s)),
        ],
    );
}

pub fn write_interactions(path: &Path, rows: &[Interaction]) {
    write(
        path,
        vec![
            ("ts", ts_array(rows.iter().map(|r| r.ts))),
            ("user_id", ints(rows, |r| r.user_id)),
            ("anchor_id", ints(rows, |r| r.anchor_id)),
            ("live_id", ints(rows, |r| r.live_id)),
            ("kind", texts(rows, |r| r.kind.as_deref())),
            ("value", floats(rows, |r| r.value)),
        ],
    );
}

pub fn write_exposures(path: &Path, rows: &[Exposure]) {
    write(
        path,
        vec![
            ("ts", ts_array(rows.iter().map(|r| r.ts))),
            ("user_id", ints(rows, |r| r.user_id)),
            ("anchor_id", ints(rows, |r| r.anchor_id)),
            ("live_id", ints(rows, |r| r.live_id)),
            (
                "position",
                Arc::new(rows.iter().map(|r| r.position).collect::<Int32Array>()),
            ),
            ("page", texts(rows, |r| r.page.as_deref())),
        ],
    );
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Quarantined counts by reason from a `quarantine/<table>/dt=D/_manifest.json`.
pub fn quarantined(manifest: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    manifest["checks"]["quality"]["quarantined"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}
