//! Latency percentiles (HDR histogram), status counts and rates of one measured run.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram tracks; longer ones are clamped to it (and counted).
pub const MAX_TRACKABLE: Duration = Duration::from_secs(120);
/// Significant decimal digits kept: 3 = values within 0.1%.
const SIGFIG: u8 = 3;

/// Latencies in nanoseconds plus the gRPC status of every call.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency of the calls that succeeded.
    ok: Histogram<u64>,
    /// Latency of every call, whatever its status (what a caller waits for an answer).
    all: Histogram<u64>,
    /// Calls by status name ("OK", "RESOURCE_EXHAUSTED", ...).
    codes: BTreeMap<String, u64>,
    /// Latencies above [`MAX_TRACKABLE`], recorded as that value.
    clamped: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

fn histogram() -> Histogram<u64> {
    let max = u64::try_from(MAX_TRACKABLE.as_nanos()).unwrap_or(u64::MAX);
    Histogram::new_with_bounds(1, max, SIGFIG).expect("1 ns .. 120 s at 3 digits are valid bounds")
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            ok: histogram(),
            all: histogram(),
            codes: BTreeMap::new(),
            clamped: 0,
        }
    }

    /// Records one call: how long it took and how it ended.
    pub fn record(&mut self, latency: Duration, code: &str) {
        let max = self.all.high();
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX).clamp(1, max);
        if nanos == max {
            self.clamped += 1;
        }
        // In bounds by the clamp above.
        let _ = self.all.record(nanos);
        if code == "OK" {
            let _ = self.ok.record(nanos);
        }
        match self.codes.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                self.codes.insert(code.to_owned(), 1);
            }
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.ok.add(&other.ok);
        let _ = self.all.add(&other.all);
        for (code, n) in &other.codes {
            *self.codes.entry(code.clone()).or_insert(0) += n;
        }
        self.clamped += other.clamped;
    }

    pub fn count(&self) -> u64 {
        self.all.len()
    }

    pub fn ok_count(&self) -> u64 {
        self.ok.len()
    }

    pub fn codes(&self) -> &BTreeMap<String, u64> {
        &self.codes
    }

    /// Percentiles of the successful calls.
    pub fn ok_latency(&self) -> Percentiles {
        Percentiles::of(&self.ok)
    }

    /// Percentiles of every call.
    pub fn all_latency(&self) -> Percentiles {
        Percentiles::of(&self.all)
    }

    pub fn clamped(&self) -> u64 {
        self.clamped
    }
}

/// Latency summary in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

fn us(nanos: u64) -> f64 {
    nanos as f64 / 1_000.0
}

impl Percentiles {
    /// Percentiles as HDR reports them: the highest value of the bucket holding the quantile
    /// (within the histogram's 0.1%); zeros for an empty histogram.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Percentiles {
                count: 0,
                mean_us: 0.0,
                p50_us: 0.0,
                p90_us: 0.0,
                p99_us: 0.0,
                p999_us: 0.0,
                max_us: 0.0,
            };
        }
        Percentiles {
            count: h.len(),
            mean_us: h.mean() / 1_000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// Events per second over a window; 0 for an empty window.
pub fn per_second(count: u64, window: Duration) -> f64 {
    let secs = window.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// `ours / baseline`, or `None` when the baseline is zero (nothing to compare with).
pub fn ratio(ours: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0 && ours.is_finite()).then(|| ours / baseline)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within the histogram's precision (3 significant digits).
    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.001 + 0.001
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut r = Recorder::new();
        for ms in 1..=1000u64 {
            r.record(Duration::from_millis(ms), "OK");
        }
        let p = r.ok_latency();
        assert_eq!(p.count, 1000);
        assert!(close(p.p50_us, 500_000.0), "{p:?}");
        assert!(close(p.p90_us, 900_000.0), "{p:?}");
        assert!(close(p.p99_us, 990_000.0), "{p:?}");
        assert!(close(p.p999_us, 999_000.0), "{p:?}");
        assert!(close(p.max_us, 1_000_000.0), "{p:?}");
        assert!(close(p.mean_us, 500_500.0), "{p:?}");
    }

    #[test]
    fn a_tail_shows_in_the_high_percentiles_only() {
        let mut r = Recorder::new();
        for _ in 0..990 {
            r.record(Duration::from_micros(100), "OK");
        }
        for _ in 0..10 {
            r.record(Duration::from_millis(50), "OK");
        }
        let p = r.ok_latency();
        assert!(close(p.p50_us, 100.0), "{p:?}");
        assert!(close(p.p90_us, 100.0), "{p:?}");
        // The 990th of 1000 values is still 100 us; the 991st is the first of the tail.
        assert!(close(p.p99_us, 100.0), "{p:?}");
        assert!(close(p.p999_us, 50_000.0), "{p:?}");
    }

    #[test]
    fn failed_calls_count_in_all_but_not_in_ok() {
        let mut r = Recorder::new();
        r.record(Duration::from_micros(200), "OK");
        r.record(Duration::from_micros(10), "RESOURCE_EXHAUSTED");
        r.record(Duration::from_micros(10), "RESOURCE_EXHAUSTED");
        assert_eq!(r.count(), 3);
        assert_eq!(r.ok_count(), 1);
        assert_eq!(r.codes().get("RESOURCE_EXHAUSTED"), Some(&2));
        assert!(close(r.ok_latency().p50_us, 200.0));
        assert!(close(r.all_latency().p50_us, 10.0));
    }

    #[test]
    fn merge_adds_counts_and_codes() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        a.record(Duration::from_micros(1), "OK");
        b.record(Duration::from_micros(3), "OK");
        b.record(Duration::from_micros(3), "UNAVAILABLE");
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.ok_count(), 2);
        assert_eq!(a.codes().get("OK"), Some(&2));
        assert_eq!(a.codes().get("UNAVAILABLE"), Some(&1));
        assert!(close(a.ok_latency().max_us, 3.0));
    }

    #[test]
    fn out_of_range_latencies_are_clamped_and_counted() {
        let mut r = Recorder::new();
        r.record(Duration::ZERO, "OK");
        r.record(Duration::from_secs(3600), "OK");
        assert_eq!(r.count(), 2);
        assert_eq!(r.clamped(), 1);
        assert!(r.ok_latency().max_us >= MAX_TRACKABLE.as_secs_f64() * 1e6 * 0.999);
    }

    #[test]
    fn empty_recorder_reports_zeros() {
        let p = Recorder::new().ok_latency();
        assert_eq!(p.count, 0);
        assert_eq!(p.p99_us, 0.0);
    }

    #[test]
    fn rates_and_ratios() {
        assert_eq!(per_second(5_000, Duration::from_millis(500)), 10_000.0);
        assert_eq!(per_second(5, Duration::ZERO), 0.0);
        assert_eq!(ratio(85.0, 100.0), Some(0.85));
        assert_eq!(ratio(1.0, 0.0), None);
    }
}
