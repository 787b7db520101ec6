//! A benchmark run makes billions of calls of one fn: counts keep going up by one
//! per call from any value, through the code the macros emit, on every thread,
//! and snapshots show them exactly.

use telemetry_runtime::__private_0_1_0::counter::{current_slot, Field};
use telemetry_runtime::__private_0_1_0::registry::call_sites;

#[telemetry::counted]
fn step(x: u64) -> u64 {
    x + 1
}

const TRILLION: u64 = 1_000_000_000_000;

/// Stands in for a trillion calls of `step` on this thread, then makes 1,000 real
/// ones. The thread's slot is its own to write.
fn a_trillion_and_a_thousand_calls() {
    step(0);
    let name = concat!(module_path!(), "::step");
    let site = call_sites()
        .find(|site| site.name().as_deref() == Some(name))
        .expect("the call site is registered");
    let slot = current_slot();
    site.counters().add(slot, Field::Started, TRILLION);
    site.counters().add(slot, Field::Ok, TRILLION);
    for i in 1..1000 {
        assert_eq!(step(i), i + 1);
    }
}

#[test]
fn a_counted_fn_keeps_exact_counts_past_trillions_of_calls() {
    a_trillion_and_a_thousand_calls();
    // Another thread, another slot; its counts stay after it exits.
    std::thread::spawn(a_trillion_and_a_thousand_calls)
        .join()
        .unwrap();
    let stats = &telemetry::snapshot().functions[concat!(module_path!(), "::step")];
    assert_eq!(stats.calls, 2 * TRILLION + 2000);
    assert_eq!(stats.ok, 2 * TRILLION + 2000);
    assert_eq!((stats.err, stats.panics, stats.in_flight), (0, 0, 0));
}
