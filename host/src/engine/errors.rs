//! Iteration errors, logged once per distinct message and counted.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::logging::{self, Level};
use crate::vu::GuestError;

/// Distinct iteration errors and how often each happened. Only touched when an iteration fails.
#[derive(Debug, Default)]
pub struct ErrorLog {
    seen: Mutex<BTreeMap<String, u64>>,
}

impl ErrorLog {
    /// Counts `e`; logs it the first time its message is seen.
    pub fn record(&self, e: &GuestError) {
        let msg = e.to_string();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let n = seen.entry(msg.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            logging::host(
                Level::Error,
                &format!(
                    "iteration failed: {msg} (further identical errors are counted, not logged)"
                ),
            );
        }
    }

    /// Every distinct message with its count.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
