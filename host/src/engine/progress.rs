//! The live progress block k6 prints on stderr: a running line plus one line per scenario, laid
//! out as k6 v1 lays it out (name, status, bar, VUs, time, the executor's own text). On a terminal
//! the bar is drawn (`[======>-----]`, as wide as fits) and the block redrawn in place every
//! second; otherwise k6's percentage (`[  58% ]`) in a plain block every few seconds. When the aggregate
//! keeps its per-second series, a line under the running line shows the newest closed second:
//! requests/s, latency p(95) and p(99), failed requests and checks.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::vu_task::ScenarioCounters;
use crate::config::TestConfig;
use crate::duration::format_duration;
use crate::logging;
use crate::metrics::Aggregate;
use crate::output::format;
use crate::plan::segment::ExecutionTuple;
use crate::plan::Scenario;

/// Seconds between plain (non-terminal) progress blocks.
const PLAIN_EVERY: u64 = 5;

/// Progress state.
pub struct Progress {
    start: Instant,
    scenarios: Vec<Scenario>,
    local_max: Vec<u32>,
    local_iterations: Vec<u64>,
    counters: Vec<Arc<ScenarioCounters>>,
    active: Arc<AtomicU64>,
    vus_max: u32,
    tty: bool,
    ticks: u64,
    aggregate: Arc<Aggregate>,
}

impl Progress {
    /// Progress for `test`.
    pub fn new(
        start: Instant,
        test: &TestConfig,
        tuple: &ExecutionTuple,
        counters: Vec<Arc<ScenarioCounters>>,
        active: Arc<AtomicU64>,
        aggregate: Arc<Aggregate>,
    ) -> Self {
        Progress {
            start,
            scenarios: test.scenarios.clone(),
            local_max: test
                .scenarios
                .iter()
                .map(|s| s.local_max_vus(tuple))
                .collect(),
            local_iterations: test
                .scenarios
                .iter()
                .map(|s| s.local_iterations(tuple))
                .collect(),
            counters,
            active,
            vus_max: test.local_max_vus(tuple),
            tty: std::io::stderr().is_terminal(),
            ticks: 0,
            aggregate,
        }
    }

    /// Called every second.
    pub fn tick(&mut self) {
        self.ticks += 1;
        if self.tty || self.ticks.is_multiple_of(PLAIN_EVERY) {
            self.draw();
        }
    }

    /// Prints the final block, which stays (later lines go under it).
    pub fn finish(&mut self) {
        self.draw();
        logging::keep_block();
    }

    fn draw(&mut self) {
        let elapsed = self.start.elapsed();
        let (complete, interrupted) = self.counters.iter().fold((0, 0), |(c, i), k| {
            (
                c + k.complete.load(Ordering::Relaxed),
                i + k.interrupted.load(Ordering::Relaxed),
            )
        });
        let mut lines = vec![format!(
            "running ({}), {:02}/{:02} VUs, {complete} complete and {interrupted} interrupted iterations",
            clock(elapsed),
            self.active.load(Ordering::Relaxed),
            self.vus_max
        )];
        if let Some(p) = self.aggregate.latest_second().filter(|p| p.requests > 0) {
            lines.push(format!(
                "  second {}: {} req/s, p(95)={}, p(99)={}, {} failed, checks {}",
                p.second + 1,
                p.requests,
                format::time_ms(p.p95),
                format::time_ms(p.p99),
                format::percent(p.failed, p.requests),
                format::percent(p.checks_passed, p.checks),
            ));
        }
        let bars: Vec<Bar> = self
            .scenarios
            .iter()
            .zip(&self.counters)
            .enumerate()
            .map(|(i, (sc, c))| {
                scenario_bar(
                    sc,
                    c.active.load(Ordering::Relaxed),
                    c.complete.load(Ordering::Relaxed) + c.interrupted.load(Ordering::Relaxed),
                    self.local_max[i],
                    self.local_iterations[i],
                    elapsed,
                )
            })
            .collect();
        // A bar on a terminal (as wide as fits, at most k6's 40); k6's percentage otherwise.
        let width = if self.tty {
            fit_width(&bars, terminal_columns().unwrap_or(80))
        } else {
            MIN_BAR_WIDTH
        };
        lines.extend(render(&bars, width));
        if self.tty {
            // In place, through the log, so a log line printed in between clears it first.
            logging::redraw_block(&lines);
        } else {
            let mut err = std::io::stderr().lock();
            for l in &lines {
                let _ = writeln!(err, "{l}");
            }
        }
    }
}

/// A scenario's line: `active` VUs of `max_vus`, `done` iterations of the `iterations` this
/// process plans, `elapsed` since the test started.
fn scenario_bar(
    sc: &Scenario,
    active: u64,
    done: u64,
    max_vus: u32,
    iterations: u64,
    elapsed: Duration,
) -> Bar {
    let run = elapsed.saturating_sub(sc.start_time);
    let total = sc.nominal_duration();
    let time_pct = if total.is_zero() {
        0.0
    } else {
        run.as_secs_f64() / total.as_secs_f64()
    };
    let (fraction, extra) = sc.progress(done, iterations, time_pct);
    let status = if elapsed < sc.start_time {
        Status::Waiting
    } else if fraction >= 1.0 && active == 0 {
        Status::Done
    } else {
        Status::Running
    };
    let digits = max_vus.max(1).ilog10() as usize + 1;
    let time = if total.is_zero() {
        format!("{}/∞", fixed_duration(run, run))
    } else if run >= total {
        format_duration(total)
    } else {
        format!("{}/{}", fixed_duration(run, total), format_duration(total))
    };
    let mut right = vec![format!("{active:0digits$}/{max_vus:0digits$} VUs"), time];
    if !extra.trim().is_empty() {
        right.push(extra.trim().to_string());
    }
    if status == Status::Waiting {
        // As k6: the time left until it starts.
        right = vec![
            "waiting".into(),
            fixed_duration(sc.start_time - elapsed, sc.start_time),
        ];
    }
    Bar {
        name: sc.name.clone(),
        status,
        fraction,
        right,
    }
}

/// k6's widest bar, brackets included.
const BAR_WIDTH: usize = 40;
/// At this width or less k6 prints the percentage instead of a bar.
const MIN_BAR_WIDTH: usize = 8;
/// Longest scenario name shown; a longer one is cut and ends in `...`.
const MAX_LEFT: usize = 30;

/// A scenario's state, the mark before its bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its `start-time` has not come yet (`•`).
    Waiting,
    /// Running (blank).
    Running,
    /// Finished, no VU left (`✓`).
    Done,
}

/// One scenario's progress line before layout: k6's left text, status, fraction and right-hand
/// columns (VUs, time, the executor's own text).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The scenario's name.
    pub name: String,
    /// Its state.
    pub status: Status,
    /// Done, 0 to 1 (clamped).
    pub fraction: f64,
    /// Columns right of the bar.
    pub right: Vec<String>,
}

/// Lays out `bars` as k6 v1 does: names padded to the longest (at most 30 characters), the
/// status, the bar `[====>----]` `width` characters wide with its brackets (the percentage
/// `[  58% ]` at 8 or less), and the right-hand columns aligned (all but the last padded to
/// their longest, two spaces apart).
pub fn render(bars: &[Bar], width: usize) -> Vec<String> {
    let left = |b: &Bar| {
        if b.name.chars().count() > MAX_LEFT {
            let cut: String = b.name.chars().take(MAX_LEFT - 3).collect();
            format!("{cut}...")
        } else {
            b.name.clone()
        }
    };
    let max_left = bars
        .iter()
        .map(|b| left(b).chars().count())
        .max()
        .unwrap_or(0);
    let mut col_width = Vec::new();
    for b in bars {
        for (i, col) in b
            .right
            .iter()
            .enumerate()
            .take(b.right.len().saturating_sub(1))
        {
            if col_width.len() <= i {
                col_width.push(0);
            }
            col_width[i] = col_width[i].max(col.chars().count());
        }
    }
    bars.iter()
        .map(|b| {
            let mut line = format!(
                "{:max_left$} {} {}",
                left(b),
                match b.status {
                    Status::Waiting => '•',
                    Status::Running => ' ',
                    Status::Done => '✓',
                },
                bar(b.fraction, width)
            );
            let last = b.right.len().saturating_sub(1);
            for (i, col) in b.right.iter().enumerate() {
                let pad = if i < last { col_width[i] + 1 } else { 1 };
                line.push_str(&format!(" {col:pad$}"));
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// The widest bar (at most k6's 40) that keeps the longest line within `columns`.
pub fn fit_width(bars: &[Bar], columns: usize) -> usize {
    let longest = render(bars, BAR_WIDTH)
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    (BAR_WIDTH + columns)
        .saturating_sub(longest + 1)
        .clamp(MIN_BAR_WIDTH, BAR_WIDTH)
}

/// k6's bar: `[`, `=` for what is done ending in `>`, `-` for the rest, `]`; `[ 58% ]` when
/// `width` is 8 or less.
fn bar(fraction: f64, width: usize) -> String {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    if width <= MIN_BAR_WIDTH {
        return format!("[ {:3.0}% ]", fraction * 100.0);
    }
    let space = width - 2;
    let filled = (space as f64 * fraction) as usize;
    let fill = match filled {
        0 => String::new(),
        f if f < space => format!("{}>", "=".repeat(f - 1)),
        f => "=".repeat(f),
    };
    format!("[{fill}{}]", "-".repeat(space - filled))
}

/// A duration as k6 shows time spent: as many digits as `max` needs, to a tenth of a second
/// (`5.0s`, `12.0s`, `0m12.0s`, `00m12.0s`, `0h00m12.0s`), so the line does not jump about.
fn fixed_duration(d: Duration, max: Duration) -> String {
    let tenths = (d.as_millis() + 50) / 100;
    let max = max.max(d);
    let (sec, min, hour) = (
        Duration::from_secs(1),
        Duration::from_secs(60),
        Duration::from_secs(3600),
    );
    let s = format!("{}.{}s", tenths / 10 % 60, tenths % 10);
    let total_secs = tenths / 10;
    if max < 10 * sec {
        return s;
    }
    let s = format!("{:02}.{}s", total_secs % 60, tenths % 10);
    if max < min {
        return s;
    }
    let m = total_secs / 60;
    if max < 10 * min {
        return format!("{}m{s}", m % 10);
    }
    if max < hour {
        return format!("{:02}m{s}", m % 60);
    }
    let h = m / 60;
    if max < 10 * hour {
        return format!("{}h{:02}m{s}", h % 10, m % 60);
    }
    format!("{:02}h{:02}m{s}", h, m % 60)
}

/// The terminal's width in columns, when stderr is one.
fn terminal_columns() -> Option<usize> {
    // SAFETY: TIOCGWINSZ writes a `winsize` into the struct passed; nothing else is touched.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(size.ws_col as usize)
}

/// `00m05.0s`, as k6 prints elapsed time.
fn clock(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let m = (secs / 60.0).floor();
    format!("{:02}m{:04.1}s", m as u64, secs - m * 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_options, TestConfig};

    fn scenario(toml: &str) -> Scenario {
        let test = TestConfig::resolve(&parse_options(toml, "test.toml").unwrap()).unwrap();
        test.scenarios[0].clone()
    }

    fn line(sc: &Scenario, active: u64, done: u64, max: u32, iters: u64, secs: f64) -> Bar {
        scenario_bar(sc, active, done, max, iters, Duration::from_secs_f64(secs))
    }

    #[test]
    fn draws_k6s_bar() {
        let sc = scenario("vus = 10\nduration = \"1m\"");
        let bar = line(&sc, 10, 0, 10, 0, 12.0);
        assert_eq!(
            render(std::slice::from_ref(&bar), 40),
            ["default   [======>-------------------------------] 10/10 VUs  0m12.0s/1m0s"]
        );
        // k6's percentage when the bar does not fit, and off a terminal.
        assert_eq!(
            render(&[bar], 8),
            ["default   [  20% ] 10/10 VUs  0m12.0s/1m0s"]
        );
    }

    #[test]
    fn empty_and_full_bars() {
        let sc = scenario("vus = 5\niterations = 20");
        let start = line(&sc, 0, 0, 5, 20, 0.0);
        assert_eq!(start.status, Status::Running);
        assert_eq!(
            render(&[start], 12),
            ["default   [----------] 0/5 VUs  00m00.0s/10m0s  00/20 shared iters"]
        );
        let end = line(&sc, 0, 20, 5, 20, 3.0);
        assert_eq!(end.status, Status::Done);
        assert_eq!(
            render(&[end], 12),
            ["default ✓ [==========] 0/5 VUs  00m03.0s/10m0s  20/20 shared iters"]
        );
        assert_eq!(bar(0.999, 12), "[========>-]");
        assert_eq!(bar(0.1, 12), "[>---------]");
        assert_eq!(bar(f64::NAN, 12), "[----------]");
        assert_eq!(bar(7.0, 8), "[ 100% ]");
    }

    #[test]
    fn an_unlimited_externally_controlled_scenario_counts_up() {
        let sc = scenario(
            "[scenarios.ext]\nexecutor = \"externally-controlled\"\nvus = 2\nmax-vus = 10\nduration = \"0s\"",
        );
        let bar = line(&sc, 2, 7, 10, 0, 75.0);
        assert_eq!(bar.status, Status::Running);
        assert_eq!(
            render(&[bar], 12),
            ["ext   [----------] 02/10 VUs  1m15.0s/∞"]
        );
    }

    #[test]
    fn columns_line_up_and_widths_fit_the_terminal() {
        let bars = [
            Bar {
                name: "a-very-long-scenario-name-that-goes-on".into(),
                status: Status::Waiting,
                fraction: 0.0,
                right: vec!["0/100 VUs".into(), "0s/1m0s".into()],
            },
            Bar {
                name: "b".into(),
                status: Status::Running,
                fraction: 0.5,
                right: vec![
                    "50/50 VUs".into(),
                    "0m30.0s/1m0s".into(),
                    "10.00 iters/s".into(),
                ],
            },
        ];
        let lines = render(&bars, 12);
        assert_eq!(
            lines,
            [
                "a-very-long-scenario-name-t... • [----------] 0/100 VUs  0s/1m0s",
                "b                                [====>-----] 50/50 VUs  0m30.0s/1m0s  10.00 iters/s",
            ]
        );
        // The bar shrinks to fit a narrow terminal, down to k6's percentage; at most 40 wide.
        let width = fit_width(&bars, 100);
        assert!(render(&bars, width).iter().all(|l| l.chars().count() < 100));
        assert!(width > MIN_BAR_WIDTH && width < BAR_WIDTH, "{width}");
        assert_eq!(fit_width(&bars, 40), MIN_BAR_WIDTH);
        assert_eq!(fit_width(&bars, 500), BAR_WIDTH);
    }

    #[test]
    fn a_later_scenario_counts_down_to_its_start() {
        let sc = scenario(
            "[scenarios.later]\nexecutor = \"constant-vus\"\nvus = 3\nduration = \"10s\"\nstart-time = \"30s\"",
        );
        let bar = line(&sc, 0, 0, 3, 0, 3.4);
        assert_eq!(bar.status, Status::Waiting);
        assert_eq!(render(&[bar], 12), ["later • [----------] waiting  26.6s"]);
    }

    #[test]
    fn time_spent_has_a_fixed_width() {
        let d = Duration::from_secs_f64;
        assert_eq!(fixed_duration(d(5.04), d(9.0)), "5.0s");
        assert_eq!(fixed_duration(d(5.0), d(30.0)), "05.0s");
        assert_eq!(fixed_duration(d(12.0), d(60.0)), "0m12.0s");
        assert_eq!(fixed_duration(d(72.35), d(1800.0)), "01m12.4s");
        assert_eq!(fixed_duration(d(3725.0), d(7200.0)), "1h02m05.0s");
    }
}
