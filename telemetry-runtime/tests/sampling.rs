//! `#[timed(sample = N)]` times about one call in N: for a million calls of a
//! known latency distribution, the quantiles of the sampled latencies stay within
//! 2 % of those of every latency, while the call counts stay exact.
//!
//! Latencies are fed to the recording path directly (the decision of which calls
//! to time, the counters and the histogram), so the test knows every latency and
//! does not depend on how long anything takes on this machine.

use telemetry_runtime::__private_0_1_0::counter::{CallCounters, Field, SlotPool};
use telemetry_runtime::__private_0_1_0::histogram::Histogram;
use telemetry_runtime::__private_0_1_0::sample::{seed_thread, time_this_call};

const CALLS: u64 = 1_000_000;
const EVERY: u32 = 16;

/// SplitMix64: the test's own generator of latencies, independent of the one
/// that picks the calls to time.
struct Latencies(u64);

impl Latencies {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Log-normal ticks: median 20,000, shape 0.5 (p99 near 3.2 × the median),
    /// as a service call's latency often is.
    fn next(&mut self) -> u64 {
        let normal = (-2.0 * self.uniform().ln()).sqrt()
            * (2.0 * std::f64::consts::PI * self.uniform()).cos();
        (20_000.0 * (0.5 * normal).exp()) as u64
    }
}

#[test]
fn sampled_quantiles_are_within_two_percent_of_unsampled_ones() {
    for seed in 1..=5u64 {
        seed_thread(seed);
        let mut latencies = Latencies(seed * 1_000_003);
        let pool = SlotPool::new();
        let slot = pool.claim();
        let (counters, every_call, sampled) =
            (CallCounters::new(), Histogram::new(), Histogram::new());
        for _ in 0..CALLS {
            let ticks = latencies.next();
            counters.add(slot, Field::Started, 1);
            every_call.record(slot, ticks);
            if time_this_call(&counters, slot, EVERY) {
                counters.record_latency(slot, ticks);
                sampled.record(slot, ticks);
            }
            counters.add(slot, Field::Ok, 1);
        }

        let totals = counters.totals(&pool);
        assert_eq!(
            (totals.started, totals.ok),
            (CALLS, CALLS),
            "every call counted"
        );
        let (all, some) = (
            every_call.read(pool.cells_in_use()),
            sampled.read(pool.cells_in_use()),
        );
        assert_eq!(all.count(), CALLS);
        let expected = CALLS / u64::from(EVERY);
        assert!(
            some.count().abs_diff(expected) < expected / 50,
            "seed {seed}: {} timed, about {expected} expected",
            some.count()
        );

        let quantiles = [0.5, 0.9, 0.99];
        for ((q, truth), estimate) in quantiles
            .iter()
            .zip(all.quantiles(quantiles))
            .zip(some.quantiles(quantiles))
        {
            let (truth, estimate) = (truth.unwrap() as f64, estimate.unwrap() as f64);
            let error = (estimate / truth - 1.0).abs();
            assert!(
                error <= 0.02,
                "seed {seed}: p{} sampled {estimate} vs {truth} ({:.2} %)",
                q * 100.0,
                error * 100.0
            );
        }
        // The mean of the timed calls estimates the mean of all of them.
        let mean = totals.sum_ticks as f64 / some.count() as f64;
        assert!(
            (mean / 20_000.0 / (0.125f64).exp() - 1.0).abs() < 0.02,
            "mean {mean}"
        );
    }
}
