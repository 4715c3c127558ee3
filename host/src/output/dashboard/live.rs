//! The live view: every period, a thread renders the report's body from the running aggregate
//! (the summary's snapshot, the per-second series so far, the breakdown tables) and publishes it
//! as one server-sent event. Publishing replaces the previous event, so a page that reads slowly
//! skips to the newest one: nothing queues per page, and the run never waits for a page.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::config::TestConfig;
use crate::metrics::{builtin, Aggregate, MetricValue};
use crate::output::report::{self, Breakdown, Page};
use crate::output::{Results, RunFacts};

/// One server-sent event, framed and ready to write.
#[derive(Debug)]
pub struct Event {
    /// Its number (0 before the first update).
    pub seq: u64,
    /// `event: ...\ndata: ...\n\n`.
    pub bytes: Bytes,
    /// The last event of the run: a page's stream ends after it.
    pub last: bool,
}

impl Event {
    /// The event a page gets before the first update.
    pub fn waiting() -> Event {
        Event {
            seq: 0,
            bytes: Bytes::new(),
            last: false,
        }
    }

    fn update(seq: u64, body: &str) -> Event {
        Event {
            seq,
            bytes: frame("update", &serde_json::json!({ "seq": seq, "body": body })),
            last: false,
        }
    }

    /// The final event: the final report's body, and the whole report for the download link.
    pub fn done(seq: u64, body: &str, report: &str) -> Event {
        Event {
            seq,
            bytes: frame(
                "done",
                &serde_json::json!({ "seq": seq, "body": body, "report": report }),
            ),
            last: true,
        }
    }
}

/// An SSE frame: JSON has no raw newlines, so the data is one line.
fn frame(name: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// What the dashboard renders an update from.
pub struct View {
    test: TestConfig,
    aggregate: Arc<Aggregate>,
    segment: String,
    title: String,
}

impl View {
    /// A view of `aggregate` as the run of `test` (segment `segment`) fills it.
    pub fn new(
        test: TestConfig,
        aggregate: Arc<Aggregate>,
        segment: String,
        title: String,
    ) -> View {
        View {
            test,
            aggregate,
            segment,
            title,
        }
    }

    /// The page title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The report's body as the run stands now.
    pub fn render(&self) -> String {
        let agg = &self.aggregate;
        let iterations = match agg.value(builtin::ITERATIONS, &[]) {
            Some(MetricValue::Counter { sum }) => sum as u64,
            _ => 0,
        };
        let facts = RunFacts {
            duration: agg.origin().0.elapsed(),
            iterations: (iterations, 0),
            segment: self.segment.clone(),
            errors: Default::default(),
        };
        let results = Results::collect(&self.test, agg, facts);
        let names: Vec<String> = self.test.scenarios.iter().map(|s| s.name.clone()).collect();
        report::body(&Page {
            results: &results,
            series: &agg.series_so_far(),
            breakdown: &Breakdown::collect(&names, agg),
            title: &self.title,
        })
    }
}

/// The thread that publishes an update every period while a page is open.
pub struct Ticker {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<u64>,
}

impl Ticker {
    /// Starts rendering `view` into `events` every `period`.
    pub fn start(
        view: View,
        period: Duration,
        events: watch::Sender<Arc<Event>>,
    ) -> std::io::Result<Ticker> {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || {
                let mut seq = 0;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    // Nobody watching: nothing to render.
                    if events.receiver_count() == 0 {
                        continue;
                    }
                    seq += 1;
                    events.send_replace(Arc::new(Event::update(seq, &view.render())));
                }
                seq
            })?;
        Ok(Ticker { stop, thread })
    }

    /// Stops the updates; returns the number of the last one.
    pub fn stop(self) -> u64 {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or(0)
    }
}
