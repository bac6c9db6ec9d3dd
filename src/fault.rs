//! Fault injection for tests and drills: documented debug settings (docs/workflow.md), read
//! from the environment, that make a run pause or fail at a named point so a test can observe
//! or kill it at a known moment. Unset, they cost one environment lookup at each point.
//!
//! - `LIVEREC_FAULT_SLEEP_MS_<POINT>=ms` pauses at `<POINT>` (`BEFORE_COMMIT`: a partition
//!   fully staged, its commit not done; `PARTITION_WRITE`: an executor's file half written;
//!   `JOB_START`: a job about to start; `FIT`: a model fit under way), logging the pause first.
//! - `LIVEREC_FAULT_FAIL_ATTEMPTS=job:n[,job:n…]` fails the first `n` attempts of `job` (a
//!   workflow passes each child its attempt number as `LIVEREC_ATTEMPT`).

/// The pause `LIVEREC_FAULT_SLEEP_MS_<POINT>` asks for at `point`, if any.
pub fn pause_ms(point: &str) -> Option<u64> {
    let var = format!("LIVEREC_FAULT_SLEEP_MS_{}", point.to_ascii_uppercase());
    std::env::var(&var).ok().and_then(|v| v.parse::<u64>().ok())
}

/// Pauses the thread at `point` when asked to (for synchronous code such as a commit).
pub fn pause_blocking(point: &str) {
    if let Some(ms) = pause_ms(point) {
        tracing::warn!("fault point {point}: sleeping {ms} ms");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Pauses the task at `point` when asked to; `what` names where, for the log line.
pub async fn pause(point: &str, what: &str) {
    if let Some(ms) = pause_ms(point) {
        tracing::warn!("fault point {point}: sleeping {ms} ms in {what}");
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// The injected failure of this attempt of `job`, if `LIVEREC_FAULT_FAIL_ATTEMPTS` asks for one.
pub fn injected_failure(job: &str) -> Option<String> {
    let spec = std::env::var("LIVEREC_FAULT_FAIL_ATTEMPTS").ok()?;
    let attempt: u32 = std::env::var("LIVEREC_ATTEMPT")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    spec.split(',').find_map(|item| {
        let (name, n) = item.split_once(':')?;
        let n: u32 = n.trim().parse().ok()?;
        (name.trim() == job && attempt <= n).then(|| {
            format!("injected fault: attempt {attempt} of job `{job}` fails (LIVEREC_FAULT_FAIL_ATTEMPTS)")
        })
    })
}
