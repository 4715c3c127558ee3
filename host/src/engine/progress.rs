//! The live progress block k6 prints on stderr: a running line plus one line per scenario.
//! Redrawn in place on a terminal; a plain block every few seconds otherwise.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::vu_task::ScenarioCounters;
use crate::config::duration::format_duration;
use crate::config::TestConfig;
use crate::plan::Scenario;

/// Seconds between plain (non-terminal) progress blocks.
const PLAIN_EVERY: u64 = 5;

/// Progress state.
pub struct Progress {
    start: Instant,
    scenarios: Vec<Scenario>,
    counters: Vec<Arc<ScenarioCounters>>,
    active: Arc<AtomicU64>,
    vus_max: u32,
    tty: bool,
    drawn_lines: usize,
    ticks: u64,
}

impl Progress {
    /// Progress for `test`.
    pub fn new(
        start: Instant,
        test: &TestConfig,
        counters: Vec<Arc<ScenarioCounters>>,
        active: Arc<AtomicU64>,
    ) -> Self {
        Progress {
            start,
            scenarios: test.scenarios.clone(),
            counters,
            active,
            vus_max: test.max_vus(),
            tty: std::io::stderr().is_terminal(),
            drawn_lines: 0,
            ticks: 0,
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
        let width = self
            .scenarios
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0);
        for (sc, c) in self.scenarios.iter().zip(&self.counters) {
            let run = elapsed.saturating_sub(sc.start_time);
            let total = sc.nominal_duration();
            let pct = if total.is_zero() {
                100.0
            } else {
                (run.as_secs_f64() / total.as_secs_f64() * 100.0).min(100.0)
            };
            lines.push(format!(
                "{:width$} [ {:>3.0}% ] {}/{} VUs  {}/{}",
                sc.name,
                pct,
                c.active.load(Ordering::Relaxed),
                sc.max_vus(),
                format_duration(Duration::from_millis(
                    run.min(total).as_millis() as u64 / 100 * 100
                )),
                format_duration(total),
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

/// `00m05.0s`, as k6 prints elapsed time.
fn clock(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let m = (secs / 60.0).floor();
    format!("{:02}m{:04.1}s", m as u64, secs - m * 60.0)
}
