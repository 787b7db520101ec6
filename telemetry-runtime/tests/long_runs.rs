//! A benchmark run makes billions of calls of one fn: counts keep going up by one
//! per call from any value, through the code the macros emit, and snapshots show
//! them exactly.

use telemetry_runtime::counter::{current_slot, Field};
use telemetry_runtime::registry::call_sites;

#[telemetry::counted]
fn step(x: u64) -> u64 {
    x + 1
}

#[test]
fn a_counted_fn_keeps_exact_counts_past_a_trillion_calls() {
    step(0);
    let name = concat!(module_path!(), "::step");
    let site = call_sites()
        .find(|site| site.name().as_deref() == Some(name))
        .expect("the call site is registered");
    // Stand in for a trillion calls on this thread: its slot is its own to write.
    let trillion = 1_000_000_000_000;
    let slot = current_slot();
    site.counters().add(slot, Field::Started, trillion);
    site.counters().add(slot, Field::Ok, trillion);
    for i in 0..1000 {
        assert_eq!(step(i), i + 1);
    }
    let stats = &telemetry::snapshot().functions[name];
    assert_eq!(stats.calls, trillion + 1001);
    assert_eq!(stats.ok, trillion + 1001);
    assert_eq!((stats.err, stats.panics, stats.in_flight), (0, 0, 0));
}
