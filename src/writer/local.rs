//! The local-disk commit: a staged directory becomes the partition in one rename (an
//! exchange with the live one when there is one), after its files are synced.

use std::path::Path;

use anyhow::{Context, Result, bail};

pub(super) fn sync_dir_files(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot sync {}", path.display()))?;
    }
    std::fs::File::open(dir).and_then(|f| f.sync_all()).ok();
    Ok(())
}

/// Moves a staged directory to a new name that must not exist yet (model versions are
/// never overwritten), after syncing its files.
pub fn commit_new_dir(staged: &Path, target: &Path) -> Result<()> {
    sync_dir_files(staged)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if target.exists() {
        bail!(
            "{} exists already; versions are never overwritten",
            target.display()
        );
    }
    std::fs::rename(staged, target)
        .with_context(|| format!("cannot commit {} to {}", staged.display(), target.display()))?;
    sync_parent(target)
}

/// Moves `staged` to `target` atomically. When `target` exists the two are exchanged, so
/// `staged` then holds the previous version.
pub(super) fn commit_dir(staged: &Path, target: &Path) -> Result<()> {
    let parent = target.parent().context("partition path has no parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    for _ in 0..3 {
        if target.exists() {
            match exchange(staged, target) {
                Ok(()) => return sync_parent(target),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    // The filesystem cannot exchange: move the old version aside first. A crash
                    // between the two renames leaves the partition absent (never mixed).
                    let aside = staged.with_extension("old");
                    std::fs::rename(target, &aside)?;
                    std::fs::rename(staged, target)?;
                    std::fs::rename(&aside, staged)?;
                    return sync_parent(target);
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot commit {} to {}", staged.display(), target.display())
                    });
                }
            }
        } else {
            match std::fs::rename(staged, target) {
                Ok(()) => return sync_parent(target),
                // Someone committed the same partition meanwhile: exchange instead.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
                    continue;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot commit {} to {}", staged.display(), target.display())
                    });
                }
            }
        }
    }
    bail!(
        "cannot commit {}: the partition kept changing",
        target.display()
    )
}

fn sync_parent(target: &Path) -> Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::File::open(parent).and_then(|f| f.sync_all()).ok();
    }
    Ok(())
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated paths for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
