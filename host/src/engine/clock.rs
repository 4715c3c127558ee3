//! Waiting on the run's clock: until an instant, a deadline, or the stop flag. Every driver
//! (scenarios, arrival rates, VU tasks, the engine) waits through these.

use std::time::Instant;

use tokio::sync::watch;

/// Sleeps until `at`; false if the test was stopped first.
pub async fn sleep_until(at: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(at.into()) => true,
        _ = wait_stop(stop) => false,
    }
}

/// Sleeps until `deadline`, or forever without one.
pub async fn sleep_until_deadline(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Resolves once the stop flag is true (never, if the sender is gone without stopping).
pub async fn wait_stop(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}
