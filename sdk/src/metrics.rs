//! Custom metrics, as k6's `Counter`, `Gauge`, `Rate` and `Trend`. Declare them under
//! `[metrics]` in the scenario's options to put thresholds on them.
//!
//! ```no_run
//! use volley_sdk::metrics::{Counter, Trend};
//!
//! let orders = Counter::new("orders_placed");
//! let basket = Trend::new("basket_value");
//! orders.add(1.0).unwrap();
//! basket.add_tagged(42.5, &[("currency", "EUR")]).unwrap();
//! ```

use crate::wit::volley::scenario::http::Tag;
use crate::wit::volley::scenario::metrics::{add, Kind};
use crate::Error;

fn send(name: &str, kind: Kind, value: f64, tags: &[(&str, &str)]) -> Result<(), Error> {
    let tags: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag {
            key: k.to_string(),
            value: v.to_string(),
        })
        .collect();
    add(name, kind, value, &tags).map_err(Error::from)
}

macro_rules! metric {
    ($(#[$doc:meta])* $ty:ident, $kind:expr, $value:ty, $conv:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $ty {
            name: String,
            kind: Kind,
        }

        impl $ty {
            /// A handle on the metric called `name` (created on first use).
            pub fn new(name: &str) -> Self {
                $ty { name: name.to_string(), kind: $kind }
            }

            /// Adds a sample.
            pub fn add(&self, value: $value) -> Result<(), Error> {
                self.add_tagged(value, &[])
            }

            /// Adds a sample with extra tags.
            pub fn add_tagged(&self, value: $value, tags: &[(&str, &str)]) -> Result<(), Error> {
                let conv: fn($value) -> f64 = $conv;
                send(&self.name, self.kind, conv(value), tags)
            }
        }
    };
}

metric!(
    /// A sum (k6's `Counter`).
    Counter, Kind::Counter, f64, |v| v
);
metric!(
    /// The last value, with min and max (k6's `Gauge`).
    Gauge, Kind::Gauge, f64, |v| v
);
metric!(
    /// The share of true samples (k6's `Rate`).
    Rate, Kind::Rate, bool, |v| if v { 1.0 } else { 0.0 }
);
metric!(
    /// A distribution of numbers (k6's `Trend`); see [`Trend::time`] for durations.
    Trend, Kind::Trend, f64, |v| v
);

impl Trend {
    /// A trend of durations in milliseconds (k6's `new Trend(name, true)`).
    pub fn time(name: &str) -> Self {
        Trend {
            name: name.to_string(),
            kind: Kind::TrendTime,
        }
    }
}
