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

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};

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

fn debug_build(c: &mut Criterion) {
    if cfg!(not(debug_assertions)) {
        eprintln!(
            "debug_build: built optimized; run it with `--profile dev` to measure a debug build"
        );
    }
    let mut group = c.benchmark_group("debug_build");
    let cases: [Case; 5] = [
        ("bare", bare),
        ("fetch_add", fetch_add),
        ("clock_pair", clock_pair),
        ("counted", counted_fn),
        ("timed", timed_fn),
    ];
    for (name, case) in cases {
        assert_eq!(case(1), 2);
        group.bench_function(name, |b| b.iter(|| case(black_box(1))));
    }
    group.finish();
}

criterion_group!(benches, debug_build);
criterion_main!(benches);
