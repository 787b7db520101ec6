//! What `#[counted]` and `#[timed]` cost in a debug build, the build `cargo test`
//! makes: a user's test suite runs instrumented fns unoptimized.
//!
//! ```text
//! cargo bench --profile dev --bench debug_build
//! ```
//!
//! `--profile dev` builds this bench (and the crates) as `cargo test` does: no
//! optimization, no inlining but what `#[inline(always)]` forces. Run under the
//! bench profile instead, it measures release code. Every case has the same body;
//! what each adds over `bare` is compared with what a debug `fetch_add` and a
//! debug pair of clock reads cost in the same run.
//!
//! Times on a shared machine swing; instruction counts do not. With
//! `DEBUG_BUILD_CALLS=<case>:<calls>` the bench skips criterion and calls one
//! case that many times, for a counter such as callgrind to count (what
//! `scripts/bench` does where valgrind is installed):
//!
//! ```text
//! DEBUG_BUILD_CALLS=counted:100000 valgrind --tool=callgrind target/debug/deps/debug_build-…
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, Criterion};

#[path = "support/instrumented.rs"]
mod instrumented;
use instrumented::{bare, clock_pair, counted_fn, timed_fn};

/// A relaxed `fetch_add` on a static, unoptimized.
#[inline(never)]
fn fetch_add(x: u64) -> u64 {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    COUNT.fetch_add(1, Ordering::Relaxed);
    black_box(x).wrapping_add(1)
}

/// A case: its name and the fn it calls.
type Case = (&'static str, fn(u64) -> u64);

const CASES: [Case; 5] = [
    ("bare", bare),
    ("fetch_add", fetch_add),
    ("clock_pair", clock_pair),
    ("counted", counted_fn),
    ("timed", timed_fn),
];

/// Calls the case `spec` names (`<case>:<calls>`) that many times, after one
/// call that sets up what a first call sets up (the thread's slot, the clock).
fn count_calls(spec: &str) -> Result<(), String> {
    let names = CASES.map(|(name, _)| name).join(", ");
    let wrong = || {
        format!("DEBUG_BUILD_CALLS={spec:?}: expected <case>:<calls>, a case of {names} and a whole number of calls")
    };
    let (name, calls) = spec.split_once(':').ok_or_else(wrong)?;
    let calls: u64 = calls.parse().map_err(|_| wrong())?;
    let (_, case) = CASES
        .iter()
        .find(|(case, _)| *case == name)
        .ok_or_else(wrong)?;
    assert_eq!(case(1), 2);
    for i in 0..calls {
        black_box(case(black_box(i)));
    }
    Ok(())
}

fn debug_build(c: &mut Criterion) {
    if cfg!(not(debug_assertions)) {
        eprintln!(
            "debug_build: built optimized; run it with `--profile dev` to measure a debug build"
        );
    }
    let mut group = c.benchmark_group("debug_build");
    for (name, case) in CASES {
        assert_eq!(case(1), 2);
        group.bench_function(name, |b| b.iter(|| case(black_box(1))));
    }
    group.finish();
}

criterion_group!(benches, debug_build);

fn main() {
    match std::env::var("DEBUG_BUILD_CALLS") {
        Ok(spec) => {
            if let Err(message) = count_calls(&spec) {
                eprintln!("debug_build: {message}");
                std::process::exit(2);
            }
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            eprintln!("debug_build: DEBUG_BUILD_CALLS is not valid UTF-8");
            std::process::exit(2);
        }
        Err(std::env::VarError::NotPresent) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
