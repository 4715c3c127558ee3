//! Volley: load tests whose scenarios are WebAssembly components.
//!
//! The pipeline: [`config`] merges and validates options, [`plan`] turns scenarios into
//! schedules, [`engine`] runs VUs ([`vu`]) that send HTTP through [`transport`], samples go to
//! [`metrics`] and its thresholds judge them and [`output`] prints the results. [`target`] holds the
//! built-in system under test.

pub mod app;
pub mod cache;
pub mod cli;
pub mod config;
pub mod duration;
pub mod engine;
pub mod interrupt;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod plan;
pub mod registry;
pub mod sandbox;
pub mod script_build;
pub mod shard;
pub mod target;
pub mod transport;
pub mod vu;
