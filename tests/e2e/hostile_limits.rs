//! Hostile plugins against the sandbox (issue 13): each test runs one attack and asserts the
//! observable defence. These are the attacks on host memory through metrics, groups, checks and
//! logs (`tests/components/hostile-limits`): each runs once on one VU while the host's peak RSS is
//! measured, and the child is killed as soon as it passes the bound, so a regression fails fast
//! instead of taking the machine down.

use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{check, component, read_json, scratch, volley};

/// What one measured run gave.
struct Measured {
    code: i32,
    stderr: String,
    summary: serde_json::Value,
    /// Peak resident set of the `volley` process, MiB.
    peak_mib: u64,
    elapsed: Duration,
}

/// The process's peak RSS so far (`VmHWM`), KiB; `None` once it has exited.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A child that `wait4` reaps by pid: killed and reaped on drop unless reaped already (a failed
/// assertion must not leave it running, and a reaped pid must not be signalled).
struct Unreaped(Option<std::process::Child>);

impl Drop for Unreaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs attack `exec` once on one VU with `env` (TOML `KEY = "value"` lines), measuring the
/// host's peak RSS: `VmHWM` polled while it runs (killing it past `bound_mib`), then the exact
/// `ru_maxrss` when it is reaped.
fn attack(exec: &str, env: &str, bound_mib: u64) -> Measured {
    let dir = scratch(&format!("limits-{exec}"));
    let test = dir.join("test.toml");
    let export = dir.join("summary.json");
    let toml = format!(
        "plugin = \"{}\"\n[scenarios.attack]\nexecutor = \"per-vu-iterations\"\nvus = 1\n\
         iterations = 1\nexec = \"{exec}\"\n[env]\n{env}\n",
        component("hostile_limits").display()
    );
    std::fs::write(&test, toml).unwrap();
    let started = Instant::now();
    let mut child = Unreaped(Some(
        volley()
            .arg("run")
            .arg(&test)
            .arg("--summary-export")
            .arg(&export)
            .arg("-q")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let pid = child.0.as_ref().unwrap().id();
    let mut stderr = child.0.as_mut().unwrap().stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let (mut peak_kib, mut status) = (0u64, 0i32);
    // SAFETY: an all-zero rusage is valid; wait4 only writes the status and the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        if peak_kib > bound_mib << 10 {
            let _ = child.0.as_mut().unwrap().kill();
        }
        // SAFETY: as above; `pid` is our child, reaped only here.
        let reaped = unsafe { libc::wait4(pid as i32, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid as i32 {
            // Reaped: its pid is no longer ours to kill.
            child.0 = None;
            break;
        }
        assert!(reaped == 0, "wait4 failed");
        // Measurement cadence only: the loop ends when the child is reaped.
        thread::sleep(Duration::from_millis(20));
    }
    let peak_kib = peak_kib.max(usage.ru_maxrss as u64);
    let stderr = reader.join().unwrap();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let peak_mib = peak_kib >> 10;
    assert!(
        peak_mib < bound_mib,
        "attack {exec}: the host's peak RSS reached {peak_mib} MiB (bound {bound_mib} MiB)\n{}",
        tail(&stderr)
    );
    assert_eq!(code, 0, "attack {exec}\n{}", tail(&stderr));
    let summary = read_json(&PathBuf::from(&export));
    eprintln!("attack {exec}: peak RSS {peak_mib} MiB");
    Measured {
        code,
        stderr,
        summary,
        peak_mib,
        elapsed: started.elapsed(),
    }
}

/// The last few KiB of `text`, for failure messages.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(4096);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[test]
fn distinct_tags_on_one_trend_are_capped_and_counted() {
    // Unbounded (main at 565e8e0): 18.9 GB for 100,000 tag sets, one histogram each.
    let m = attack("tags", "COUNT = \"100000\"", 400);
    assert!(
        m.stderr
            .contains("metric 'hostile_trend' reached its limit of 10000 tag sets"),
        "{}",
        tail(&m.stderr)
    );
    assert!(
        m.stderr.contains("Tag 'id' varies most"),
        "{}",
        tail(&m.stderr)
    );
    assert!(m.stderr.contains("'name' tag"), "{}", tail(&m.stderr));
    // Past the metric's limit, and a few past the run's 100,000 tag sets (the run's own sets
    // take some of them).
    assert!(
        m.stderr
            .contains("90000 metric samples were dropped by the tag-set limits (hostile_trend: "),
        "{}",
        tail(&m.stderr)
    );
    let trend = &m.summary["metrics"]["hostile_trend"]["values"];
    assert_eq!(trend["count"], 10_000, "{trend}");
    assert_eq!(
        m.summary["iterations"]["complete"], 1,
        "the VU's own samples are kept"
    );
}

#[test]
fn deep_groups_with_long_names_are_refused() {
    // Unbounded: 18.7 GB within a minute (a path of every name above it, per sample).
    let m = attack("groups", "COUNT = \"5000\"\nBYTES = \"65536\"", 300);
    assert!(
        m.stderr
            .contains("a group deeper than 32 levels or with a name longer than 1024 bytes"),
        "{}",
        tail(&m.stderr)
    );
    // The checks inside still count, under the enclosing (no) group.
    assert_eq!(check(&m.summary, "inside a group")["passes"], 5000);
    let short = attack("groups", "COUNT = \"5000\"\nBYTES = \"16\"", 300);
    assert_eq!(check(&short.summary, "inside a group")["passes"], 5000);
    assert!(short.stderr.contains("a group deeper than 32 levels"));
}

#[test]
fn long_check_names_are_refused_and_counted() {
    // Unbounded: every 64 KiB name is interned for the run (>1.3 GB for these).
    let m = attack("checks", "COUNT = \"20000\"\nBYTES = \"65536\"", 300);
    assert!(
        m.stderr
            .contains("a check name longer than 1024 bytes was refused"),
        "{}",
        tail(&m.stderr)
    );
    assert!(
        m.stderr.contains("20000 metric samples were dropped"),
        "{}",
        tail(&m.stderr)
    );
}

#[test]
fn distinct_checks_are_capped_naming_the_check_tag() {
    let m = attack("checks", "COUNT = \"20000\"\nBYTES = \"16\"", 300);
    assert!(
        m.stderr
            .contains("metric 'checks' reached its limit of 1000 tag sets"),
        "{}",
        tail(&m.stderr)
    );
    assert!(
        m.stderr.contains("Tag 'check' varies most"),
        "{}",
        tail(&m.stderr)
    );
    assert!(
        m.stderr
            .contains("19000 metric samples were dropped by the tag-set limits (checks: 19000)"),
        "{}",
        tail(&m.stderr)
    );
    assert_eq!(m.summary["checks"].as_array().unwrap().len(), 1000);
}

#[test]
fn guest_logs_are_limited_in_bytes_and_escaped() {
    let m = attack("logs", "COUNT = \"2000\"\nBYTES = \"65536\"", 300);
    let guest: Vec<&str> = m
        .stderr
        .lines()
        .filter(|l| l.contains("source=console"))
        .collect();
    assert!(!guest.is_empty(), "{}", tail(&m.stderr));
    assert!(
        !m.stderr.contains('\x1b') && !m.stderr.contains('\x07'),
        "control characters reached the terminal"
    );
    assert!(
        guest.iter().all(|l| l.contains("\\u{1b}[2J")),
        "escaped, not removed"
    );
    assert!(
        guest
            .iter()
            .all(|l| l.len() <= 2048 + 200 && l.contains("more bytes cut")),
        "lines are cut at 2 KiB"
    );
    // 16 KiB per second for the one VU, whatever it writes (130 MB here).
    let guest_bytes: usize = guest.iter().map(|l| l.len()).sum();
    let allowed = 16 * 1024 * (m.elapsed.as_secs() as usize + 2) * 11 / 10;
    assert!(
        guest_bytes <= allowed,
        "{guest_bytes} bytes logged, allowed {allowed}"
    );
    assert!(
        m.stderr
            .contains("guest log lines were dropped by the rate limit"),
        "{}",
        tail(&m.stderr)
    );
    assert!(m.peak_mib > 0 && m.code == 0);
}
