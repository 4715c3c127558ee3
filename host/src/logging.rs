//! The host's log: k6-style `level=… msg=…` lines on stderr (or where k6's `--log-output`,
//! `--log-format` and `--console-output` send them, see [`configure`]), rate-limited so a chatty
//! guest cannot flood the terminal: in lines for the whole run, in bytes per VU, and in bytes
//! per line. Control characters a guest writes are escaped. Suppressed lines are counted and
//! reported. Every stderr line goes through here, so a line printed while the progress block is
//! drawn in place on a terminal first clears the block (which is redrawn under it next second).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Guest log lines allowed per second (all VUs) before lines are dropped.
const LINES_PER_SECOND: u64 = 50;
/// Guest log bytes one VU may write per second; past it, the VU's lines are dropped (counted in
/// [`suppressed`]) until the next second.
pub const BYTES_PER_SECOND_PER_VU: u64 = 16 << 10;
/// Longest guest log line in bytes; the rest is cut and the line says how much.
pub const MAX_LINE_BYTES: usize = 2048;

/// The current one-second window and the lines logged in it: `second << 32 | count`.
static WINDOW: AtomicU64 = AtomicU64::new(0);
static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
/// Lines of the block drawn in place at the bottom of the terminal (0: none).
static BLOCK: AtomicUsize = AtomicUsize::new(0);

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

/// How log lines are written (k6's `--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `level=info msg="…" source=console vu=3`, and `time="…"` first in a file.
    Text,
    /// One JSON object a line: `level`, `msg`, `source`, `time`, as k6's.
    Json,
    /// The message alone.
    Raw,
}

/// Where lines go.
#[derive(Debug)]
enum Sink {
    Stderr,
    Stdout,
    Discard,
    /// Appended to, as k6 does (several shards of a run write the same file).
    File(Mutex<File>),
}

#[derive(Debug)]
struct Destinations {
    format: Format,
    log: Sink,
    /// Guest (console) lines, when not the log's.
    console: Option<Sink>,
}

static DESTINATIONS: OnceLock<Destinations> = OnceLock::new();

/// A log setting Volley cannot take.
#[derive(Debug, thiserror::Error)]
pub enum LogSetupError {
    /// `--log-output` names no output Volley writes.
    #[error("--log-output '{0}' is not a log output: use stderr, stdout, none, file=PATH or loki")]
    Output(String),
    /// `--log-format` names no format.
    #[error("--log-format '{0}' is not a log format: use text, json or raw")]
    Format(String),
    /// A log file cannot be opened.
    #[error("cannot open the log file {}: {source}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Sends the log (k6's `--log-output`: `stderr`, `stdout`, `none`, `file=PATH`) and guest
/// console lines (`--console-output FILE`) where asked, written in `--log-format`. Call once,
/// before the first line; without it, every line goes to stderr as text.
pub fn configure(
    output: Option<&str>,
    format: Option<&str>,
    console: Option<&Path>,
) -> Result<(), LogSetupError> {
    let format = match format.unwrap_or("text") {
        "" | "text" => Format::Text,
        "json" => Format::Json,
        "raw" => Format::Raw,
        other => return Err(LogSetupError::Format(other.into())),
    };
    let output = output.unwrap_or("stderr");
    // k6 also pushes to Loki: accepted, and the log stays on stderr.
    let loki = output == "loki" || output.starts_with("loki=");
    let log = match output {
        "" | "stderr" => Sink::Stderr,
        _ if loki => Sink::Stderr,
        "stdout" => Sink::Stdout,
        "none" => Sink::Discard,
        other => {
            // k6 takes `file=PATH` and optional `,level=…` after it; the level is not applied.
            let path = other
                .strip_prefix("file=")
                .map(|rest| rest.split(',').next().unwrap_or_default())
                .filter(|path| !path.is_empty())
                .ok_or_else(|| LogSetupError::Output(other.into()))?;
            append_to(Path::new(path))?
        }
    };
    let console = console.map(append_to).transpose()?;
    let _ = DESTINATIONS.set(Destinations {
        format,
        log,
        console,
    });
    if loki {
        host(
            Level::Warn,
            "--log-output loki is accepted and not acted on: logs go to stderr",
        );
    }
    Ok(())
}

fn append_to(path: &Path) -> Result<Sink, LogSetupError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(|f| Sink::File(Mutex::new(f)))
        .map_err(|source| LogSetupError::File {
            path: path.to_path_buf(),
            source,
        })
}

fn destinations() -> &'static Destinations {
    DESTINATIONS.get_or_init(|| Destinations {
        format: Format::Text,
        log: Sink::Stderr,
        console: None,
    })
}

impl Sink {
    fn write(&self, text: &str) {
        match self {
            Sink::Stderr => to_stderr(text),
            Sink::Stdout => to_stdout(text),
            Sink::Discard => {}
            Sink::File(f) => {
                let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                // One write per line, so lines of several processes appending do not interleave.
                let _ = f.write_all(format!("{text}\n").as_bytes());
            }
        }
    }
}

/// Writes a host message (never rate-limited).
pub fn host(level: Level, msg: &str) {
    let d = destinations();
    d.log.write(&render(d.format, &d.log, level, msg, None));
}

/// Writes a line a shard printed on its stderr where this process's log goes (stdout or
/// stderr; a shard writes its own log file).
pub fn relay(text: &str) {
    match destinations().log {
        Sink::Stdout => to_stdout(text),
        _ => to_stderr(text),
    }
}

/// Writes `text` and a newline to stderr. A closed or failing stream is ignored: a reader that
/// went away must not turn into a panic of the run (as `eprintln!` would).
pub fn to_stderr(text: &str) {
    let _ = write_line(&mut std::io::stderr().lock(), &BLOCK, text);
}

/// Draws `lines` in place of the block drawn last (the terminal's progress block): the cursor
/// goes back up over it, each line clears what it overwrites, and leftover lines are cleared.
pub fn redraw_block(lines: &[String]) {
    let _ = write_block(&mut std::io::stderr().lock(), &BLOCK, lines);
}

/// Writes `text` on its own line; a block drawn in place is cleared first, so the line takes its
/// place instead of landing among its lines (and the next draw starts under the line).
/// Leaves the block drawn last where it is: later lines go under it (the final progress block).
pub fn keep_block() {
    BLOCK.store(0, Ordering::Relaxed);
}

fn write_line(out: &mut impl Write, block: &AtomicUsize, text: &str) -> std::io::Result<()> {
    match block.swap(0, Ordering::Relaxed) {
        0 => {}
        n => write!(out, "\x1b[{n}A\x1b[J")?,
    }
    writeln!(out, "{text}")
}

fn write_block(out: &mut impl Write, block: &AtomicUsize, lines: &[String]) -> std::io::Result<()> {
    match block.swap(0, Ordering::Relaxed) {
        0 => {}
        n => write!(out, "\x1b[{n}A")?,
    }
    for l in lines {
        writeln!(out, "{l}\x1b[K")?;
    }
    write!(out, "\x1b[J")?;
    block.store(lines.len(), Ordering::Relaxed);
    Ok(())
}

/// Writes `text` and a newline to stdout, ignoring a closed stream (`volley run | head`).
pub fn to_stdout(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// One VU's guest log: its source (`vu=3`) and its bytes-per-second allowance.
#[derive(Debug)]
pub struct GuestLog {
    source: String,
    /// The current one-second window and the bytes written in it: `second << 32 | bytes`.
    window: AtomicU64,
}

impl GuestLog {
    /// The log of the VU `source` names (e.g. `vu=3`).
    pub fn new(source: String) -> Self {
        GuestLog {
            source,
            window: AtomicU64::new(0),
        }
    }

    /// Writes a guest line, subject to the rate limits; `cut` bytes were already cut from it.
    pub fn write(&self, level: Level, msg: &str, cut: usize) {
        let (msg, cut) = truncate(msg, cut);
        let cost = msg.len().max(1) as u64;
        if !take(&self.window, cost, BYTES_PER_SECOND_PER_VU) || !take(&WINDOW, 1, LINES_PER_SECOND)
        {
            SUPPRESSED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let text = match cut {
            0 => msg.to_string(),
            n => format!("{} [{n} more bytes cut]", msg.trim_end()),
        };
        let d = destinations();
        match &d.console {
            // As k6's console file: the line without `source=console`.
            Some(sink) => sink.write(&render(d.format, sink, level, &text, Some(""))),
            None => d
                .log
                .write(&render(d.format, &d.log, level, &text, Some(&self.source))),
        }
    }
}

/// `msg` cut to [`MAX_LINE_BYTES`] at a character boundary, and the bytes cut in all.
fn truncate(msg: &str, cut: usize) -> (&str, usize) {
    if msg.len() <= MAX_LINE_BYTES {
        return (msg, cut);
    }
    let end = (0..=MAX_LINE_BYTES)
        .rev()
        .find(|&i| msg.is_char_boundary(i))
        .unwrap_or(0);
    (&msg[..end], cut + msg.len() - end)
}

/// Takes `cost` from the current second's allowance of `limit` in `window` (one
/// compare-and-swap, no lock). A caller whose clock reading is older than the window counts
/// against the current window; a first use in a new second always passes.
fn take(window: &AtomicU64, cost: u64, limit: u64) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        & 0xffff_ffff;
    let mut current = window.load(Ordering::Relaxed);
    loop {
        let (second, used) = (current >> 32, current & 0xffff_ffff);
        let next = if now > second {
            now << 32 | cost.min(limit)
        } else if used + cost <= limit {
            second << 32 | (used + cost)
        } else {
            return false;
        };
        match window.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(seen) => current = seen,
        }
    }
}

/// Whether `c` could drive a terminal or reorder what it shows (control characters and the
/// bidirectional overrides): text from a guest or a server is printed with these escaped.
pub fn drives_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `msg` for a quoted `msg="…"` field: quotes and backslashes escaped, and control characters
/// (but tab) and bidirectional overrides too, so a guest's text (in its own lines or in host
/// messages quoting it) cannot move the cursor, recolour the terminal or forge log lines.
/// Host messages (`guest` false) keep their own line breaks.
fn escape(msg: &str, guest: bool) -> String {
    let mut out = String::with_capacity(msg.len());
    for c in msg.trim_end().chars() {
        match c {
            '\t' => out.push(c),
            '\n' if !guest => out.push(c),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if drives_terminal(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// How many guest lines the rate limits (lines per run, bytes per VU) dropped so far.
pub fn suppressed() -> u64 {
    SUPPRESSED.load(Ordering::Relaxed)
}

/// A line in `format`: `source` is a guest's (`vu=3`; empty in a console file), `None` for the
/// host's. A file's text lines start with the time, as k6's.
fn render(format: Format, sink: &Sink, level: Level, msg: &str, source: Option<&str>) -> String {
    match format {
        Format::Raw => escape(msg, source.is_some()),
        Format::Json => {
            let mut object = serde_json::json!({
                "level": level.as_str(),
                "msg": msg.trim_end(),
                "time": now_seconds(),
            });
            if let Some(src) = source.filter(|s| !s.is_empty()) {
                object["source"] = "console".into();
                if let Some((key, value)) = src.split_once('=') {
                    object[key] = value.into();
                }
            }
            object.to_string()
        }
        Format::Text => {
            let text = line(level, msg, source.filter(|s| !s.is_empty()));
            match sink {
                Sink::File(_) => format!("time=\"{}\" {text}", now_seconds()),
                _ => text,
            }
        }
    }
}

/// The time now as k6's log writes it: `2026-11-30T13:43:44Z`.
fn now_seconds() -> String {
    let full = crate::output::stream::rfc3339(SystemTime::now());
    match full.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => full,
    }
}

fn line(level: Level, msg: &str, source: Option<&str>) -> String {
    let escaped = escape(msg, source.is_some());
    match source {
        Some(src) => format!(
            "level={} msg=\"{escaped}\" source=console {src}",
            level.as_str()
        ),
        None => format!("level={} msg=\"{escaped}\"", level.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_but_tabs_kept() {
        assert_eq!(escape("host\nlines\x1b", false), "host\nlines\\u{1b}");
        let e = escape("a\tb\x1b[2Jc\rd\ne\u{7}\u{202e}f\u{85}\"\\", true);
        assert_eq!(e, "a\tb\\u{1b}[2Jc\\rd\\ne\\u{7}\\u{202e}f\\u{85}\\\"\\\\");
        assert!(!e.chars().any(|c| c.is_control() && c != '\t'));
    }

    #[test]
    fn lines_are_cut_at_a_char_boundary() {
        let long = "é".repeat(MAX_LINE_BYTES);
        let (kept, cut) = truncate(&long, 5);
        assert!(kept.len() <= MAX_LINE_BYTES && kept.len() + cut - 5 == long.len());
        assert_eq!(truncate("short", 0), ("short", 0));
    }

    #[test]
    fn the_byte_allowance_is_per_window() {
        let w = AtomicU64::new(0);
        assert!(take(
            &w,
            BYTES_PER_SECOND_PER_VU - 10,
            BYTES_PER_SECOND_PER_VU
        ));
        assert!(take(&w, 10, BYTES_PER_SECOND_PER_VU));
        assert!(!take(&w, 1, BYTES_PER_SECOND_PER_VU));
        // An old window: the next second starts over.
        let w = AtomicU64::new(5 << 32 | BYTES_PER_SECOND_PER_VU);
        assert!(take(&w, 1, BYTES_PER_SECOND_PER_VU));
    }

    /// A log line between two redraws of the block clears the block and takes its place, and
    /// the next redraw goes under the line instead of moving up over it.
    #[test]
    fn a_line_between_redraws_clears_the_block() {
        let block = AtomicUsize::new(0);
        let mut out = Vec::new();
        let lines = ["running".to_string(), "default [===>---]".to_string()];
        write_block(&mut out, &block, &lines).unwrap();
        write_block(&mut out, &block, &lines).unwrap();
        write_line(&mut out, &block, "level=warning msg=late").unwrap();
        write_block(&mut out, &block, &lines).unwrap();
        write_line(&mut out, &block, "level=info msg=again").unwrap();
        write_line(&mut out, &block, "level=info msg=plain").unwrap();
        let block_text = "running\x1b[K\ndefault [===>---]\x1b[K\n\x1b[J";
        assert_eq!(
            String::from_utf8(out).unwrap(),
            [
                block_text,
                "\x1b[2A",
                block_text,
                "\x1b[2A\x1b[Jlevel=warning msg=late\n",
                block_text,
                "\x1b[2A\x1b[Jlevel=info msg=again\n",
                "level=info msg=plain\n",
            ]
            .concat()
        );
    }
}
