//! Open-loop rate control: call `i` is due at `i / rate` seconds after the start, whatever
//! happened to the calls before it. Latency is measured from that intended start, so a stalled
//! server is charged for every call it delayed (no coordinated omission).
//!
//! Pure arithmetic on integer nanoseconds (no drift from adding up rounded periods); the
//! generator sleeps until `offset(i)` and records `finish - (start + offset(i))`.

use std::time::Duration;

/// Evenly spaced call start times at a fixed rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSchedule {
    /// Calls per second, at least 1.
    rate: u64,
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

impl RateSchedule {
    /// `None` for a rate of zero.
    pub fn new(rate_per_sec: u64) -> Option<Self> {
        (rate_per_sec > 0).then_some(RateSchedule { rate: rate_per_sec })
    }

    /// Intended start of call `i` after the schedule's start: `floor(i * 1e9 / rate)` ns.
    pub fn offset(&self, i: u64) -> Duration {
        let nanos = u128::from(i) * NANOS_PER_SEC / u128::from(self.rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// How many calls are due by `elapsed`: those with `offset(i) <= elapsed`.
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        // offset(i) <= e  <=>  floor(i * 1e9 / rate) <= e  <=>  i * 1e9 < (e + 1) * rate
        //                 <=>  i <= ((e + 1) * rate - 1) / 1e9
        let e = elapsed.as_nanos();
        let last = ((e + 1) * u128::from(self.rate) - 1) / NANOS_PER_SEC;
        u64::try_from(last + 1).unwrap_or(u64::MAX)
    }

    /// Indices of the calls whose intended start falls in `[from, to)`.
    pub fn calls_between(&self, from: Duration, to: Duration) -> std::ops::Range<u64> {
        let first = if from.is_zero() {
            0
        } else {
            self.due_by(from - Duration::from_nanos(1))
        };
        let end = if to.is_zero() {
            0
        } else {
            self.due_by(to - Duration::from_nanos(1))
        };
        first..end.max(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rate_is_rejected() {
        assert_eq!(RateSchedule::new(0), None);
    }

    #[test]
    fn offsets_are_evenly_spaced() {
        let s = RateSchedule::new(1_000).expect("rate");
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(1), Duration::from_millis(1));
        assert_eq!(s.offset(1_000), Duration::from_secs(1));
        assert_eq!(s.offset(2_500), Duration::from_millis(2_500));
    }

    #[test]
    fn no_drift_when_the_period_is_not_a_whole_number_of_nanoseconds() {
        // 3 calls per second: 333,333,333.3 ns apart. Adding rounded periods would drift by
        // 1 ns every three calls; the schedule lands on whole seconds exactly.
        let s = RateSchedule::new(3).expect("rate");
        assert_eq!(s.offset(1), Duration::from_nanos(333_333_333));
        assert_eq!(s.offset(2), Duration::from_nanos(666_666_666));
        assert_eq!(s.offset(3), Duration::from_secs(1));
        assert_eq!(s.offset(3 * 86_400), Duration::from_secs(86_400));
    }

    #[test]
    fn due_by_counts_calls_whose_start_has_come() {
        let s = RateSchedule::new(1_000).expect("rate");
        assert_eq!(s.due_by(Duration::ZERO), 1); // call 0 starts at once
        assert_eq!(s.due_by(Duration::from_micros(999)), 1);
        assert_eq!(s.due_by(Duration::from_millis(1)), 2);
        assert_eq!(s.due_by(Duration::from_secs(10)), 10_001);
        let odd = RateSchedule::new(3).expect("rate");
        assert_eq!(odd.due_by(Duration::from_nanos(333_333_332)), 1);
        assert_eq!(odd.due_by(Duration::from_nanos(333_333_333)), 2);
    }

    #[test]
    fn due_by_agrees_with_offset() {
        for rate in [1, 3, 7, 1_000, 12_345, 40_000, 1_000_000] {
            let s = RateSchedule::new(rate).expect("rate");
            for i in [0, 1, 2, 10, 999, 12_345, 1_000_003] {
                let at = s.offset(i);
                assert_eq!(s.due_by(at), i + 1, "rate {rate} call {i}: due at its own offset");
                if !at.is_zero() {
                    assert!(s.due_by(at - Duration::from_nanos(1)) <= i, "rate {rate} call {i}");
                }
            }
        }
    }

    #[test]
    fn windows_split_the_calls_without_gaps_or_overlap() {
        let s = RateSchedule::new(20_000).expect("rate");
        let warmup = s.calls_between(Duration::ZERO, Duration::from_secs(2));
        let measured = s.calls_between(Duration::from_secs(2), Duration::from_secs(12));
        assert_eq!(warmup, 0..40_000);
        assert_eq!(measured, 40_000..240_000);
        assert_eq!(measured.end - measured.start, 20_000 * 10);
        let odd = RateSchedule::new(3).expect("rate");
        let a = odd.calls_between(Duration::ZERO, Duration::from_millis(500));
        let b = odd.calls_between(Duration::from_millis(500), Duration::from_secs(1));
        let c = odd.calls_between(Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!((a.clone(), b.clone(), c.clone()), (0..2, 2..3, 3..6));
        assert_eq!(
            s.calls_between(Duration::from_secs(5), Duration::from_secs(5)),
            100_000..100_000
        );
    }
}
