//! Bounded transfers. Every registry read (an index or a component, over HTTP, from an OCI
//! registry or from a local file) stops at one size cap while it streams, and a network transfer
//! also at a connect and a whole-transfer timeout. A local source must be a regular file under
//! its index's directory.

use std::fs::{FileType, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

/// Default size cap of one download, MiB.
pub const DEFAULT_MAX_DOWNLOAD_MIB: u64 = 256;
/// The option (test-file key and CLI flag) that sets the cap.
pub const MAX_DOWNLOAD_KEY: &str = "registry-max-download-mib";
/// Longest a connection to a registry may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest one whole network download may take.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// Most bytes reserved up front for a body, whatever size it announces.
const MAX_PREALLOCATION: u64 = 8 << 20;

/// What one download may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Size cap, MiB.
    pub max_mib: u64,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-download timeout.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_mib: DEFAULT_MAX_DOWNLOAD_MIB,
            connect_timeout: CONNECT_TIMEOUT,
            timeout: DOWNLOAD_TIMEOUT,
        }
    }
}

/// A registry limit the user set that cannot be used (an invalid configuration).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct LimitError {
    /// The option, e.g. `registry-max-download-mib`.
    pub key: &'static str,
    /// What was wrong.
    pub reason: String,
}

impl Limits {
    /// The default limits with the cap `registry-max-download-mib` set to `mib`, if given.
    pub fn with_max_mib(mib: Option<u64>) -> Result<Limits, LimitError> {
        let invalid = |reason: String| LimitError {
            key: MAX_DOWNLOAD_KEY,
            reason,
        };
        match mib {
            None => Ok(Limits::default()),
            Some(0) => Err(invalid("expected at least 1 (MiB)".into())),
            Some(m) if m.checked_mul(1 << 20).is_none() => {
                Err(invalid(format!("{m} MiB does not fit in 64 bits of bytes")))
            }
            Some(m) => Ok(Limits {
                max_mib: m,
                ..Limits::default()
            }),
        }
    }

    /// The cap in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_mib.saturating_mul(1 << 20)
    }

    /// Refuses a body of `size` bytes (declared or received) over the cap.
    pub fn admit(&self, size: u64) -> Result<(), TransferError> {
        if size > self.max_bytes() {
            return Err(TransferError::TooLarge {
                cap_mib: self.max_mib,
            });
        }
        Ok(())
    }
}

/// Why a transfer stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The body is (or announces itself) larger than the cap.
    #[error(
        "larger than the registry download cap of {cap_mib} MiB (raise it with {MAX_DOWNLOAD_KEY})"
    )]
    TooLarge {
        /// The cap, MiB.
        cap_mib: u64,
    },
    /// The whole transfer took longer than its timeout.
    #[error("timed out after {after:?}")]
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// A local source breaks a rule.
    #[error("refused: {rule}")]
    Refused {
        /// The rule and how it was broken.
        rule: String,
    },
    /// Anything else: the network, the server's status, the file system.
    #[error("{0}")]
    Failed(String),
}

/// A body being received, refused as soon as it exceeds the cap.
pub(crate) struct Capped {
    limits: Limits,
    body: Vec<u8>,
}

impl Capped {
    /// Starts a body that announced `announced` bytes (refused at once when over the cap).
    pub(crate) fn new(limits: &Limits, announced: Option<u64>) -> Result<Capped, TransferError> {
        limits.admit(announced.unwrap_or(0))?;
        let reserve = announced.unwrap_or(0).min(MAX_PREALLOCATION);
        Ok(Capped {
            limits: *limits,
            body: Vec::with_capacity(usize::try_from(reserve).unwrap_or(0)),
        })
    }

    /// Appends `chunk`, or fails when the body would exceed the cap.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), TransferError> {
        self.limits
            .admit(self.body.len() as u64 + chunk.len() as u64)?;
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    /// The complete body.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.body
    }
}

/// Runs a network transfer under the whole-download timeout.
pub(crate) async fn within<T>(
    limits: &Limits,
    transfer: impl std::future::Future<Output = Result<T, TransferError>>,
) -> Result<T, TransferError> {
    tokio::time::timeout(limits.timeout, transfer)
        .await
        .unwrap_or(Err(TransferError::TimedOut {
            after: limits.timeout,
        }))
}

/// GETs `url` (http or https, system roots) within `limits`.
pub async fn download(url: &str, limits: &Limits) -> Result<Vec<u8>, TransferError> {
    let failed = |e: reqwest::Error| TransferError::Failed(e.to_string());
    let client = reqwest::Client::builder()
        .connect_timeout(limits.connect_timeout)
        .build()
        .map_err(failed)?;
    within(limits, async {
        let mut res = client.get(url).send().await.map_err(failed)?;
        if !res.status().is_success() {
            return Err(TransferError::Failed(format!(
                "HTTP status {}",
                res.status().as_u16()
            )));
        }
        let mut body = Capped::new(limits, res.content_length())?;
        while let Some(chunk) = res.chunk().await.map_err(failed)? {
            body.push(&chunk)?;
        }
        Ok(body.finish())
    })
    .await
}

/// Reads the local source `source` of an index in `dir`: a relative path that resolves (links
/// followed) under `dir` to a regular file no larger than the cap. Runs off the async workers.
pub async fn read_local_source(
    dir: &Path,
    source: &str,
    limits: &Limits,
) -> Result<Vec<u8>, TransferError> {
    let (dir, source, limits) = (dir.to_path_buf(), source.to_string(), *limits);
    tokio::task::spawn_blocking(move || read_local_source_now(&dir, &source, &limits))
        .await
        .map_err(|e| TransferError::Failed(e.to_string()))?
}

/// [`read_local_source`] on the calling thread.
pub fn read_local_source_now(
    dir: &Path,
    source: &str,
    limits: &Limits,
) -> Result<Vec<u8>, TransferError> {
    let refused = |rule: String| TransferError::Refused { rule };
    if Path::new(source).is_absolute() {
        return Err(refused(
            "an absolute path; a local source must be relative to the index's directory".into(),
        ));
    }
    let root = dir
        .canonicalize()
        .map_err(|e| TransferError::Failed(format!("index directory {}: {e}", dir.display())))?;
    let path = root
        .join(source)
        .canonicalize()
        .map_err(|e| TransferError::Failed(e.to_string()))?;
    if !path.starts_with(&root) {
        return Err(refused(format!(
            "it resolves to {}, outside the index's directory {}; a local source must stay under it",
            path.display(),
            root.display()
        )));
    }
    read_regular_file(&path, limits)
}

/// Reads `path` if it is a regular file no larger than the cap. The file is opened without
/// blocking (opening a FIFO for reading would wait for a writer) and its type is checked on the
/// open file, so nothing is read from a FIFO or a device.
pub fn read_regular_file(path: &Path, limits: &Limits) -> Result<Vec<u8>, TransferError> {
    let io = |e: std::io::Error| TransferError::Failed(e.to_string());
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(TransferError::Refused {
            rule: format!("it is {}, not a regular file", kind_of(meta.file_type())),
        });
    }
    let mut body = Capped::new(limits, Some(meta.len()))?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            return Ok(body.finish());
        }
        body.push(&buf[..n])?;
    }
}

/// "a FIFO", "a character device", … for messages.
fn kind_of(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}
