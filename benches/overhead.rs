//! Per-call overhead of `#[counted]` and `#[timed]` over a bare call, two-thread
//! scaling of one counted fn, and the cost of `snapshot()`.
//!
//! `cargo bench --bench overhead`; the figures in BENCHMARKS.md come from it.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use telemetry::{counted, timed};

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[counted]
#[inline(never)]
fn counted_fn(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[timed]
#[inline(never)]
fn timed_fn(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[timed]
#[inline(never)]
fn timed_fallible(x: u64) -> Result<u64, String> {
    if black_box(x) == u64::MAX {
        return Err("overflow".to_owned());
    }
    Ok(x + 1)
}

#[counted]
#[inline(never)]
fn contended(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

fn per_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_call");
    group.bench_function("bare", |b| b.iter(|| bare(black_box(1))));
    group.bench_function("counted", |b| b.iter(|| counted_fn(black_box(1))));
    group.bench_function("timed", |b| b.iter(|| timed_fn(black_box(1))));
    group.bench_function("timed_fallible", |b| {
        b.iter(|| timed_fallible(black_box(1)))
    });
    group.finish();
}

/// Total calls per second of `threads` threads calling one fn for `window`.
fn throughput(threads: usize, window: Duration, call: fn(u64) -> u64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, total) = (stop.clone(), total.clone());
            std::thread::spawn(move || {
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..1024 {
                        black_box(call(black_box(calls)));
                    }
                    calls += 1024;
                }
                total.fetch_add(calls, Ordering::Relaxed);
            })
        })
        .collect();
    let start = Instant::now();
    std::thread::sleep(window);
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    total.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("contention");
    for threads in [1, 2] {
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function(format!("counted_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                // Each thread makes `iters` calls; criterion divides by `iters`.
                let start = Instant::now();
                let workers: Vec<_> = (0..threads)
                    .map(|_| {
                        std::thread::spawn(move || {
                            for i in 0..iters {
                                black_box(contended(black_box(i)));
                            }
                        })
                    })
                    .collect();
                for worker in workers {
                    worker.join().unwrap();
                }
                start.elapsed()
            })
        });
    }
    group.finish();
    let one = throughput(1, Duration::from_millis(500), contended);
    let two = throughput(2, Duration::from_millis(500), contended);
    println!(
        "contention/counted: 1 thread {:.0} Mcalls/s, 2 threads {:.0} Mcalls/s, scaling {:.2}x",
        one / 1e6,
        two / 1e6,
        two / one
    );
}

fn snapshot(c: &mut Criterion) {
    // Touch every fn once so the snapshot reads real counters and histograms.
    for i in 0..1000 {
        bare(i);
        counted_fn(i);
        timed_fn(i);
        let _ = timed_fallible(i);
    }
    let functions = telemetry::snapshot().functions.len();
    c.bench_function(&format!("snapshot/{functions}_fns"), |b| {
        b.iter(telemetry::snapshot)
    });
}

criterion_group!(benches, per_call, contention, snapshot);
criterion_main!(benches);
