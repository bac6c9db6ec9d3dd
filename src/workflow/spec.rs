//! Workflow declarations (`workflows/*.toml`): tasks with their job, dependencies, day offset
//! and parameter overrides, plus concurrency, retry and timeout settings.

use std::collections::{BTreeMap, HashSet};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::job::JobSpec;
use crate::project;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    pub name: String,
    pub description: String,
    #[serde(default = "two")]
    pub max_parallel: usize,
    #[serde(default = "one")]
    pub retries: u32,
    #[serde(default = "ten")]
    pub retry_backoff_s: f64,
    #[serde(default = "hour")]
    pub task_timeout_s: u64,
    pub tasks: Vec<TaskSpec>,
}

fn two() -> usize {
    2
}
fn one() -> u32 {
    1
}
fn ten() -> f64 {
    10.0
}
fn hour() -> u64 {
    3600
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    pub name: String,
    pub job: String,
    #[serde(default)]
    pub after: Vec<String>,
    /// Tasks that must end first only for ordering (they write what this task could write
    /// too, such as tile days): not inputs, so not part of the fingerprint.
    #[serde(default)]
    pub wait_for: Vec<String>,
    /// The task's day relative to the workflow's date.
    #[serde(default)]
    pub day_offset: i64,
    /// Parameter overrides, typed and validated against the job's declarations.
    #[serde(default)]
    pub set: BTreeMap<String, toml::Value>,
}

impl TaskSpec {
    /// Every task that must end before this one starts.
    pub fn waits_on(&self) -> impl Iterator<Item = &String> {
        self.after.iter().chain(&self.wait_for)
    }

    /// `key=value` overrides as the runner takes them.
    pub fn overrides(&self) -> Vec<(String, String)> {
        self.set
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }
}

impl WorkflowSpec {
    pub fn load(name: &str) -> Result<Self> {
        project::check_name("workflow", name)?;
        let path = format!("workflows/{name}.toml");
        let text = project::read(&path).with_context(|| {
            format!(
                "no workflow `{name}` (known: {})",
                project::list("workflows/", ".toml").join(", ")
            )
        })?;
        let spec: WorkflowSpec = toml::from_str(&text).with_context(|| path.clone())?;
        spec.validate().with_context(|| path.clone())?;
        Ok(spec)
    }

    fn validate(&self) -> Result<()> {
        if self.max_parallel == 0 {
            bail!("max_parallel must be at least 1");
        }
        let mut names = HashSet::new();
        for t in &self.tasks {
            if !names.insert(t.name.as_str()) {
                bail!("task `{}` is declared twice", t.name);
            }
            let spec = JobSpec::load(&t.job).with_context(|| format!("task `{}`", t.name))?;
            crate::params::bind(&spec.params, &t.overrides())
                .with_context(|| format!("task `{}`: `set`", t.name))?;
        }
        for t in &self.tasks {
            for d in t.waits_on() {
                if !names.contains(d.as_str()) {
                    bail!("task `{}` runs after unknown task `{d}`", t.name);
                }
            }
        }
        self.order().map(|_| ())
    }

    /// Task indices in an order where every task follows its dependencies; an error on a cycle.
    pub fn order(&self) -> Result<Vec<usize>> {
        let mut order = Vec::new();
        let mut placed = HashSet::new();
        while order.len() < self.tasks.len() {
            let before = order.len();
            for (i, t) in self.tasks.iter().enumerate() {
                if !placed.contains(&t.name) && t.waits_on().all(|d| placed.contains(d)) {
                    placed.insert(t.name.clone());
                    order.push(i);
                }
            }
            if order.len() == before {
                bail!("the task dependencies form a cycle");
            }
        }
        Ok(order)
    }

    pub fn task(&self, name: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_daily_workflow_is_valid() {
        let spec = WorkflowSpec::load("daily").unwrap();
        let order = spec.order().unwrap();
        let pos = |n: &str| order.iter().position(|i| spec.tasks[*i].name == n).unwrap();
        assert!(pos("validate") < pos("training_set"));
        assert!(pos("training_set") < pos("train_gbdt"));
        assert!(pos("heat") < pos("itemcf"));
        // Ordering-only waits: the tile-building tasks run one after another.
        assert!(pos("training_set") < pos("itemcf"));
        assert!(pos("itemcf") < pos("itemcf_previous_day"));
    }

    #[test]
    fn cycles_unknown_tasks_and_bad_overrides_are_refused() {
        let parse = |text: &str| -> Result<()> {
            let spec: WorkflowSpec = toml::from_str(text)?;
            spec.validate()
        };
        let cyc = r#"name="w"
description=""
[[tasks]]
name="a"
job="heat"
after=["b"]
[[tasks]]
name="b"
job="heat"
after=["a"]"#;
        assert!(format!("{:#}", parse(cyc).unwrap_err()).contains("cycle"));
        let unknown =
            "name=\"w\"\ndescription=\"\"\n[[tasks]]\nname=\"a\"\njob=\"heat\"\nafter=[\"x\"]";
        assert!(format!("{:#}", parse(unknown).unwrap_err()).contains("unknown task"));
        let waits =
            "name=\"w\"\ndescription=\"\"\n[[tasks]]\nname=\"a\"\njob=\"heat\"\nwait_for=[\"x\"]";
        assert!(format!("{:#}", parse(waits).unwrap_err()).contains("unknown task"));
        let bad = "name=\"w\"\ndescription=\"\"\n[[tasks]]\nname=\"a\"\njob=\"heat\"\nset={nope=1}";
        assert!(format!("{:#}", parse(bad).unwrap_err()).contains("unknown parameter"));
    }
}
