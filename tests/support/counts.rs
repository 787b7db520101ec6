//! One fn's counters, read from a fresh snapshot and compared as the tests
//! state them: `assert_counts(named!("parse"), Kind::Timed, Counts::ok_err(1, 1))`.
//!
//! All tests of a binary share one process and one registry of call sites, and
//! run in parallel: every test instruments fns of its own, so its counts are
//! its own.

use std::panic::{catch_unwind, AssertUnwindSafe};

use telemetry::{FunctionStats, Kind};

/// The default metric name of a fn of the calling module:
/// `named!("parse")` is `"my_test::parse"`, `named!("Store", "get")` is
/// `"my_test::Store::get"`.
macro_rules! named {
    ($($part:literal),+) => {
        concat!(module_path!() $(, "::", $part)+)
    };
}
pub(crate) use named;

/// The counters of one fn, as compared by the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub calls: u64,
    pub ok: u64,
    pub err: u64,
    pub panics: u64,
    pub cancelled: u64,
    pub in_flight: u64,
}

impl Counts {
    /// `n` calls, all returned a non-error value.
    pub const fn ok(n: u64) -> Counts {
        Counts {
            calls: n,
            ok: n,
            err: 0,
            panics: 0,
            cancelled: 0,
            in_flight: 0,
        }
    }

    /// `ok` calls returned a non-error value, `err` an error value.
    pub const fn ok_err(ok: u64, err: u64) -> Counts {
        Counts {
            calls: ok + err,
            ok,
            err,
            panics: 0,
            cancelled: 0,
            in_flight: 0,
        }
    }

    fn of(stats: &FunctionStats) -> Counts {
        Counts {
            calls: stats.calls,
            ok: stats.ok,
            err: stats.err,
            panics: stats.panics,
            cancelled: stats.cancelled,
            in_flight: stats.in_flight,
        }
    }
}

/// The stats of the fn called `name` in a fresh snapshot; panics, listing the
/// names there are, if it is missing.
pub fn stats(name: &str) -> FunctionStats {
    let snapshot = telemetry::snapshot();
    match snapshot.functions.get(name) {
        Some(stats) => stats.clone(),
        None => panic!(
            "no fn named {name:?} in the snapshot; it has: {:#?}",
            snapshot.functions.keys().collect::<Vec<_>>()
        ),
    }
}

/// Whether a fn named `name` is in a fresh snapshot.
pub fn is_listed(name: &str) -> bool {
    telemetry::snapshot().functions.contains_key(name)
}

/// The names in a fresh snapshot that end with `::{suffix}` or are `suffix`.
pub fn names_ending_with(suffix: &str) -> Vec<String> {
    let qualified = format!("::{suffix}");
    telemetry::snapshot()
        .functions
        .into_keys()
        .filter(|name| name == suffix || name.ends_with(&qualified))
        .collect()
}

/// Asserts the kind and counters of the fn called `name`, and that its latency
/// histogram (for `timed` fns) holds exactly one value per finished call.
#[track_caller]
pub fn assert_counts(name: &str, kind: Kind, expected: Counts) {
    let stats = stats(name);
    assert_eq!(stats.kind, kind, "kind of {name}");
    assert_eq!(Counts::of(&stats), expected, "counters of {name}");
    match kind {
        Kind::Timed => {
            let latency = stats
                .latency_ns
                .as_ref()
                .unwrap_or_else(|| panic!("{name} is timed but has no latency"));
            assert_eq!(
                latency.count,
                expected.ok + expected.err + expected.panics,
                "latency count of {name}"
            );
        }
        Kind::Counted => assert!(stats.latency_ns.is_none(), "{name} has a latency"),
    }
}

/// Calls `f`, which must panic, and catches the panic.
#[track_caller]
pub fn expect_panic<R>(f: impl FnOnce() -> R) {
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "expected a panic"
    );
}
