//! Which cache directories may be trusted. The compiled-code cache holds native code that
//! wasmtime loads without checking it, so a directory someone else can write is never used:
//! the caller works without the cache and the user is warned once per directory.

use std::collections::BTreeSet;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::logging::{self, Level};

/// `dir` (created with mode 0700 when absent) if only this user can write it; otherwise `None`,
/// with a warning naming the directory the first time it is refused.
pub fn private_dir(dir: &Path) -> Option<PathBuf> {
    match untrusted(dir) {
        None => Some(dir.to_path_buf()),
        Some(reason) => {
            warn_once(dir, &reason);
            None
        }
    }
}

/// Why `dir` cannot be trusted (created first when absent), or `None` when it can: it must be a
/// directory owned by this user and writable by neither its group nor others.
pub fn untrusted(dir: &Path) -> Option<String> {
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        return Some(format!("cannot create it: {e}"));
    }
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) => return Some(e.to_string()),
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if !meta.is_dir() {
        Some("it is not a directory".into())
    } else if meta.uid() != uid {
        Some(format!(
            "it is owned by uid {}, not by uid {uid}",
            meta.uid()
        ))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "its mode {:o} lets others write it",
            meta.mode() & 0o7777
        ))
    } else {
        None
    }
}

fn warn_once(dir: &Path, reason: &str) {
    static WARNED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let first = WARNED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(dir.to_path_buf());
    if first {
        logging::host(
            Level::Warn,
            &format!(
                "cache directory {} is not used ({reason}); working without it",
                dir.display()
            ),
        );
    }
}
