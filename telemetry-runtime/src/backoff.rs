//! Waits between tries: capped exponential backoff with jitter, and the random
//! numbers that spread a fleet. Shared by everything that sends (the reporter,
//! the OTLP exporter), as pure functions of their inputs (randomness is passed
//! in), so the rules are tested without waiting.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// A uniformly random duration in `0..=max`.
// The reporter spreads its first report; the OTLP exporter has no use for it.
#[cfg_attr(not(feature = "reporter"), allow(dead_code))]
pub(crate) fn jitter(max: Duration, random: u64) -> Duration {
    let span = max.as_nanos().saturating_add(1);
    nanos(u128::from(random) % span)
}

/// Capped exponential backoff with jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// The wait after the first failure (before jitter).
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait after `failures` failures in a row (1 or more): `initial`
    /// doubled per failure, capped at `max`, then a random point of its upper
    /// half. Half stays fixed so retries never come sooner than the schedule
    /// intends; the other half spreads a fleet that failed at once (a collector
    /// outage) so it does not retry at once.
    pub fn delay(&self, failures: u32, random: u64) -> Duration {
        let doublings = failures.saturating_sub(1).min(63);
        let grown = self.initial.as_nanos().saturating_mul(1u128 << doublings);
        let capped = grown.min(self.max.as_nanos());
        let half = capped / 2;
        nanos(half + u128::from(random) % (capped - half + 1))
    }
}

fn nanos(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

/// A random number for jitter: not for secrets, only to spread a fleet. The
/// standard library seeds `RandomState` from the OS, so no dependency is needed.
pub(crate) fn random() -> u64 {
    RandomState::new().hash_one(std::time::Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn jitter_stays_within_its_bound() {
        let max = Duration::from_millis(1500);
        for random in [0, 1, 1_499_999_999, 1_500_000_000, u64::MAX, random()] {
            assert!(jitter(max, random) <= max);
        }
        assert_eq!(jitter(max, 0), Duration::ZERO);
        assert_eq!(jitter(max, 1_500_000_000), max);
        assert_eq!(jitter(Duration::ZERO, u64::MAX), Duration::ZERO);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_within_the_upper_half() {
        let backoff = Backoff {
            initial: SECOND,
            max: 60 * SECOND,
        };
        let lowest = |failures| backoff.delay(failures, 0);
        let highest = |failures| backoff.delay(failures, u64::MAX - 1);
        assert_eq!(lowest(1), SECOND / 2);
        assert_eq!(lowest(2), SECOND);
        assert_eq!(lowest(3), 2 * SECOND);
        assert_eq!(lowest(7), 30 * SECOND);
        for failures in [1, 2, 5, 6, 7, 30, 64, u32::MAX] {
            let cap = (SECOND * 2u32.saturating_pow(failures - 1).min(60)).min(60 * SECOND);
            for random in [0, 7, 123_456_789, u64::MAX, random()] {
                let delay = backoff.delay(failures, random);
                assert!(delay >= cap / 2 && delay <= cap, "{failures}: {delay:?}");
            }
            assert!(highest(failures) <= 60 * SECOND);
        }
        // A huge initial wait never overflows.
        let huge = Backoff {
            initial: Duration::MAX,
            max: Duration::MAX,
        };
        assert!(huge.delay(u32::MAX, u64::MAX) >= Duration::MAX / 2);
    }
}
