//! Shared helpers for the integration tests: run the real `liverec` binary, generate data,
//! read Parquet back independently of the engine.
#![allow(dead_code)]

pub mod dirty;
pub mod s3;
pub mod samples;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub fn liverec() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_liverec"));
    cmd.env("LIVEREC_LOG", "warn").env_remove("LIVEREC_HOME");
    cmd
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "liverec {}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a prepared command (liverec with its own environment, or a helper program) and
/// returns its output; panics with its stderr on failure.
pub fn output_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run the command");
    assert!(
        out.status.success(),
        "{cmd:?}\nexit: {:?}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs liverec and returns stdout; panics with the full output on failure.
pub fn run_ok(args: &[&str]) -> String {
    let out = liverec().args(args).output().expect("run liverec");
    assert!(out.status.success(), "{}", describe(args, &out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs liverec expecting failure; returns stderr.
pub fn run_err(args: &[&str]) -> String {
    let out = liverec().args(args).output().expect("run liverec");
    assert!(
        !out.status.success(),
        "expected failure\n{}",
        describe(args, &out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "panic instead of an error:\n{stderr}"
    );
    stderr
}

/// Polls `ready` every 50 ms until it holds; panics naming `what` after `limit`. Tests wait
/// for a state this way, never by sleeping a fixed time.
pub fn wait_for(what: &str, limit: std::time::Duration, mut ready: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The text of a file, or "" while it does not exist.
pub fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A plain HTTP GET on loopback (the scheduler's REST API): the response body.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    // Chunked bodies: keep the JSON between the first '[' or '{' and the last ']' or '}'.
    let start = body.find(['[', '{'])?;
    let end = body.rfind([']', '}'])?;
    Some(body[start..=end].to_string())
}

pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Generates `days` days of small data starting 2026-01-01 into `dir`.
pub fn generate(dir: &Path, days: u32, users: u32, anchors: u32, seed: u64) {
    let args = generate_args(&s(dir), days, users, anchors, seed);
    run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// `liverec generate` into `out` (a path or URL): `days` days from 2026-01-01.
pub fn generate_args(out: &str, days: u32, users: u32, anchors: u32, seed: u64) -> Vec<String> {
    [
        "generate",
        "--out",
        out,
        "--days",
        &days.to_string(),
        "--users",
        &users.to_string(),
        "--anchors",
        &anchors.to_string(),
        "--seed",
        &seed.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

/// The data files (not the manifest) of a partition directory, sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

/// The tables of the daily workflow's outputs.
pub const DAILY_TABLES: &[&str] = &[
    "heat",
    "tile_watches",
    "user_profile",
    "samples",
    "exposure_samples",
    "itemcf_sim",
    "candidates",
    "recall_metrics",
];

/// Reads one Parquet file with the plain parquet crate (not the engine).
pub fn read_file(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// Reads every Parquet file of a directory.
pub fn read_dir(dir: &Path) -> Vec<RecordBatch> {
    parquet_files(dir)
        .iter()
        .flat_map(|p| read_file(p))
        .collect()
}

/// model.json of a model's LATEST under an output root, with the version name blanked.
pub fn latest_model(output: &Path, name: &str) -> serde_json::Value {
    let dir = output.join("models").join(name);
    let v = std::fs::read_to_string(dir.join("LATEST")).unwrap();
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(v.trim()).join("model.json")).unwrap())
            .unwrap();
    m["version"] = serde_json::Value::Null;
    m
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("_manifest.json"))
        .unwrap_or_else(|e| panic!("manifest in {}: {e}", dir.display()));
    serde_json::from_str(&text).unwrap()
}

/// The data files a partition's manifest lists.
pub fn manifest_files(m: &serde_json::Value) -> Vec<String> {
    m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

/// The rows of the files a partition's manifest lists (object stores may hold other,
/// uncommitted files beside them); each listed file must exist and the rows add up.
pub fn read_committed(dir: &Path) -> (serde_json::Value, Vec<RecordBatch>) {
    let m = manifest(dir);
    let batches: Vec<RecordBatch> = manifest_files(&m)
        .iter()
        .flat_map(|name| read_file(&dir.join(name)))
        .collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(
        rows as u64,
        m["rows"].as_u64().unwrap(),
        "rows of {}",
        dir.display()
    );
    (m, batches)
}

/// Heat rows agree with the weights in their manifest (a mix of two runs would not).
pub fn assert_heat_rows_match(m: &serde_json::Value, batches: &[RecordBatch], what: &str) {
    let w = |k: &str| m["params"][k].as_f64().unwrap();
    for b in batches {
        let (v, g, i, h) = (
            col_i64(b, "viewers"),
            col_i64(b, "gifters"),
            col_i64(b, "interactors"),
            col_f64(b, "heat"),
        );
        for k in 0..b.num_rows() {
            let want = w("w_viewers") * v[k] as f64
                + w("w_gifters") * g[k] as f64
                + w("w_interactors") * i[k] as f64;
            assert_eq!(h[k], want, "row {k} of {what} mixes runs");
        }
    }
}

/// A committed partition is whole: its manifest lists exactly its data files, with their rows.
pub fn assert_partition_whole(dir: &Path) -> serde_json::Value {
    let m = manifest(dir);
    let listed = manifest_files(&m);
    // Object stores keep a replaced version's files for a retention period; the manifest
    // names them, and readers never see them.
    let replaced: Vec<String> = m["replaced"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|f| f["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut present: Vec<String> = parquet_files(dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| !replaced.contains(name))
        .collect();
    present.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(
        listed_sorted,
        present,
        "files of {} differ from its manifest",
        dir.display()
    );
    read_committed(dir);
    m
}

pub fn col_i64(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let c = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Int64).unwrap();
    let a = c
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap();
    a.iter().map(|v| v.unwrap()).collect()
}

pub fn col_f64(batch: &RecordBatch, name: &str) -> Vec<f64> {
    let c = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Float64).unwrap();
    let a = c
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap();
    a.iter().map(|v| v.unwrap()).collect()
}

pub fn col_str(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let c = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8).unwrap();
    let a = c
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    a.iter().map(|v| v.map(str::to_string)).collect()
}

/// Every row of every output partition under `root`, rendered and sorted, per table.
pub fn all_rows(root: &Path, tables: &[&str]) -> Vec<(String, Vec<String>)> {
    tables
        .iter()
        .map(|t| {
            let mut rows = Vec::new();
            let mut parts: Vec<_> = std::fs::read_dir(root.join(t))
                .unwrap_or_else(|e| panic!("{t}: {e}"))
                .map(|e| e.unwrap().path())
                .collect();
            parts.sort();
            for part in parts {
                assert_partition_whole(&part);
                for b in read_committed(&part).1 {
                    for r in 0..b.num_rows() {
                        let cells: Vec<String> = b
                            .columns()
                            .iter()
                            .map(|c| arrow::util::display::array_value_to_string(c, r).unwrap())
                            .collect();
                        rows.push(format!(
                            "{}|{}",
                            part.file_name().unwrap().to_string_lossy(),
                            cells.join("|")
                        ));
                    }
                }
            }
            rows.sort();
            (t.to_string(), rows)
        })
        .collect()
}

/// Item-CF computed directly from liked sets (user -> items): n_a (users liking a), co(a, b)
/// (users liking both), and each item's top-`k` neighbours by cosine co / sqrt(n_a n_b) over
/// pairs with co >= `min_co`, ties (exactly equal cosines) by neighbour id, as
/// (neighbour, score, co).
pub struct DirectItemCf {
    pub n: HashMap<i64, i64>,
    pub co: HashMap<(i64, i64), i64>,
    pub neighbours: HashMap<i64, Vec<(i64, f64, i64)>>,
}

pub fn cosine_neighbours(
    likes: &HashMap<i64, BTreeSet<i64>>,
    min_co: i64,
    k: usize,
) -> DirectItemCf {
    let mut n: HashMap<i64, i64> = HashMap::new();
    let mut co: HashMap<(i64, i64), i64> = HashMap::new();
    for set in likes.values() {
        for a in set {
            *n.entry(*a).or_default() += 1;
            for b in set {
                if a != b {
                    *co.entry((*a, *b)).or_default() += 1;
                }
            }
        }
    }
    let mut out: HashMap<i64, Vec<(i64, f64, i64)>> = HashMap::new();
    for ((a, b), c) in &co {
        if *c >= min_co {
            let score = *c as f64 / ((n[a] * n[b]) as f64).sqrt();
            out.entry(*a).or_default().push((*b, score, *c));
        }
    }
    // Ordered exactly, not by the rounded scores: for one anchor, co_x / sqrt(n_a n_x) >
    // co_y / sqrt(n_a n_y) iff co_x^2 n_y > co_y^2 n_x, so equal cosines are true ties.
    let exact = |x: &(i64, f64, i64)| (x.2 as i128 * x.2 as i128, n[&x.0] as i128);
    for list in out.values_mut() {
        list.sort_by(|x, y| {
            let ((cx, nx), (cy, ny)) = (exact(x), exact(y));
            (cy * nx).cmp(&(cx * ny)).then(x.0.cmp(&y.0))
        });
        list.truncate(k);
    }
    DirectItemCf {
        n,
        co,
        neighbours: out,
    }
}

/// A child process whose stderr is collected as it comes, so a test can wait for a line
/// (a fault point reached) instead of sleeping.
pub struct Watched {
    child: std::process::Child,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Watched {
    pub fn spawn(cmd: &mut Command) -> Self {
        use std::io::Read;
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            child,
            stderr,
            reader: Some(reader),
        }
    }

    /// Waits until stderr contains `text` (panics after `limit`).
    pub fn wait_for_line(&self, text: &str, limit: std::time::Duration) {
        wait_for(&format!("{text:?} on stderr"), limit, || {
            self.stderr.lock().unwrap().contains(text)
        });
    }

    /// Whether the process ended by itself within `limit` (polled; killed if not).
    pub fn ends_within(&mut self, limit: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        false
    }

    /// Waits for the process to end: its status and whole stderr.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let text = self.stderr.lock().unwrap().clone();
        (status, text)
    }
}

/// id -> vector of an ALS factor table (`factors`, `norm`), checking each vector is finite
/// and its norm the one written.
pub fn factor_table(dir: &Path, id: &str) -> std::collections::BTreeMap<i64, Vec<f32>> {
    use arrow::array::AsArray;
    use arrow::datatypes::Float32Type;
    let mut out = std::collections::BTreeMap::new();
    for b in read_dir(dir) {
        let ids = col_i64(&b, id);
        let lists = b.column_by_name("factors").unwrap().as_fixed_size_list();
        let norms = b
            .column_by_name("norm")
            .unwrap()
            .as_primitive::<Float32Type>()
            .clone();
        for (i, id) in ids.iter().enumerate() {
            let v: Vec<f32> = lists
                .value(i)
                .as_primitive::<Float32Type>()
                .values()
                .to_vec();
            assert!(v.iter().all(|x| x.is_finite()), "a non-finite factor");
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - norms.value(i)).abs() <= 1e-5 * norm.max(1.0));
            out.insert(*id, v);
        }
    }
    out
}

/// An inner product in float32, summed in factor order (as the als job scores).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
