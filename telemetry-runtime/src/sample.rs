//! Sampled timing, for `#[timed(sample = N)]`: every call is counted, the clock
//! is read for about one call in `N`.
//!
//! Reading the clock twice costs more than everything else `#[timed]` does, so a
//! hot fn can time a sample of its calls instead. Which calls are timed is
//! decided per thread slot and call site by a countdown: when it reaches zero the
//! call is timed and the next gap is drawn uniformly from `1..=2N-1` (mean `N`)
//! by a small per-thread generator. Drawn gaps, rather than every `N`th call,
//! keep a workload that repeats with a period (a slow call every 16th, a batch
//! of 8 fast ones then a slow one) from always landing on the same phase. The
//! countdown lives in the slot's counter cell, in the cache line the call writes
//! anyway; the generator runs once per timed call. Threads on the shared slot 0
//! (see [`crate::counter`]) count down in a thread-local of their own instead.
//!
//! # What the latency figures mean when sampled
//!
//! Everything in `latency_ns` describes the timed calls, a random sample of
//! about `(ok + err + panics) / N` of them:
//!
//! - `count` is the number of timed calls (so `count == ok + err + panics` holds
//!   only without sampling), and `buckets` add up to it;
//! - `sum` is the sum of their latencies: `sum / count` (`mean`) estimates the
//!   mean of all calls without bias, and Prometheus's `rate(_sum) / rate(_count)`
//!   stays right; the sum of all calls is about `sum * N`, an estimate;
//! - `min` and `max` are the smallest and largest timed latency: bounds of the
//!   sample, not of every call (the true minimum is at most `min`, the true
//!   maximum at least `max`); a rare slow call is missed with probability about
//!   `1 - 1/N`;
//! - quantiles are those of the sample. With `n` timed calls, the rank of the
//!   `q` quantile is off by about `sqrt(q (1 - q) / n)` of the distribution, so
//!   p50 and p90 need a few thousand timed calls (`N` times as many calls) to be
//!   within 1 to 2 %, and p99 some tens of thousands; p999 of a sampled fn is
//!   reliable only for fns called millions of times. The histogram's own 1 %
//!   bucket precision comes on top.

use std::cell::Cell;

use crate::clock;
use crate::counter::{CallCounters, Slot, COUNTDOWN};
use crate::sync::Ordering;

/// What [`start`] returns for a call whose latency is not measured.
pub const UNTIMED: u64 = u64::MAX;

thread_local! {
    // Const-initialized, without a destructor: one thread-pointer-relative access.
    static GENERATOR: Cell<u64> = const { Cell::new(0) };
    static SHARED_COUNTDOWN: Cell<u64> = const { Cell::new(0) };
}

/// The clock reading at a call's start if this call is one to time (about one in
/// `every`, see the module docs), else [`UNTIMED`].
#[inline(always)]
pub fn start(counters: &CallCounters, slot: Slot, every: u32) -> u64 {
    if time_this_call(counters, slot, every) {
        clock::now()
    } else {
        UNTIMED
    }
}

/// The ticks since `start` for a timed call, `None` for an untimed one.
#[inline(always)]
pub fn latency(start: u64) -> Option<u64> {
    (start != UNTIMED).then(|| clock::now().saturating_sub(start))
}

/// Whether the call being made in `slot` is one to time: about one in `every`
/// (always for `every <= 1`). The caller must own `slot`, or it must be shared.
#[inline(always)]
pub fn time_this_call(counters: &CallCounters, slot: Slot, every: u32) -> bool {
    if every <= 1 {
        return true;
    }
    if slot.is_shared() {
        return SHARED_COUNTDOWN.with(|countdown| count_down(countdown, every));
    }
    let countdown = counters.cell(slot).atomic(COUNTDOWN);
    // The subtraction's borrow is the test: a load, a `sub` and a store a call.
    let (left, was_zero) = countdown.load(Ordering::Relaxed).overflowing_sub(1);
    countdown.store(left, Ordering::Relaxed);
    if was_zero {
        countdown.store(next_gap(every) - 1, Ordering::Relaxed);
    }
    was_zero
}

fn count_down(countdown: &Cell<u64>, every: u32) -> bool {
    let left = countdown.get();
    let timed = left == 0;
    countdown.set(if timed { next_gap(every) - 1 } else { left - 1 });
    timed
}

/// The number of calls from this timed one to the next: uniform in `1..=2 every - 1`.
#[cold]
#[inline(never)]
fn next_gap(every: u32) -> u64 {
    let span = 2 * u128::from(every) - 1;
    1 + ((u128::from(random_u32()) * span) >> 32) as u64
}

/// Seeds the calling thread's generator, so that which calls are timed repeats
/// from run to run (tests); threads seed themselves otherwise.
pub fn seed_thread(seed: u64) {
    GENERATOR.set(seed | 1);
}

/// The next output of the thread's generator: SplitMix64, enough to spread gaps
/// (not for anything secret). Seeded on first use from the thread-local's
/// address and the clock, so threads and runs differ.
fn random_u32() -> u32 {
    let mut state = GENERATOR.get();
    if state == 0 {
        let address = GENERATOR.with(|cell| cell as *const Cell<u64> as u64);
        state = (address ^ clock::now().rotate_left(32)) | 1;
    }
    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    GENERATOR.set(state);
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::SlotPool;

    #[test]
    fn about_one_call_in_n_is_timed_with_gaps_of_mean_n() {
        seed_thread(7);
        let (counters, pool) = (CallCounters::new(), SlotPool::new());
        for (slot, every) in [(pool.claim(), 16), (Slot::SHARED, 16), (pool.claim(), 1)] {
            let calls = 160_000;
            let timed = (0..calls)
                .filter(|_| time_this_call(&counters, slot, every))
                .count();
            let expected = calls / every as usize;
            assert!(
                timed.abs_diff(expected) < expected / 20,
                "{timed} of {calls} timed at 1 in {every}"
            );
        }
    }

    #[test]
    fn a_periodic_workload_is_not_aliased() {
        // Every 16th call is slow: a fixed period of 16 would see all or none.
        seed_thread(11);
        let (counters, pool) = (CallCounters::new(), SlotPool::new());
        let slot = pool.claim();
        let (mut timed, mut slow) = (0, 0);
        for call in 0..1_600_000u64 {
            if time_this_call(&counters, slot, 16) {
                timed += 1;
                slow += u64::from(call % 16 == 0);
            }
        }
        let share = slow as f64 / timed as f64;
        assert!((share - 1.0 / 16.0).abs() < 0.005, "{share}");
    }

    #[test]
    fn gaps_stay_in_range() {
        seed_thread(3);
        for every in [2, 3, 16, 1000, u32::MAX] {
            for _ in 0..10_000 {
                let gap = next_gap(every);
                assert!((1..=2 * u64::from(every) - 1).contains(&gap), "{gap}");
            }
        }
    }
}
