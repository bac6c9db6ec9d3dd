//! `liverec generate`: a synthetic live-streaming platform that writes the six input tables of
//! the data contract, day by day, deterministically from a seed.
//!
//! What makes it look like a live platform rather than noise: Zipf anchor popularity; users
//! with interests over 16 categories; anchors online only during their live sessions
//! (exposures and watches happen only then); mostly bounces with a heavy tail of long watches;
//! repeat visits to anchors a user follows or liked; rare gifts concentrated on a few whales;
//! many more exposures than watches. Memory is bounded by the number of users and anchors,
//! not by the number of rows: rows are flushed in batches as users are simulated.

mod day;
mod tables;
mod world;

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use arrow::datatypes::SchemaRef;
use chrono::{Days, NaiveDate, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::contract::{self, TableContract};
use crate::doc::partition::{PartitionManifest, schema_entries};
use crate::params::{date_to_days, day_start_micros};
use crate::progress;
use crate::storage::Storage;
use crate::version::LIVEREC_VERSION;
use crate::writer::StagedPartition;
use day::{Buffers, DayModel, LiveIndex, UserState};
use tables::Buffer;
pub use world::{ANCHOR_ID_BASE, CATEGORIES, USER_ID_BASE};
use world::{CATEGORIES as CATS, World};

/// Size presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// 2,000 users, 150 anchors, 10 days: seconds; used by tests.
    Small,
    /// 100,000 users, 5,000 anchors, 21 days: ~10M exposures; used by benchmarks.
    Medium,
    /// 600,000 users, 20,000 anchors, 30 days: ~80M exposures.
    Large,
}

impl Scale {
    pub fn preset(self) -> (u32, u32, u32) {
        match self {
            Scale::Small => (2_000, 150, 10),
            Scale::Medium => (100_000, 5_000, 21),
            Scale::Large => (600_000, 20_000, 30),
        }
    }
}

#[derive(Clone, Debug)]
pub struct GenConfig {
    pub start: NaiveDate,
    pub days: u32,
    pub users: u32,
    pub anchors: u32,
    pub seed: u64,
}

impl GenConfig {
    pub fn validate(&self) -> Result<()> {
        if self.days == 0 || self.users == 0 || self.anchors == 0 {
            bail!("--days, --users and --anchors must be positive");
        }
        if self.anchors >= 1_000_000 {
            bail!("--anchors must be below 1,000,000 (live ids are day*1e6 + anchor)");
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default)]
pub struct GenReport {
    pub rows: BTreeMap<String, u64>,
}

const FLUSH_ROWS: usize = 64 * 1024;
const USER_CHUNK: usize = 2_000;

/// One table's partition for the day being generated.
struct TableSink {
    contract: &'static TableContract,
    schema: SchemaRef,
    part: StagedPartition,
    writer: Option<crate::parquet_file::ParquetFileWriter>,
}

impl TableSink {
    async fn begin(
        out: &Storage,
        contract: &'static TableContract,
        day: NaiveDate,
        run_id: &str,
    ) -> Result<Self> {
        let part = StagedPartition::begin(out, contract.name, day, run_id).await?;
        let schema = contract.schema();
        let writer = Some(part.file_writer("part-00000.parquet", schema.clone())?);
        Ok(Self {
            contract,
            schema,
            part,
            writer,
        })
    }

    async fn flush(&mut self, buf: &mut dyn Buffer, min_rows: usize) -> Result<()> {
        if buf.len() == 0 || buf.len() < min_rows {
            return Ok(());
        }
        let batch = buf.drain(&self.schema)?;
        self.writer
            .as_mut()
            .expect("writer open until commit")
            .write(&batch)
            .await?;
        Ok(())
    }

    async fn commit(
        mut self,
        cfg: &GenConfig,
        day: NaiveDate,
        report: &mut GenReport,
    ) -> Result<()> {
        let writer = self.writer.take().expect("writer open until commit");
        self.part.finish_file("part-00000.parquet", writer).await?;
        *report
            .rows
            .entry(self.contract.name.to_string())
            .or_default() += self.part.rows();
        let params = BTreeMap::from([
            ("seed".to_string(), cfg.seed.into()),
            ("users".to_string(), cfg.users.into()),
            ("anchors".to_string(), cfg.anchors.into()),
            ("start".to_string(), cfg.start.to_string().into()),
            ("days".to_string(), cfg.days.into()),
        ]);
        let manifest = PartitionManifest {
            table: self.contract.name.to_string(),
            dt: day,
            job: "generate".to_string(),
            run_id: self.part.run_id.clone(),
            liverec_version: LIVEREC_VERSION.to_string(),
            created_at: Utc::now(),
            rows: 0,
            files: Vec::new(),
            schema: schema_entries(&self.schema),
            params,
            inputs: Vec::new(),
            checks: BTreeMap::new(),
            replaced: Vec::new(),
        };
        self.part.commit(manifest).await
    }
}

fn day_rng(seed: u64, day_index: u64) -> ChaCha8Rng {
    // Distinct, reproducible streams per day.
    ChaCha8Rng::seed_from_u64(seed ^ (day_index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Generates `cfg.days` days of all six tables under `out`.
pub async fn generate(cfg: &GenConfig, out: &Storage) -> Result<GenReport> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let world = World::build(
        cfg.users as usize,
        cfg.anchors as usize,
        cfg.days as i64,
        &mut rng,
    );
    let mut states = vec![UserState::default(); world.users.len()];
    let model = DayModel::new();
    let run_id = crate::storage::committed::new_run_id();
    let mut report = GenReport::default();
    let bar = progress::bar(cfg.days as u64 * cfg.users as u64, "generating");

    for day_index in 0..cfg.days as u64 {
        let day = cfg.start + Days::new(day_index);
        bar.set_message(format!("generating {day}"));
        let day_start = day_start_micros(day);
        let mut rng = day_rng(cfg.seed, day_index);
        let live = LiveIndex::schedule(&world, day_start, date_to_days(day) as i64, &mut rng);

        let mut exposures = TableSink::begin(out, &contract::EXPOSURES, day, &run_id).await?;
        let mut watches = TableSink::begin(out, &contract::WATCHES, day, &run_id).await?;
        let mut interactions = TableSink::begin(out, &contract::INTERACTIONS, day, &run_id).await?;
        let mut sessions = TableSink::begin(out, &contract::LIVE_SESSIONS, day, &run_id).await?;
        let mut users = TableSink::begin(out, &contract::USERS, day, &run_id).await?;
        let mut anchors = TableSink::begin(out, &contract::ANCHORS, day, &run_id).await?;

        let mut buf = Buffers {
            exposures: Default::default(),
            watches: Default::default(),
            interactions: Default::default(),
        };
        let mut session_rows = tables::LiveSessions::default();
        live.write(&world, &mut session_rows);
        sessions.flush(&mut session_rows, 0).await?;

        let mut user_rows = tables::Users::default();
        for (chunk_index, chunk) in world.users.chunks(USER_CHUNK).enumerate() {
            for (offset, user) in chunk.iter().enumerate() {
                if user.register_day > day_index as i64 {
                    continue;
                }
                let state = &mut states[chunk_index * USER_CHUNK + offset];
                model.simulate_user(&world, user, state, &live, day_start, &mut rng, &mut buf);
                user_rows.user_id.push(user.id);
                user_rows.gender.push(Some(user.gender));
                user_rows.age.push(Some(user.age));
                user_rows.city.push(Some(user.city));
                let registered = cfg
                    .start
                    .checked_add_signed(chrono::Duration::days(user.register_day));
                user_rows.register_dt.push(registered.map(date_to_days));
            }
            exposures.flush(&mut buf.exposures, FLUSH_ROWS).await?;
            watches.flush(&mut buf.watches, FLUSH_ROWS).await?;
            interactions
                .flush(&mut buf.interactions, FLUSH_ROWS)
                .await?;
            users.flush(&mut user_rows, FLUSH_ROWS).await?;
            bar.inc(chunk.len() as u64);
        }
        exposures.flush(&mut buf.exposures, 0).await?;
        watches.flush(&mut buf.watches, 0).await?;
        interactions.flush(&mut buf.interactions, 0).await?;
        users.flush(&mut user_rows, 0).await?;

        let mut anchor_rows = tables::Anchors::default();
        for a in &world.anchors {
            anchor_rows.anchor_id.push(a.id);
            anchor_rows.gender.push(Some(a.gender));
            anchor_rows.age.push(Some(a.age));
            anchor_rows.city.push(Some(a.city));
            anchor_rows.category.push(Some(CATS[a.category as usize]));
        }
        anchors.flush(&mut anchor_rows, 0).await?;

        for sink in [exposures, watches, interactions, sessions, users, anchors] {
            sink.commit(cfg, day, &mut report).await?;
        }
    }
    bar.finish_and_clear();
    Ok(report)
}
