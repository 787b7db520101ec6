//! Quantiles read from the histogram stay within 1 % of the exact quantile of the
//! recorded values, across the whole range and at its edges.
#![cfg(not(loom))]

use telemetry_runtime::__private_0_1_0::counter::{Slot, SlotPool};
use telemetry_runtime::__private_0_1_0::histogram::{Histogram, MAX_TRACKED};

const QUANTILES: [f64; 6] = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0];

/// The value of rank `ceil(q * n)` (1-based) of the sorted values.
fn exact(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

fn check(values: &[u64], slots: &[Slot]) {
    let histogram = Histogram::new();
    for (i, &value) in values.iter().enumerate() {
        histogram.record(slots[i % slots.len()], value);
    }
    let counts = histogram.read(64);
    assert_eq!(counts.count(), values.len() as u64);
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let estimates = counts.quantiles(QUANTILES);
    for (q, estimate) in QUANTILES.iter().zip(estimates) {
        let truth = exact(&sorted, *q);
        let estimate = estimate.unwrap_or_else(|| panic!("q{q} of tracked values"));
        let error = (estimate as f64 - truth as f64).abs() / (truth.max(1)) as f64;
        assert!(
            error <= 0.01,
            "q{q}: estimate {estimate}, exact {truth}, error {error:.4}"
        );
    }
}

/// A small deterministic generator (xorshift), so failures reproduce.
fn pseudo_random(seed: u64, n: usize) -> impl Iterator<Item = u64> {
    let mut state = seed;
    std::iter::repeat_with(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    })
    .take(n)
}

#[test]
fn log_uniform_values_over_the_whole_range() {
    let values: Vec<u64> = pseudo_random(7, 50_000)
        .map(|r| (r >> 16) >> (r % 48)) // every power of two is hit
        .map(|v| v.min(MAX_TRACKED))
        .collect();
    check(&values, &[Slot::SHARED]);
}

#[test]
fn values_spread_over_several_thread_slots() {
    let pool = SlotPool::new();
    let slots: Vec<Slot> = (0..5).map(|_| pool.claim()).collect();
    let values: Vec<u64> = pseudo_random(11, 30_000)
        .map(|r| 500 + r % 2_000_000)
        .collect();
    check(&values, &slots);
}

#[test]
fn range_edges() {
    check(&[0, 0, 1, 127, 128, 129], &[Slot::SHARED]);
    check(&[MAX_TRACKED; 10], &[Slot::SHARED]);
    check(&[1, 3_600_000_000_000, MAX_TRACKED], &[Slot::SHARED]); // 1 ns … 1 hour
    let exact_small: Vec<u64> = (0..128).collect();
    let histogram = Histogram::new();
    for &v in &exact_small {
        histogram.record(Slot::SHARED, v);
    }
    let [median] = histogram.read(1).quantiles([0.5]);
    assert_eq!(median, Some(63), "values below 128 are exact");
}

#[test]
fn overflow_values_are_counted_and_reported_as_beyond_range() {
    let histogram = Histogram::new();
    for v in [10, 20, MAX_TRACKED + 1, u64::MAX] {
        histogram.record(Slot::SHARED, v);
    }
    let counts = histogram.read(1);
    assert_eq!((counts.count(), counts.overflow), (4, 2));
    let [p25, p50, p75, p100] = counts.quantiles([0.25, 0.5, 0.75, 1.0]);
    assert_eq!((p25, p50), (Some(10), Some(20)));
    assert_eq!(
        (p75, p100),
        (None, None),
        "the caller reports its true maximum"
    );
}
