//! `#[timed(sample = N)]` counts every call exactly and times about one in N,
//! chosen at random per thread; on an `impl` it applies to every method, and a
//! method's own attribute overrides it.

mod support;

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use support::counts::{assert_counts, named, stats, Counts};
use support::executor::block_on;
use telemetry::{timed, Kind};

const THREADS: u64 = 2;
const CALLS_PER_THREAD: u64 = 8_000;

/// Every 4th call fails, every 1,000th unwinds (without the panic hook, which
/// `resume_unwind` does not call).
#[timed(sample = 16)]
fn sampled(call: u64) -> Result<u64, u64> {
    if call % 1_000 == 999 {
        resume_unwind(Box::new("a planned unwind"));
    }
    if call % 4 == 0 {
        Err(call)
    } else {
        Ok(call)
    }
}

#[test]
fn every_call_is_counted_and_about_one_in_n_is_timed() {
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(|| {
                for call in 0..CALLS_PER_THREAD {
                    let _ = catch_unwind(AssertUnwindSafe(|| sampled(call)));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let stats = stats(named!("sampled"));
    let panics = THREADS * (CALLS_PER_THREAD / 1_000);
    let err = THREADS * CALLS_PER_THREAD / 4;
    let calls = THREADS * CALLS_PER_THREAD;
    assert_eq!(
        (stats.kind, stats.calls, stats.ok, stats.err, stats.panics),
        (Kind::Timed, calls, calls - err - panics, err, panics)
    );
    assert_eq!((stats.cancelled, stats.in_flight), (0, 0));
    let latency = stats.latency_ns.expect("a sampled fn has a latency");
    // About 16,000 / 16 = 1,000: bounds many standard deviations wide.
    assert!((500..2_000).contains(&latency.count), "{latency:?}");
    let bucketed: u64 = latency.buckets.unwrap().iter().map(|b| b.1).sum();
    assert_eq!(bucketed, latency.count);
    assert!(latency.min <= latency.mean && latency.mean <= latency.max);
}

#[timed(sample = 4)]
async fn sampled_async(call: u64) -> Result<u64, u64> {
    support::executor::yield_once().await;
    if call % 2 == 0 {
        Ok(call)
    } else {
        Err(call)
    }
}

#[test]
fn async_fns_sample_too() {
    for call in 0..4_000 {
        let _ = block_on(sampled_async(call));
    }
    let stats = stats(named!("sampled_async"));
    assert_eq!((stats.calls, stats.ok, stats.err), (4_000, 2_000, 2_000));
    let count = stats.latency_ns.unwrap().count;
    assert!((500..2_000).contains(&count), "{count} of 4,000 timed");
}

struct Store;

#[timed(sample = 1_000)]
impl Store {
    fn get(&self) {}

    #[timed(sample = 1)]
    fn put(&self) {}
}

#[test]
fn an_impl_wide_rate_applies_to_every_method_unless_one_overrides_it() {
    for _ in 0..1_000 {
        Store.get();
        Store.put();
    }
    // `sample = 1` times every call, as without the argument.
    assert_counts(named!("Store", "put"), Kind::Timed, Counts::ok(1_000));
    let get = stats(named!("Store", "get"));
    assert_eq!((get.calls, get.ok), (1_000, 1_000));
    // About one timed call in 1,000 calls.
    let count = get.latency_ns.unwrap().count;
    assert!((1..=10).contains(&count), "{count} of 1,000 timed");
}
