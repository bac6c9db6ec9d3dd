//! Job declarations (`jobs/*.toml`): inputs with their day windows, SQL steps, outputs,
//! parameters with types and defaults, and checks. The runner executes them; adding a
//! feature is a change to SQL and a job file, not to Rust.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

pub use crate::model::FeatureList;
use crate::params::{ParamSpec, Params};
use crate::project;

/// The job every other job takes the data-quality parameters from (`jobs/quality.toml`).
pub const QUALITY_JOB: &str = "quality";

/// Jobs implemented in Rust (`builtin`), by the name a job file gives in `builtin = …`.
pub const BUILTINS: &[&str] = &["training_set", "train", "quality", "als", "als_items"];

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub name: String,
    pub description: String,
    /// A job implemented in Rust (e.g. `training_set`, which orchestrates other jobs).
    #[serde(default)]
    pub builtin: Option<String>,
    /// Leakage guard: every input window must end before `--date` (profile jobs).
    #[serde(default)]
    pub features_before_date: bool,
    #[serde(default)]
    pub params: BTreeMap<String, ParamSpec>,
    #[serde(default)]
    pub inputs: Vec<InputSpec>,
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// Another job whose declaration this one reuses, changing only parameter defaults
    /// (e.g. `train_lr` extends `train` with `model = "lr"`).
    #[serde(default)]
    pub extends: Option<String>,
    /// New defaults for the extended job's parameters.
    #[serde(default)]
    pub defaults: BTreeMap<String, toml::Value>,
    /// Model inputs of a training job, in order.
    #[serde(default)]
    pub features: Option<FeatureList>,
}

/// Which root a table is read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Root {
    /// The platform's event logs (`--input`), checked against the data contract.
    #[default]
    Input,
    /// Tables liverec wrote (`--output`).
    Output,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Table directory under the root.
    pub table: String,
    /// Name the SQL sees (defaults to `table`).
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub from: Root,
    /// Inclusive day window relative to `--date`, e.g. `[0, 0]` or `["-profile_days", -1]`.
    pub days: [toml::Value; 2],
    /// Every day of the window must exist (up to `max_missing_days`, if the job declares it).
    #[serde(default = "yes")]
    pub required: bool,
    /// Register only the newest day present in the window (daily snapshots).
    #[serde(default)]
    pub latest: bool,
    /// For liverec's own tables: each partition read must have a manifest whose inputs all
    /// lie before `--date` and whose shared parameters equal this run's.
    #[serde(default)]
    pub lineage_before_date: bool,
    /// For liverec's own tables: a partition without rows counts as a missing day (daily
    /// tiles of a missing or empty input day), as empty input partitions always do.
    #[serde(default)]
    pub empty_is_missing: bool,
    /// For liverec's own daily tables: the one-day SQL job that writes them from the logs
    /// (`tiles`); days of the window without a current partition are built first.
    #[serde(default)]
    pub build_with: Option<String>,
}

fn yes() -> bool {
    true
}

impl InputSpec {
    pub fn sql_name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.table)
    }

    /// The window as day offsets from `--date`, resolved with the bound parameters.
    pub fn window(&self, params: &Params) -> Result<(i64, i64)> {
        let lo = eval_offset(&self.days[0], params)
            .with_context(|| format!("input `{}`: bad window start", self.table))?;
        let hi = eval_offset(&self.days[1], params)
            .with_context(|| format!("input `{}`: bad window end", self.table))?;
        if lo > hi {
            bail!("input `{}`: window [{lo}, {hi}] is empty", self.table);
        }
        Ok((lo, hi))
    }
}

/// Evaluates a window bound: an integer, or a sum of integers and integer parameters such as
/// `"-profile_days"` or `"1 - label_days"`.
pub fn eval_offset(v: &toml::Value, params: &Params) -> Result<i64> {
    match v {
        toml::Value::Integer(i) => Ok(*i),
        toml::Value::String(s) => {
            let mut total = 0i64;
            let mut sign = 1i64;
            let mut term = String::new();
            let flush = |term: &mut String, sign: i64, total: &mut i64| -> Result<()> {
                let t = term.trim();
                if t.is_empty() {
                    return Ok(());
                }
                let value = match t.parse::<i64>() {
                    Ok(n) => n,
                    Err(_) => params
                        .get(t)
                        .and_then(|p| p.as_int())
                        .with_context(|| format!("`{t}` is not an integer parameter"))?,
                };
                *total += sign * value;
                term.clear();
                Ok(())
            };
            for ch in s.chars() {
                match ch {
                    '+' | '-' => {
                        flush(&mut term, sign, &mut total)?;
                        sign = if ch == '-' { -1 } else { 1 };
                    }
                    c if c.is_ascii_alphanumeric() || c == '_' || c.is_whitespace() => term.push(c),
                    c => bail!("unexpected {c:?} in window bound {s:?}"),
                }
            }
            flush(&mut term, sign, &mut total)?;
            Ok(total)
        }
        other => bail!("window bound {other} must be an integer or an expression string"),
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Path of the query under `sql/`.
    pub sql: String,
    /// Register the result as a view for later steps …
    #[serde(default)]
    pub view: Option<String>,
    /// … computed once and kept in memory, for a view that several later steps read.
    #[serde(default)]
    pub materialize: bool,
    /// … or write it as partition `dt=<date>` of this output table.
    #[serde(default)]
    pub output: Option<String>,
    /// For small outputs (metrics): also write the rows as `<output root>/<json>/dt=<date>.json`
    /// and print them.
    #[serde(default)]
    pub json: Option<String>,
}

/// A query returning one row of counts, recorded in the manifest; the columns named in
/// `fail_if_nonzero` fail the run when positive (before anything is committed).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub name: String,
    pub sql: String,
    #[serde(default)]
    pub fail_if_nonzero: Vec<String>,
}

impl JobSpec {
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let spec: JobSpec =
            toml::from_str(text).with_context(|| format!("job file jobs/{name}.toml"))?;
        let spec = spec
            .resolve_extends()
            .with_context(|| format!("job file jobs/{name}.toml"))?;
        let mut spec = spec;
        spec.validate()
            .with_context(|| format!("job file jobs/{name}.toml"))?;
        // Every job reads input through the data-quality check and takes its parameters.
        if spec.name != QUALITY_JOB {
            let quality = Self::load(QUALITY_JOB)?;
            for (key, param) in quality.params {
                spec.params.entry(key).or_insert(param);
            }
        }
        Ok(spec)
    }

    /// Loads `jobs/<name>.toml` from the project files.
    pub fn load(name: &str) -> Result<Self> {
        project::check_name("job", name)?;
        let path = format!("jobs/{name}.toml");
        let text = project::read(&path).with_context(|| {
            format!(
                "no job `{name}` (known jobs: {})",
                project::list("jobs/", ".toml").join(", ")
            )
        })?;
        Self::parse(name, &text)
    }

    /// Merges an `extends` job: the base's declaration with this file's name, description
    /// and parameter defaults (each checked against the base's declaration).
    fn resolve_extends(self) -> Result<Self> {
        let Some(base_name) = self.extends.clone() else {
            if !self.defaults.is_empty() {
                bail!("`defaults` needs `extends`");
            }
            return Ok(self);
        };
        if !self.steps.is_empty() || !self.inputs.is_empty() || !self.params.is_empty() {
            bail!("a job that extends `{base_name}` may only change `defaults` (and `features`)");
        }
        let mut base = Self::load(&base_name)?;
        if base.extends.is_some() {
            bail!("`{base_name}` itself extends another job; one level only");
        }
        for (key, value) in &self.defaults {
            let Some(spec) = base.params.get_mut(key) else {
                bail!("`defaults.{key}`: `{base_name}` has no parameter `{key}`");
            };
            spec.from_toml(key, value)
                .with_context(|| format!("`defaults.{key}`"))?;
            spec.default = Some(value.clone());
        }
        base.name = self.name;
        base.description = self.description;
        if self.features.is_some() {
            base.features = self.features;
        }
        base.extends = Some(base_name);
        Ok(base)
    }

    fn validate(&self) -> Result<()> {
        if self.params.contains_key("date") {
            bail!("`date` is built in (--date); do not declare it");
        }
        for step in &self.steps {
            match (&step.view, &step.output) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => bail!("step {}: give exactly one of `view` or `output`", step.sql),
            }
            project::read(&format!("sql/{}", step.sql))
                .with_context(|| format!("step references missing sql/{}", step.sql))?;
        }
        for check in &self.checks {
            project::read(&format!("sql/{}", check.sql))
                .with_context(|| format!("check references missing sql/{}", check.sql))?;
        }
        if let Some(builtin) = &self.builtin {
            if !BUILTINS.contains(&builtin.as_str()) {
                bail!(
                    "unknown builtin `{builtin}` (known: {})",
                    BUILTINS.join(", ")
                );
            }
            return Ok(());
        }
        if !self.steps.iter().any(|s| s.output.is_some()) {
            bail!("a job must write at least one output table");
        }
        Ok(())
    }

    /// Overrides for running this job as a sub-job: the parameters it declares, with the
    /// calling run's values.
    pub fn pass_through(&self, params: &Params) -> Vec<(String, String)> {
        self.params
            .keys()
            .filter_map(|k| params.get(k).map(|v| (k.clone(), v.to_string())))
            .collect()
    }

    pub fn outputs(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter_map(|s| s.output.as_deref())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ParamValue;

    #[test]
    fn window_bounds_use_integer_params() {
        let mut p = Params::new();
        p.insert("profile_days".into(), ParamValue::Int(7));
        p.insert("name".into(), ParamValue::Str("x".into()));
        let v = |s: &str| toml::Value::String(s.into());
        assert_eq!(eval_offset(&v("-profile_days"), &p).unwrap(), -7);
        assert_eq!(eval_offset(&v("1 - profile_days"), &p).unwrap(), -6);
        assert_eq!(eval_offset(&toml::Value::Integer(-1), &p).unwrap(), -1);
        assert!(eval_offset(&v("-name"), &p).is_err());
        assert!(eval_offset(&v("-1; drop"), &p).is_err());
    }

    #[test]
    fn every_shipped_job_parses() {
        for name in project::list("jobs/", ".toml") {
            JobSpec::load(&name).unwrap();
        }
        assert!(!project::list("jobs/", ".toml").is_empty());
    }
}
