//! The live progress block k6 prints on stderr: a running line plus one line per scenario.
//! Redrawn in place on a terminal; a plain block every few seconds otherwise. When the aggregate
//! keeps its per-second series, a line under the running line shows the newest closed second:
//! requests/s, latency p(95) and p(99), failed requests and checks.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::vu_task::ScenarioCounters;
use crate::config::TestConfig;
use crate::duration::format_duration;
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
    drawn_lines: usize,
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
            drawn_lines: 0,
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

    /// Prints the final block.
    pub fn finish(&mut self) {
        self.draw();
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
        let width = self
            .scenarios
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0);
        for (i, (sc, c)) in self.scenarios.iter().zip(&self.counters).enumerate() {
            lines.push(self.scenario_line(
                sc,
                c,
                self.local_max[i],
                self.local_iterations[i],
                elapsed,
                width,
            ));
        }
        let mut err = std::io::stderr().lock();
        if self.tty && self.drawn_lines > 0 {
            let _ = write!(err, "\x1b[{}A", self.drawn_lines);
        }
        for l in &lines {
            let _ = writeln!(err, "{l}{}", if self.tty { "\x1b[K" } else { "" });
        }
        self.drawn_lines = lines.len();
    }
}

impl Progress {
    fn scenario_line(
        &self,
        sc: &Scenario,
        c: &ScenarioCounters,
        max_vus: u32,
        iterations: u64,
        elapsed: Duration,
        width: usize,
    ) -> String {
        let run = elapsed.saturating_sub(sc.start_time);
        let total = sc.nominal_duration();
        let done = c.complete.load(Ordering::Relaxed) + c.interrupted.load(Ordering::Relaxed);
        let time_pct = if total.is_zero() {
            0.0
        } else {
            run.as_secs_f64() / total.as_secs_f64()
        };
        let (pct, extra) = sc.progress(done, iterations, time_pct);
        let pct = (pct * 100.0).min(100.0);
        let finished = pct >= 100.0 && c.active.load(Ordering::Relaxed) == 0;
        let shown = Duration::from_millis(run.as_millis() as u64 / 100 * 100);
        format!(
            "{:width$} {} [ {:>3.0}% ] {}/{} VUs  {}/{}{extra}",
            sc.name,
            if finished { "✓" } else { " " },
            pct,
            c.active.load(Ordering::Relaxed),
            max_vus,
            format_duration(if total.is_zero() {
                shown
            } else {
                shown.min(total)
            }),
            if total.is_zero() {
                "∞".to_string()
            } else {
                format_duration(total)
            },
        )
    }
}

/// `00m05.0s`, as k6 prints elapsed time.
fn clock(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let m = (secs / 60.0).floor();
    format!("{:02}m{:04.1}s", m as u64, secs - m * 60.0)
}
