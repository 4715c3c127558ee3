//! Volley's on-disk caches (compiled components, built scripts, registry downloads): where
//! they live and which directories may be trusted. The compiled-code cache holds native code
//! that wasmtime loads without checking it, so a directory someone else can write is never
//! used: the caller works without it and the user is warned once per directory.

use std::collections::BTreeSet;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::logging::{self, Level};

/// Where cache `name` lives: `$VOLLEY_CACHE_DIR/NAME`, else `$XDG_CACHE_HOME/volley/NAME`,
/// else `~/.cache/volley/NAME` (else under the temporary directory). Compiled code is the
/// exception, kept where it always was: `$VOLLEY_CACHE_DIR` itself when that is set.
pub fn location(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("VOLLEY_CACHE_DIR").map(PathBuf::from) {
        return if name == COMPILED {
            dir
        } else {
            dir.join(name)
        };
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(|d| PathBuf::from(d).join("volley"))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("volley"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("volley"))
        .join(name)
}

/// The compiled-components cache.
pub const COMPILED: &str = "compiled";

/// Cache `name`'s directory when only this user can write it (see [`private_dir`]).
pub fn dir(name: &str) -> Option<PathBuf> {
    private_dir(&location(name))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_directory_others_can_write_is_untrusted() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("volley-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let fresh = root.join("a").join("b");
        assert_eq!(untrusted(&fresh), None, "created private");
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = untrusted(&fresh).unwrap();
        assert!(why.contains("777"), "{why}");
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o775)).unwrap();
        assert!(untrusted(&fresh).is_some(), "group-writable");
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(untrusted(&fresh), None);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&fresh, Some(65534), None).unwrap();
            let why = untrusted(&fresh).unwrap();
            assert!(why.contains("owned by uid 65534"), "{why}");
        }
        assert!(private_dir(&fresh).is_none());
        let _ = std::fs::remove_dir_all(&root);
    }
}
