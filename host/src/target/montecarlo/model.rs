//! The pricing model: a European call priced by simulating geometric Brownian motion, its
//! Black-Scholes reference price, and the standard normal draws the simulation takes.

use std::f64::consts::{FRAC_2_SQRT_PI, SQRT_2};

use super::rng::Xoshiro256PlusPlus;

/// Spot price of the underlying.
pub(super) const SPOT: f64 = 100.0;
/// Strike price of the option.
pub(super) const STRIKE: f64 = 105.0;
/// Risk-free rate, continuously compounded.
pub(super) const RATE: f64 = 0.05;
/// Annual volatility.
pub(super) const VOLATILITY: f64 = 0.2;
/// Time to expiry in years.
pub(super) const MATURITY: f64 = 1.0;

/// A Monte Carlo price with its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Mean discounted payoff over the simulated paths.
    pub price: f64,
    /// Standard error of that mean (NaN with fewer than two paths).
    pub std_error: f64,
}

/// Prices the call (S0=100, K=105, r=0.05, σ=0.2, T=1) from `paths` simulated paths of `steps`
/// exact log-normal steps each; the same `seed` gives the same estimate. `steps` of 0 counts as 1,
/// `paths` of 0 gives NaN.
pub fn simulate(paths: u32, steps: u32, seed: u64) -> Estimate {
    let steps = steps.max(1);
    let dt = MATURITY / f64::from(steps);
    let drift = (RATE - 0.5 * VOLATILITY * VOLATILITY) * dt;
    let shock = VOLATILITY * dt.sqrt();
    let discount = (-RATE * MATURITY).exp();
    let mut normals = Normals::new(seed);
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for _ in 0..paths {
        let log_growth = simulate_log_growth(&mut normals, steps, drift, shock);
        let payoff = discount * (SPOT * log_growth.exp() - STRIKE).max(0.0);
        sum += payoff;
        sum_sq += payoff * payoff;
    }
    summarize(sum, sum_sq, paths)
}

/// Black-Scholes price of a European call; `t <= 0` gives the payoff at expiry and
/// `sigma <= 0` the discounted deterministic payoff. Expects positive `s0` and `k`.
pub fn black_scholes_call(s0: f64, k: f64, r: f64, sigma: f64, t: f64) -> f64 {
    if t <= 0.0 {
        return (s0 - k).max(0.0);
    }
    let discounted_strike = k * (-r * t).exp();
    if sigma <= 0.0 {
        return (s0 - discounted_strike).max(0.0);
    }
    let spread = sigma * t.sqrt();
    let d1 = ((s0 / k).ln() + (r + 0.5 * sigma * sigma) * t) / spread;
    let d2 = d1 - spread;
    s0 * normal_cdf(d1) - discounted_strike * normal_cdf(d2)
}

/// Log of S_T / S_0 along one path.
fn simulate_log_growth(normals: &mut Normals, steps: u32, drift: f64, shock: f64) -> f64 {
    let mut log_growth = 0.0;
    for _ in 0..steps {
        log_growth += drift + shock * normals.next();
    }
    log_growth
}

/// Mean and standard error of `n` samples from their sum and sum of squares.
fn summarize(sum: f64, sum_sq: f64, n: u32) -> Estimate {
    let count = f64::from(n);
    let price = sum / count;
    let std_error = if n < 2 {
        f64::NAN
    } else {
        let variance = ((sum_sq - sum * price) / (count - 1.0)).max(0.0);
        (variance / count).sqrt()
    };
    Estimate { price, std_error }
}

/// Standard normal cumulative distribution function.
fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / SQRT_2)
}

/// Complementary error function, accurate to about 1e-13 relative.
pub(super) fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        2.0 - erfc(-x)
    } else if x < 2.0 {
        1.0 - erf_series(x)
    } else {
        erfc_continued_fraction(x)
    }
}

/// erf(x) = 2/√π · e^(−x²) · Σ (2x²)ⁿ x / (1·3·…·(2n+1)); every term is positive.
fn erf_series(x: f64) -> f64 {
    let two_x_sq = 2.0 * x * x;
    let (mut term, mut sum) = (x, x);
    for n in 1..200_u32 {
        term *= two_x_sq / f64::from(2 * n + 1);
        sum += term;
        if term <= sum * f64::EPSILON {
            break;
        }
    }
    sum * FRAC_2_SQRT_PI * (-x * x).exp()
}

/// erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))), for x ≥ 2.
fn erfc_continued_fraction(x: f64) -> f64 {
    let mut tail = x;
    for n in (1..=60_u32).rev() {
        tail = x + 0.5 * f64::from(n) / tail;
    }
    0.5 * FRAC_2_SQRT_PI * (-x * x).exp() / tail
}

/// Standard normal draws by the Marsaglia polar method, which yields them in pairs.
pub(super) struct Normals {
    rng: Xoshiro256PlusPlus,
    spare: Option<f64>,
}

impl Normals {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            rng: Xoshiro256PlusPlus::seeded(seed),
            spare: None,
        }
    }

    pub(super) fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (z, spare) = self.pair();
        self.spare = Some(spare);
        z
    }

    fn pair(&mut self) -> (f64, f64) {
        loop {
            let u = self.rng.next_signed_unit();
            let v = self.rng.next_signed_unit();
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let scale = (-2.0 * s.ln() / s).sqrt();
                return (u * scale, v * scale);
            }
        }
    }
}
