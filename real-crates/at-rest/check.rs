// The check shared by every crate: `exercise()` (below, one per crate) runs some
// of the crate's API; then, with nothing running, every fn of the crate in the
// snapshot must satisfy the invariants at rest. This file is its own test binary
// with one test, so no other thread runs while the snapshot is taken.

#[test]
fn snapshot_invariants_hold_at_rest_for_every_fn_of_the_crate() {
    exercise();
    let snapshot = telemetry::snapshot();
    let prefix = format!("{CRATE}::");
    let mut called = 0;
    let mut broken = Vec::new();
    for (name, stats) in snapshot.functions.iter().filter(|(name, _)| name.starts_with(&prefix)) {
        if stats.calls > 0 {
            called += 1;
        }
        let finished = stats.ok + stats.err + stats.panics;
        if stats.calls != finished + stats.cancelled {
            broken.push(format!("{name}: calls {} != ok + err + panics + cancelled = {}", stats.calls, finished + stats.cancelled));
        }
        if stats.in_flight != 0 {
            broken.push(format!("{name}: in_flight {} at rest", stats.in_flight));
        }
        if stats.kind != KIND {
            broken.push(format!("{name}: kind {:?}, but the crate carries {KIND:?} only", stats.kind));
        }
        match (&stats.latency_ns, stats.kind) {
            (Some(latency), telemetry::Kind::Timed) if latency.count != finished => {
                broken.push(format!("{name}: latency_ns.count {} != ok + err + panics = {finished}", latency.count))
            }
            (None, telemetry::Kind::Timed) => broken.push(format!("{name}: timed, but no latency_ns")),
            (Some(_), telemetry::Kind::Counted) => broken.push(format!("{name}: counted, but has latency_ns")),
            _ => {}
        }
    }
    assert!(broken.is_empty(), "invariants broken at rest:\n{}", broken.join("\n"));
    // Arguments spelled out: a lone literal is no format string in edition 2018.
    assert!(
        called >= MIN_FNS_CALLED,
        "only {} fns named {}* were called; the check needs at least {} to mean anything",
        called,
        prefix,
        MIN_FNS_CALLED
    );
}

/// Runs `f`, which must panic inside the crate, without printing the panic.
#[allow(dead_code)]
fn expect_panic(f: impl FnOnce() + std::panic::UnwindSafe) {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    assert!(outcome.is_err(), "expected a panic");
}
