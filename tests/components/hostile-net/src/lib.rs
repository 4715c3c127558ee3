//! A plugin that attacks the host's resources, one entry point (`exec`) per attack.

use volley_sdk::{Error, Scenario};

struct Hostile;

impl Scenario for Hostile {
    fn iteration(_data: &str) -> Result<(), Error> {
        Ok(())
    }
}

volley_sdk::scenario!(Hostile);
