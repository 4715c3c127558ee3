//! Ctrl-C and SIGTERM during `volley run`: the first asks the run to stop (iterations are
//! interrupted, then the summary is printed), a second one exits at once with k6's code 105.

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

use crate::app::exit;
use crate::logging;

/// A flag that turns true on the first Ctrl-C or SIGTERM; a second one exits the process.
/// Must be called inside a tokio runtime.
pub fn stop_flag() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).ok();
        wait_signal(&mut term).await;
        logging::to_stderr("\nstopping: interrupting iterations, then printing the summary (Ctrl-C again to quit now)");
        tx.send_replace(true);
        wait_signal(&mut term).await;
        std::process::exit(exit::EXTERNAL_ABORT);
    });
    rx
}

/// Waits for Ctrl-C, or SIGTERM when it could be listened for.
async fn wait_signal(term: &mut Option<Signal>) {
    match term.as_mut() {
        Some(t) => tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = t.recv() => {} },
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
