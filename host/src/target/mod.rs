//! The built-in systems under test.

pub mod montecarlo;
