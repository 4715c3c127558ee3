//! Thresholds, in one place: [`parse`] reads k6's expressions and selectors, [`resolve`] checks
//! them against the metrics they name, [`eval`] judges them against the aggregate during the run
//! (for `abortOnFail`) and at the end.

pub mod eval;
pub mod parse;
mod resolve;

pub use eval::{aborting, evaluate, track_windows, Outcome};
pub use parse::{parse_expr, parse_selector, Aggregation, Expr, Op, Selector, ThresholdError};
pub use resolve::{resolve, MetricThresholds, ThresholdSpec, Written};
