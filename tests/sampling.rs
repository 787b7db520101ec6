//! `#[timed(sample = N)]` counts every call exactly and times about one in N,
//! chosen at random per thread; on an `impl` it applies to every method, and a
//! method's own attribute overrides it. Snapshots say `"sample": N`.

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
    assert_eq!(latency.sample, Some(16));
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
    assert_eq!(
        stats(named!("Store", "put")).latency_ns.unwrap().sample,
        None
    );
    let get = stats(named!("Store", "get"));
    assert_eq!((get.calls, get.ok), (1_000, 1_000));
    // About one timed call in 1,000 calls.
    let latency = get.latency_ns.unwrap();
    assert_eq!(latency.sample, Some(1_000));
    assert!((1..=10).contains(&latency.count), "{latency:?}");
}

#[timed(sample = 16, name = "sampling.shared.same.rate")]
fn same_rate_a() {}

#[timed(sample = 16, name = "sampling.shared.same.rate")]
fn same_rate_b() {}

#[timed(sample = 16, name = "sampling.shared.other.rates")]
fn sixteenth() {}

#[timed(name = "sampling.shared.other.rates")]
fn every() {}

#[test]
fn sites_of_one_name_merge_at_one_rate_and_as_counted_across_rates() {
    for _ in 0..1_600 {
        same_rate_a();
        same_rate_b();
        sixteenth();
        every();
    }
    let same = stats("sampling.shared.same.rate");
    assert_eq!(
        (same.kind, same.calls, same.ok),
        (Kind::Timed, 3_200, 3_200)
    );
    let latency = same.latency_ns.unwrap();
    assert_eq!(latency.sample, Some(16));
    assert!((100..400).contains(&latency.count), "{latency:?}");
    // A histogram mixing a sixteenth of one site's calls with every call of the
    // other would describe neither: the entry is counted, as for mixed kinds.
    assert_counts(
        "sampling.shared.other.rates",
        Kind::Counted,
        Counts::ok(3_200),
    );
}

#[test]
fn the_json_says_which_latencies_are_sampled() {
    // Its own fn: the merge test counts every call of `sixteenth` exactly.
    sampled_for_the_json();
    every_call_of_a_timed_fn();
    let snapshot = telemetry::snapshot();
    let json = snapshot.to_json();
    let sampled = snapshot
        .functions
        .values()
        .filter_map(|stats| stats.latency_ns.as_ref()?.sample)
        .collect::<Vec<_>>();
    assert!(sampled.contains(&16), "{sampled:?}");
    // Every sampled latency carries its rate, and no other has the key.
    assert_eq!(json.matches("\"sample\":").count(), sampled.len(), "{json}");
    let timed = &snapshot.functions[named!("every_call_of_a_timed_fn")];
    assert_eq!(timed.latency_ns.as_ref().unwrap().sample, None);
    let read_back: telemetry::Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(read_back.functions, snapshot.functions);
}

#[timed]
fn every_call_of_a_timed_fn() {}

#[timed(sample = 16)]
fn sampled_for_the_json() {}
