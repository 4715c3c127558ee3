//! The running virtual user: k6's `__VU`, `__ITER` and the scenario name.

use crate::wit::volley::scenario::vu as imports;

/// This VU's id, 1-based and unique within the test (k6's `__VU`).
pub fn id() -> u32 {
    imports::id()
}

/// This VU's iteration number in the current scenario, 0-based (k6's `__ITER`).
pub fn iteration() -> u64 {
    imports::iteration()
}

/// Name of the scenario this VU runs.
pub fn scenario() -> String {
    imports::scenario()
}

/// The entry point this scenario runs (k6's `exec`): `default` unless the test names another.
pub fn exec() -> String {
    imports::exec()
}
