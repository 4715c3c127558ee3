//! Log lines, written by the host to its log (rate-limited).

use crate::wit::volley::scenario::log::{write, Level};

/// Logs a debug line.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Logs an informational line.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Logs a warning.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}

/// Logs an error.
pub fn error(message: &str) {
    write(Level::Error, message);
}
