//! A token bucket per caller: `rate` calls a second on average, bursts of up to `burst`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle (full) ones are dropped: anonymous callers are keyed by address,
/// so the map must not grow without bound.
const MAX_BUCKETS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `rate` calls per second (> 0), bursts of `burst` (at least 1).
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimiter {
            rate: if rate.is_finite() && rate > 0.0 { rate } else { 1.0 },
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn describe(&self) -> String {
        format!("{} calls/s, burst {}", self.rate, self.burst)
    }

    /// Takes one token from `key`'s bucket, or says how long until one is there.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let limiter = RateLimiter::new(10.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("a", t0).is_ok());
        }
        let wait = limiter.check("a", t0).expect_err("burst used up");
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::from_millis(90),
            "{wait:?}"
        );
        // Another caller has its own bucket.
        assert!(limiter.check("b", t0).is_ok());
        assert!(limiter.check("a", t0 + Duration::from_millis(100)).is_ok());
        assert!(limiter.check("a", t0 + Duration::from_millis(100)).is_err());
    }
}
