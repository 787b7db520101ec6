//! Threads hammering one fn: total calls per second with 1, 2 and as many threads
//! as the machine has cores, for `#[counted]` and `#[timed]` beside a shared
//! `AtomicU64` and metered's `HitCount` and `ResponseTime`, and the machine's own
//! limit: each thread counting in a padded cache line of its own.
//!
//! ```text
//! cargo bench --bench contention
//! ```
//!
//! Each criterion iteration is one call on every thread: criterion's time per
//! iteration is the wall time of a round, and its throughput (elements per second,
//! one element per thread) is the total number of calls per second. The threads
//! live for the whole case and meet at a barrier before and after each sample, so
//! neither spawning nor claiming a thread slot is measured.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, LazyLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

#[path = "support/instrumented.rs"]
mod instrumented;
use instrumented::{counted_fn, timed_fn};

#[path = "support/shared_peers.rs"]
mod shared_peers;
use shared_peers::{atomic_u64, MeteredService, SHARED};

static METERED: LazyLock<MeteredService> = LazyLock::new(MeteredService::default);

fn metered_hit_count(x: u64) -> u64 {
    METERED.hit_count(x)
}

fn metered_response_time(x: u64) -> u64 {
    METERED.response_time(x)
}

/// The machine's own limit for `#[counted]`: each thread adds to a counter in a
/// 128-byte line of its own with a plain load and store, found through a
/// thread-local as `#[counted]` finds its slot. No instrumentation does less.
#[inline(never)]
fn own_padded_cell(x: u64) -> u64 {
    #[repr(align(128))]
    struct Padded(AtomicU64);
    static CELLS: [Padded; 64] = [const { Padded(AtomicU64::new(0)) }; 64];
    static NEXT: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static MINE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    let mut index = MINE.get();
    if index == usize::MAX {
        index = NEXT.fetch_add(1, Ordering::Relaxed) as usize % 64;
        MINE.set(index);
    }
    let cell = &CELLS[index].0;
    cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    black_box(x).wrapping_add(1)
}

/// A case: its name and the fn the threads call.
type Case = (&'static str, fn(u64) -> u64);

const CASES: [Case; 6] = [
    ("own_padded_cell", own_padded_cell),
    ("counted", counted_fn),
    ("timed", timed_fn),
    ("atomic_u64", atomic_u64),
    ("metered_hit_count", metered_hit_count),
    ("metered_response_time", metered_response_time),
];

/// `threads` threads that each make `rounds` calls of `call` when told to.
struct Crew {
    rounds: Arc<AtomicU64>,
    start: Arc<Barrier>,
    done: Arc<Barrier>,
    threads: Vec<JoinHandle<()>>,
}

const QUIT: u64 = u64::MAX;

impl Crew {
    fn new(threads: usize, call: fn(u64) -> u64) -> Crew {
        let rounds = Arc::new(AtomicU64::new(0));
        let start = Arc::new(Barrier::new(threads + 1));
        let done = Arc::new(Barrier::new(threads + 1));
        let threads = (0..threads)
            .map(|_| {
                let (rounds, start, done) = (rounds.clone(), start.clone(), done.clone());
                std::thread::spawn(move || loop {
                    start.wait();
                    let n = rounds.load(Ordering::Acquire);
                    if n == QUIT {
                        return;
                    }
                    for i in 0..n {
                        black_box(call(black_box(i)));
                    }
                    done.wait();
                })
            })
            .collect();
        Crew {
            rounds,
            start,
            done,
            threads,
        }
    }

    /// Wall time of `rounds` calls on every thread at once.
    fn run(&self, rounds: u64) -> Duration {
        self.rounds.store(rounds, Ordering::Release);
        let begin = Instant::now();
        self.start.wait();
        self.done.wait();
        begin.elapsed()
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        self.rounds.store(QUIT, Ordering::Release);
        self.start.wait();
        for thread in self.threads.drain(..) {
            thread.join().expect("worker");
        }
    }
}

fn thread_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts = vec![1, 2, cores];
    counts.sort_unstable();
    counts.dedup();
    counts
}

/// The crews record what they should: every call of every thread is counted.
fn verify() {
    let stats =
        |name: &str| telemetry::snapshot().functions[&format!("contention::{name}")].clone();
    let (counted, timed) = (
        stats("instrumented::counted_fn"),
        stats("instrumented::timed_fn"),
    );
    let (shared, hits) = (
        SHARED.load(Ordering::Relaxed),
        METERED.metrics.hit_count.hit_count.get(),
    );
    let responses = METERED
        .metrics
        .response_time
        .response_time
        .histogram()
        .len();
    for (_, call) in CASES {
        Crew::new(2, call).run(1000);
    }
    assert_eq!(stats("instrumented::counted_fn").ok - counted.ok, 2000);
    let timed_after = stats("instrumented::timed_fn");
    assert_eq!(timed_after.ok - timed.ok, 2000);
    let count = |s: &telemetry::FunctionStats| s.latency_ns.as_ref().map_or(0, |l| l.count);
    assert_eq!(count(&timed_after) - count(&timed), 2000);
    assert_eq!(SHARED.load(Ordering::Relaxed) - shared, 2000);
    assert_eq!(METERED.metrics.hit_count.hit_count.get() - hits, 2000);
    let responses_after = METERED
        .metrics
        .response_time
        .response_time
        .histogram()
        .len();
    assert_eq!(responses_after - responses, 2000);
}

fn contention(c: &mut Criterion) {
    verify();
    let mut group = c.benchmark_group("contention");
    for (name, call) in CASES {
        for threads in thread_counts() {
            let crew = Crew::new(threads, call);
            group.throughput(Throughput::Elements(threads as u64));
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|rounds| crew.run(rounds))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, contention);
criterion_main!(benches);
