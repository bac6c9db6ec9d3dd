//! Data-quality results: one day of one input table as checked, and what a job's manifest
//! records about an input over its window (docs/data-quality.md).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The outcome of checking one day of one table.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DayQuality {
    pub rows: u64,
    /// Quarantined rows by reason (`column:rule`).
    pub quarantined: BTreeMap<String, u64>,
    /// Anomalies that were kept (e.g. `ts:outside_day_tolerated`), by kind.
    pub tolerated: BTreeMap<String, u64>,
    /// The first file (by name) holding a row of each reason.
    pub first_file: BTreeMap<String, String>,
    /// Run id of the cleaned copy the jobs read, when rows were quarantined.
    pub cleaned: Option<String>,
    /// Whether the share of quarantined rows exceeded `max_bad_fraction`.
    pub failed: bool,
}

impl DayQuality {
    pub fn bad(&self) -> u64 {
        self.quarantined.values().sum()
    }
}

/// What a job's manifest records about one input over its window.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct InputQuality {
    pub rows: u64,
    pub quarantined: BTreeMap<String, u64>,
    pub tolerated: BTreeMap<String, u64>,
    /// Days read from their cleaned copy.
    pub cleaned_days: Vec<NaiveDate>,
}

impl InputQuality {
    pub fn add(&mut self, day: NaiveDate, q: &DayQuality) {
        self.rows += q.rows;
        for (k, v) in &q.quarantined {
            *self.quarantined.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &q.tolerated {
            *self.tolerated.entry(k.clone()).or_default() += v;
        }
        if q.cleaned.is_some() {
            self.cleaned_days.push(day);
        }
    }
}
