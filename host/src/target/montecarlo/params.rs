//! The simulation size of one request: its limits, and how a query string sets it.

/// Fewest paths a request may ask for (the standard error needs two).
const MIN_PATHS: u32 = 2;
/// Most paths a request may ask for.
const MAX_PATHS: u32 = 1_000_000;
/// Fewest time steps per path.
const MIN_STEPS: u32 = 1;
/// Most time steps per path.
const MAX_STEPS: u32 = 1_000;
/// Most normal draws (paths × steps) one request may cost: roughly a second of CPU.
const MAX_DRAWS: u64 = 100_000_000;
/// Simulation size of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Params {
    pub(super) paths: u32,
    pub(super) steps: u32,
}

impl Params {
    /// Checks both sizes and their product against the limits.
    pub(super) fn validated(paths: u32, steps: u32) -> Result<Self, String> {
        check_range("paths", paths, MIN_PATHS, MAX_PATHS)?;
        check_range("steps", steps, MIN_STEPS, MAX_STEPS)?;
        if u64::from(paths) * u64::from(steps) > MAX_DRAWS {
            return Err(format!("paths * steps must be at most {MAX_DRAWS}"));
        }
        Ok(Self { paths, steps })
    }
}

fn check_range(name: &str, value: u32, min: u32, max: u32) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{name} must be from {min} to {max}, got {value}"))
    }
}

/// Reads `paths` and `steps` from a query string over `defaults`; other keys are ignored.
pub(super) fn parse_query(query: Option<&str>, defaults: Params) -> Result<Params, String> {
    let (mut paths, mut steps) = (defaults.paths, defaults.steps);
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "paths" => paths = parse_count(key, value)?,
            "steps" => steps = parse_count(key, value)?,
            _ => {}
        }
    }
    Params::validated(paths, steps)
}

fn parse_count(key: &str, value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| format!("{key} must be a whole number"))
}
