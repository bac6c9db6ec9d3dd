//! `liverec jobs`: every job with its parameters and defaults.

use anyhow::Result;

use crate::job::JobSpec;

pub fn run() -> Result<()> {
    for name in crate::project::list("jobs/", ".toml") {
        let job = JobSpec::load(&name)?;
        println!("{name}: {}", job.description);
        for (p, spec) in &job.params {
            let default = spec
                .default
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "(required)".into());
            println!(
                "    --set {p}=<{:?}> default {default}  {}",
                spec.ty, spec.doc
            );
        }
    }
    Ok(())
}
