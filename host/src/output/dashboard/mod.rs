//! The live web dashboard (`--dashboard`, or k6's `K6_WEB_DASHBOARD=true`): while the test runs, a
//! page on `127.0.0.1:5665` shows the HTML report's charts and tables, updated every second from
//! a server-sent event stream; when the run ends the page receives the final report (the same
//! HTML `--report` writes) and offers it as a download.
//!
//! - [`settings`]: the flags and k6's `K6_WEB_DASHBOARD_*` variables.
//! - `live`: renders an update from the running aggregate with the report's renderer.
//! - `server`: the HTTP server, its bounds, and the event stream.
//! - `page`: the live page (the report's document with a status bar and a small inline script).

mod live;
mod page;
mod server;
pub mod settings;

use std::net::SocketAddr;
use std::sync::Arc;

pub use live::View;
pub use server::{MAX_CONNECTIONS, STALL_TIMEOUT};
pub use settings::Settings;

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The address could not be bound (taken, or not local).
    #[error("cannot serve the web dashboard on {addr} (choose another with --dashboard-address): {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The update thread could not be started.
    #[error("cannot start the web dashboard's update thread: {0}")]
    Thread(std::io::Error),
    /// A `K6_WEB_DASHBOARD_*` variable has a value that does not parse.
    #[error("{name}={value:?}: {why}")]
    Setting {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What was expected.
        why: String,
    },
}

/// A running dashboard: its server and the thread that renders an update every period.
pub struct Dashboard {
    server: server::Server,
    ticker: live::Ticker,
}

impl Dashboard {
    /// Binds the address and starts serving; updates are rendered from `view` every
    /// `settings.period` while a page is open.
    pub async fn start(settings: &Settings, view: View) -> Result<Dashboard, DashboardError> {
        let title = view.title().to_string();
        let (events, _) = tokio::sync::watch::channel(Arc::new(live::Event::waiting()));
        let server = server::Server::bind(settings.address, events.clone(), page::live(&title))
            .await
            .map_err(|source| DashboardError::Bind {
                addr: settings.address,
                source,
            })?;
        let ticker =
            live::Ticker::start(view, settings.period, events).map_err(DashboardError::Thread)?;
        Ok(Dashboard { server, ticker })
    }

    /// The address the server listens on (the port is the real one when `:0` was asked for).
    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// Stops the updates, sends every open page the final report body (`body`) and the whole
    /// report (`report`, as `--report` writes it), and waits up to [`server::DRAIN`] for the pages
    /// to receive them.
    pub async fn finish(self, body: String, report: String) {
        let seq = self.ticker.stop();
        self.server
            .finish(live::Event::done(seq + 1, &body, &report), report)
            .await;
    }
}
