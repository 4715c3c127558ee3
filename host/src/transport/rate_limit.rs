//! k6's `rps`: a test-wide cap on requests per second, shared by every VU of the process without
//! a lock. It is k6's limiter (Go's `rate.NewLimiter(rps, 1)`: a bucket of one token) written as
//! a virtual schedule: one atomic holds when the next request may go, and each request takes the
//! slot after it with a compare-and-swap, then sleeps until its slot. Over any `n` seconds at most
//! `rps * n + 1` requests start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Requests per second for all the VUs sharing it.
#[derive(Debug)]
pub struct RateLimit {
    /// Where the schedule's clock starts.
    start: Instant,
    /// Nanoseconds between two requests.
    interval_ns: u64,
    /// Nanoseconds after `start` when the next request may go.
    next_ns: AtomicU64,
}

impl RateLimit {
    /// At most `per_second` requests a second (at least 1), the first at once.
    pub fn new(per_second: u32) -> RateLimit {
        RateLimit {
            start: Instant::now(),
            interval_ns: (1_000_000_000 / u64::from(per_second.max(1))).max(1),
            next_ns: AtomicU64::new(0),
        }
    }

    /// The requests per second it allows (rounded to whole nanoseconds between requests).
    pub fn per_second(&self) -> f64 {
        1e9 / self.interval_ns as f64
    }

    /// Takes the next free slot: the instant its request may start (now, when none waits).
    pub fn reserve(&self) -> Instant {
        let now = self.start.elapsed().as_nanos() as u64;
        let mut next = self.next_ns.load(Ordering::Relaxed);
        loop {
            let at = next.max(now);
            match self.next_ns.compare_exchange_weak(
                next,
                at + self.interval_ns,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return self.start + Duration::from_nanos(at),
                Err(actual) => next = actual,
            }
        }
    }

    /// Waits for the next free slot. A wait cut short (the VU stopped) leaves its slot unused:
    /// the cap is never exceeded, only, then, not reached.
    pub async fn wait(&self) {
        let at = self.reserve();
        if at > Instant::now() {
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_one_interval_apart_and_the_first_is_now() {
        // One a second: a test thread paused for under a second cannot move a slot.
        let limit = RateLimit::new(1);
        let first = limit.reserve();
        assert!(first <= Instant::now());
        let slots: Vec<Instant> = (0..5).map(|_| limit.reserve()).collect();
        assert_eq!(slots[0] - first, Duration::from_secs(1));
        for w in slots.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_secs(1));
        }
    }

    #[test]
    fn threads_taking_slots_at_once_never_share_one() {
        let limit = std::sync::Arc::new(RateLimit::new(1000));
        let taken: Vec<Vec<Instant>> = std::thread::scope(|s| {
            let hands: Vec<_> = (0..4)
                .map(|_| {
                    let limit = &limit;
                    s.spawn(move || (0..250).map(|_| limit.reserve()).collect::<Vec<_>>())
                })
                .collect();
            hands.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<Instant> = taken.into_iter().flatten().collect();
        all.sort();
        assert_eq!(all.len(), 1000);
        for w in all.windows(2) {
            assert!(
                w[1] - w[0] >= Duration::from_millis(1),
                "two slots closer than 1 ms"
            );
        }
    }

    #[test]
    fn a_huge_rate_still_moves_forward() {
        let limit = RateLimit::new(u32::MAX);
        let (a, b) = (limit.reserve(), limit.reserve());
        assert!(b > a);
        assert!(limit.per_second() > 1e8);
    }
}
