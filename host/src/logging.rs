//! The host's log: k6-style `time=… level=… msg=…` lines on stderr, rate-limited so a chatty
//! guest cannot flood the terminal. Suppressed lines are counted and reported.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Log lines allowed per second before lines are dropped.
const LINES_PER_SECOND: u64 = 50;

/// The current one-second window and the lines logged in it: `second << 32 | count`.
static WINDOW: AtomicU64 = AtomicU64::new(0);
static SUPPRESSED: AtomicU64 = AtomicU64::new(0);

/// A log line's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Diagnostics.
    Debug,
    /// Information.
    Info,
    /// Warnings.
    Warn,
    /// Errors.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

/// Writes a host message (never rate-limited).
pub fn host(level: Level, msg: &str) {
    eprintln!("{}", line(level, msg, None));
}

/// Writes a guest message, subject to the rate limit. `source` is e.g. `vu=3`.
pub fn guest(level: Level, msg: &str, source: &str) {
    if !admit() {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    eprintln!("{}", line(level, msg, Some(source)));
}

/// Takes one line from the current second's allowance (one compare-and-swap, no lock). A caller
/// whose clock reading is older than the window counts against the current window.
fn admit() -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        & 0xffff_ffff;
    let mut current = WINDOW.load(Ordering::Relaxed);
    loop {
        let (second, count) = (current >> 32, current & 0xffff_ffff);
        let next = if now > second {
            now << 32 | 1
        } else if count < LINES_PER_SECOND {
            second << 32 | (count + 1)
        } else {
            return false;
        };
        match WINDOW.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(seen) => current = seen,
        }
    }
}

/// How many guest lines the rate limit dropped so far.
pub fn suppressed() -> u64 {
    SUPPRESSED.load(Ordering::Relaxed)
}

fn line(level: Level, msg: &str, source: Option<&str>) -> String {
    let escaped = msg.trim_end().replace('\\', "\\\\").replace('"', "\\\"");
    match source {
        Some(src) => format!(
            "level={} msg=\"{escaped}\" source=console {src}",
            level.as_str()
        ),
        None => format!("level={} msg=\"{escaped}\"", level.as_str()),
    }
}
