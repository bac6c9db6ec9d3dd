//! The run lock of a workflow and day.

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::storage::Storage;

/// The run lock of a workflow and day: an object `LOCK` created only if absent (a create-only
/// put: `If-None-Match: *` on S3, a hard link on local disk), removed when the run ends.
pub struct Lock {
    dir: Storage,
    released: bool,
}

/// Who holds a lock: enough to tell, on the same host, whether that process still runs.
#[derive(Serialize, Deserialize)]
struct LockInfo {
    pid: u32,
    host: String,
    run_id: String,
    started: DateTime<Utc>,
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat`): a live pid
    /// with another start time is another process that reused the number.
    #[serde(default)]
    process_start: Option<u64>,
}

impl LockInfo {
    /// Whether the owner is a process that still runs on this host (false when it ran on
    /// another host: that cannot be checked from here).
    fn owner_alive_here(&self) -> bool {
        self.host == hostname()
            && process_start(self.pid)
                .is_some_and(|start| self.process_start.is_none_or(|recorded| recorded == start))
    }
}

use crate::layout::RUN_LOCK as LOCK_FILE;

impl Lock {
    pub async fn acquire(dir: &Storage, run_id: &str, break_lock: bool) -> Result<Self> {
        if break_lock && dir.exists(LOCK_FILE).await? {
            let old = dir.read(LOCK_FILE).await.unwrap_or_default();
            let holder: Option<LockInfo> = serde_json::from_slice(&old).ok();
            if let Some(h) = holder.as_ref().filter(|h| h.owner_alive_here()) {
                bail!(
                    "--break-lock refused: {} is held by run {} whose process (pid {} on {}) is still running; stop it first",
                    dir.at(LOCK_FILE).loc,
                    h.run_id,
                    h.pid,
                    h.host
                );
            }
            tracing::warn!(
                "breaking the lock {} ({})",
                dir.at(LOCK_FILE).loc,
                String::from_utf8_lossy(&old).trim()
            );
            dir.delete(LOCK_FILE).await?;
        }
        let pid = std::process::id();
        let info = LockInfo {
            pid,
            host: hostname(),
            run_id: run_id.to_string(),
            started: Utc::now(),
            process_start: process_start(pid),
        };
        let body = serde_json::to_vec(&info)?.into();
        match dir.write_if(LOCK_FILE, body, None).await? {
            crate::storage::Conditional::Written => Ok(Self {
                dir: dir.clone(),
                released: false,
            }),
            crate::storage::Conditional::Conflict => {
                let held: Option<LockInfo> = dir
                    .read(LOCK_FILE)
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                let who = held.map_or("an unknown run".to_string(), |h| {
                    format!(
                        "run {} (pid {} on {}, since {})",
                        h.run_id, h.pid, h.host, h.started
                    )
                });
                bail!(
                    "{} is locked by {who}; if that run is no longer active (killed), rerun with --break-lock",
                    dir.at(LOCK_FILE).loc
                )
            }
        }
    }

    /// Removes the lock.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        self.dir.delete(LOCK_FILE).await
    }
}

impl Drop for Lock {
    /// A run that ends by an error still removes its lock (on a thread of its own, since
    /// drop cannot await).
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let dir = self.dir.clone();
        let removed = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(dir.delete(LOCK_FILE))
        })
        .join();
        if !matches!(removed, Ok(Ok(()))) {
            tracing::warn!("cannot remove the run lock {}", self.dir.at(LOCK_FILE).loc);
        }
    }
}

/// A running process's start time (field 22 of `/proc/<pid>/stat`), or None when no such
/// process runs here.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = stat.rsplit_once(')')?.1;
    let state = after.split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    after.split_whitespace().nth(19)?.parse().ok()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_owner_is_told_from_a_dead_one() {
        let me = std::process::id();
        let start = process_start(me).expect("this process runs");
        let info = |pid, process_start| LockInfo {
            pid,
            host: hostname(),
            run_id: "r".into(),
            started: Utc::now(),
            process_start,
        };
        assert!(info(me, Some(start)).owner_alive_here());
        assert!(info(me, None).owner_alive_here());
        // The same pid started at another time is another process.
        assert!(!info(me, Some(start + 1)).owner_alive_here());
        // No process with that pid.
        assert!(!info(u32::MAX - 7, None).owner_alive_here());
        let elsewhere = LockInfo {
            host: "another-host".into(),
            ..info(me, Some(start))
        };
        assert!(!elsewhere.owner_alive_here());
    }
}
