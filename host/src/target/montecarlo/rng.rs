//! The small PRNG the simulation draws from (xoshiro256++ seeded through splitmix64) and the
//! distinct seed each request gets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The xoshiro256++ generator of Blackman and Vigna, seeded through splitmix64.
pub(super) struct Xoshiro256PlusPlus {
    state: [u64; 4],
}

impl Xoshiro256PlusPlus {
    pub(super) fn seeded(seed: u64) -> Self {
        let mut mix = seed;
        Self {
            state: [
                splitmix64(&mut mix),
                splitmix64(&mut mix),
                splitmix64(&mut mix),
                splitmix64(&mut mix),
            ],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let [mut s0, mut s1, mut s2, mut s3] = self.state;
        let result = s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0);
        let t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = s3.rotate_left(45);
        self.state = [s0, s1, s2, s3];
        result
    }

    /// Uniform on [-1, 1) with 53 random bits.
    pub(super) fn next_signed_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * f64::EPSILON - 1.0
    }
}

/// The splitmix64 step: advances `state` and returns a well-mixed value.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A distinct seed per request: a start-time base plus a counter, mixed by splitmix64.
pub(super) struct SeedSource {
    base: u64,
    counter: AtomicU64,
}

impl SeedSource {
    pub(super) fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        Self {
            base: nanos,
            counter: AtomicU64::new(0),
        }
    }

    pub(super) fn next(&self) -> u64 {
        let mut state = self
            .base
            .wrapping_add(self.counter.fetch_add(1, Ordering::Relaxed));
        splitmix64(&mut state)
    }
}
