//! Per-call cost of `#[counted]` and `#[timed]` beside the crates that do the same
//! job, all in one criterion group so that every ratio compares like with like.
//!
//! ```text
//! cargo bench --bench peers
//! ```
//!
//! Every case calls an `#[inline(never)]` fn with the same trivial body (add one to
//! its argument) and records the call the way its crate is meant to be used:
//!
//! | case                        | what one call records                                               |
//! |-----------------------------|---------------------------------------------------------------------|
//! | `bare`, `bare_async`        | nothing: the baseline (the async one polled by a minimal executor)  |
//! | `counted`                   | `#[counted]`: started + ok in this thread's cache line              |
//! | `counted_unit`              | `#[counted]` on a fn returning `()`: body in place, drop classifies |
//! | `timed`, `timed_fallible`   | `#[timed]`: the above, two TSC reads, min/max/sum, one bucket       |
//! | `timed_async`               | `#[timed]` on an `async fn`, polled by the same executor            |
//! | `timed_sample16`            | `#[timed(sample = 16)]`: counted, about 1 call in 16 timed          |
//! | `clock_pair`                | two reads of the clock `#[timed]` uses, nothing recorded: the floor |
//! | `atomic_u64`                | a relaxed `fetch_add` on one shared `AtomicU64`                     |
//! | `metered_hit_count`         | metered 0.9 `HitCount`: a relaxed `fetch_add`                       |
//! | `metered_response_time`     | metered 0.9 `ResponseTime`: `Instant` pair, `Mutex<Histogram>`      |
//! | `metrics_counter_macro`     | metrics 0.24 `counter!` each call: key lookup in the recorder, add  |
//! | `metrics_counter_handle`    | a `Counter` handle made once: one atomic add                        |
//! | `metrics_histogram_handle`  | a `Histogram` handle made once, an `Instant` pair: a sample pushed  |
//! | `fastrace_trace`            | fastrace `#[trace]`: a local span (a root span per 1,000 calls)     |
//! | `tracing_instrument`        | tracing `#[instrument]`: a span in a `Registry` with a no-op layer  |
//! | `quanta_mutex_hdrhistogram` | two `quanta` raw reads, `Mutex<hdrhistogram::Histogram>` record     |
//!
//! Before measuring, every case is run a thousand times and its recorded value is
//! read back, so no case is timed while recording nothing.

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use telemetry::timed;

/// Calls made by [`verify`] for each case before anything is measured.
const CHECK_CALLS: u64 = 1000;
/// fastrace keeps up to 10,240 local spans under one parent; a fresh root span
/// every this many calls keeps every call recorded.
const CALLS_PER_ROOT: u64 = 1000;

// ---- The fns under test: one trivial body, instrumented each way. ----

#[inline(never)]
async fn bare_async(x: u64) -> u64 {
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

#[timed]
#[inline(never)]
async fn timed_async(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// `#[counted]` on a fn that returns `()`: the body stays in place, and the
/// guard's drop tells a return from an unwind by std's panic count.
#[telemetry::counted]
#[inline(never)]
fn counted_unit(x: u64) {
    black_box(black_box(x).wrapping_add(1));
}

#[path = "support/instrumented.rs"]
mod instrumented;
use instrumented::{bare, clock_pair, counted_fn, timed_fn};

/// Every call counted, the clock read for about one call in 16, picked by the
/// runtime's per-thread countdown.
#[timed(sample = 16)]
#[inline(never)]
fn timed_sample16(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[path = "support/shared_peers.rs"]
mod shared_peers;
use shared_peers::{atomic_u64, MeteredService, SHARED};

#[inline(never)]
fn metrics_counter_macro(x: u64) -> u64 {
    metrics::counter!("peers_counter_macro").increment(1);
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn metrics_counter_handle(counter: &metrics::Counter, x: u64) -> u64 {
    counter.increment(1);
    black_box(x).wrapping_add(1)
}

#[inline(never)]
fn metrics_histogram_handle(histogram: &metrics::Histogram, x: u64) -> u64 {
    let start = Instant::now();
    let result = black_box(x).wrapping_add(1);
    histogram.record(start.elapsed());
    result
}

#[fastrace::trace]
#[inline(never)]
fn fastrace_traced(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

#[tracing::instrument]
#[inline(never)]
fn tracing_instrumented(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// The hand-rolled way: a cheap clock and a locked HdrHistogram.
struct QuantaHdr {
    clock: quanta::Clock,
    histogram: Mutex<hdrhistogram::Histogram<u64>>,
}

impl QuantaHdr {
    fn new() -> Self {
        QuantaHdr {
            clock: quanta::Clock::new(),
            histogram: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 2)
                    .expect("valid bounds"),
            ),
        }
    }

    #[inline(never)]
    fn call(&self, x: u64) -> u64 {
        let start = self.clock.raw();
        let result = black_box(x).wrapping_add(1);
        let end = self.clock.raw();
        self.histogram
            .lock()
            .unwrap()
            .saturating_record(self.clock.delta_as_nanos(start, end));
        result
    }
}

// ---- The peers' global set-up, once per process. ----

struct Peers {
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
    fastrace_spans: &'static AtomicU64,
}

fn peers() -> &'static Peers {
    static PEERS: OnceLock<Peers> = OnceLock::new();
    PEERS.get_or_init(|| {
        // metrics: the Prometheus exporter as recorder (no HTTP listener), with the
        // upkeep its docs ask for so histogram samples are drained and memory stays
        // bounded: the listener's task would do it, here a thread does.
        let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("no other metrics recorder");
        let upkeep = prometheus.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            upkeep.run_upkeep();
        });

        // fastrace: a reporter that drops what it gets (it counts spans, so the
        // check below knows spans were made).
        static FASTRACE_SPANS: AtomicU64 = AtomicU64::new(0);
        struct CountingReporter;
        impl fastrace::collector::Reporter for CountingReporter {
            fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
                FASTRACE_SPANS.fetch_add(spans.len() as u64, Ordering::Relaxed);
            }
        }
        fastrace::set_reporter(CountingReporter, fastrace::collector::Config::default());

        // tracing: a `Registry` (which stores the spans) with a layer that does
        // nothing but count, in a thread-local, the spans it sees close.
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(ClosedSpans))
            .expect("no other tracing subscriber");

        Peers {
            prometheus,
            fastrace_spans: &FASTRACE_SPANS,
        }
    })
}

thread_local! {
    static CLOSED_SPANS: Cell<u64> = const { Cell::new(0) };
}

struct ClosedSpans;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ClosedSpans {
    fn on_close(&self, _: tracing::span::Id, _: tracing_subscriber::layer::Context<'_, S>) {
        CLOSED_SPANS.with(|closed| closed.set(closed.get() + 1));
    }
}

/// Polls a future that never waits to completion: the smallest executor there is.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

/// `fastrace_traced` called `calls` times, under a fresh root span every
/// [`CALLS_PER_ROOT`] calls (the roots' cost is part of the measure).
fn fastrace_calls(calls: u64) {
    let mut left = calls;
    while left > 0 {
        let batch = left.min(CALLS_PER_ROOT);
        let root = fastrace::Span::root("bench", fastrace::collector::SpanContext::random());
        {
            let _parent = root.set_local_parent();
            for i in 0..batch {
                black_box(fastrace_traced(black_box(i)));
            }
        }
        drop(root);
        left -= batch;
    }
}

/// Value of a sample line `name value` (or `name{...} value`) of Prometheus text.
fn prometheus_value(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("{name} not in the Prometheus output:\n{text}"))
}

/// Runs every case [`CHECK_CALLS`] times and reads what it recorded.
fn verify(
    service: &MeteredService,
    counter: &metrics::Counter,
    histogram: &metrics::Histogram,
    quanta_hdr: &QuantaHdr,
) {
    let peers = peers();
    let stats = |name: &str| telemetry::snapshot().functions[&format!("peers::{name}")].clone();
    let names = [
        "instrumented::counted_fn",
        "instrumented::timed_fn",
        "timed_fallible",
        "timed_async",
        "timed_sample16",
        "counted_unit",
    ];
    let before = names.map(stats);
    let hits = SHARED.load(Ordering::Relaxed);
    let closed = CLOSED_SPANS.with(Cell::get);
    let spans = peers.fastrace_spans.load(Ordering::Relaxed);
    let quanta_before = quanta_hdr.histogram.lock().unwrap().len();
    for i in 0..CHECK_CALLS {
        counted_fn(i);
        counted_unit(i);
        timed_fn(i);
        timed_fallible(i).unwrap();
        block_on(timed_async(i));
        timed_sample16(i);
        atomic_u64(i);
        service.hit_count(i);
        service.response_time(i);
        metrics_counter_macro(i);
        metrics_counter_handle(counter, i);
        metrics_histogram_handle(histogram, i);
        tracing_instrumented(i);
        quanta_hdr.call(i);
    }
    fastrace_calls(CHECK_CALLS);

    let after = names.map(stats);
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(after.ok - before.ok, CHECK_CALLS, "{after:?}");
        if let (Some(a), Some(b)) = (&after.latency_ns, &before.latency_ns) {
            match a.sample {
                None => assert_eq!(a.count - b.count, CHECK_CALLS),
                // About CHECK_CALLS / 16 timed.
                Some(every) => assert!(
                    (1..CHECK_CALLS / 4).contains(&(a.count - b.count)) && every == 16,
                    "{a:?}"
                ),
            }
        }
    }
    assert!(after[1].latency_ns.is_some() && after[3].latency_ns.is_some());
    assert!(after[4].latency_ns.is_some());
    assert_eq!(SHARED.load(Ordering::Relaxed) - hits, CHECK_CALLS);
    assert!(service.metrics.hit_count.hit_count.get() >= CHECK_CALLS);
    assert!(
        service
            .metrics
            .response_time
            .response_time
            .histogram()
            .len()
            >= CHECK_CALLS
    );
    let text = peers.prometheus.render();
    assert!(prometheus_value(&text, "peers_counter_macro") >= CHECK_CALLS as f64);
    assert!(prometheus_value(&text, "peers_counter_handle") >= CHECK_CALLS as f64);
    assert!(prometheus_value(&text, "peers_histogram_handle_count") >= CHECK_CALLS as f64);
    assert_eq!(CLOSED_SPANS.with(Cell::get) - closed, CHECK_CALLS);
    fastrace::flush();
    let traced = peers.fastrace_spans.load(Ordering::Relaxed) - spans;
    let roots = CHECK_CALLS.div_ceil(CALLS_PER_ROOT);
    assert_eq!(traced, CHECK_CALLS + roots, "fastrace spans reported");
    assert_eq!(
        quanta_hdr.histogram.lock().unwrap().len() - quanta_before,
        CHECK_CALLS
    );
}

fn per_call(c: &mut Criterion) {
    peers();
    let service = MeteredService::default();
    let counter = metrics::counter!("peers_counter_handle");
    let histogram = metrics::histogram!("peers_histogram_handle");
    let quanta_hdr = QuantaHdr::new();
    verify(&service, &counter, &histogram, &quanta_hdr);

    let mut group = c.benchmark_group("peers");
    group.bench_function("bare", |b| b.iter(|| bare(black_box(1))));
    group.bench_function("bare_async", |b| {
        b.iter(|| block_on(bare_async(black_box(1))))
    });
    group.bench_function("counted", |b| b.iter(|| counted_fn(black_box(1))));
    group.bench_function("counted_unit", |b| b.iter(|| counted_unit(black_box(1))));
    group.bench_function("timed", |b| b.iter(|| timed_fn(black_box(1))));
    group.bench_function("timed_fallible", |b| {
        b.iter(|| timed_fallible(black_box(1)))
    });
    group.bench_function("timed_async", |b| {
        b.iter(|| block_on(timed_async(black_box(1))))
    });
    group.bench_function("timed_sample16", |b| {
        b.iter(|| timed_sample16(black_box(1)))
    });
    group.bench_function("clock_pair", |b| b.iter(|| clock_pair(black_box(1))));
    group.bench_function("atomic_u64", |b| b.iter(|| atomic_u64(black_box(1))));
    group.bench_function("metered_hit_count", |b| {
        b.iter(|| service.hit_count(black_box(1)))
    });
    group.bench_function("metered_response_time", |b| {
        b.iter(|| service.response_time(black_box(1)))
    });
    group.bench_function("metrics_counter_macro", |b| {
        b.iter(|| metrics_counter_macro(black_box(1)))
    });
    group.bench_function("metrics_counter_handle", |b| {
        b.iter(|| metrics_counter_handle(&counter, black_box(1)))
    });
    group.bench_function("metrics_histogram_handle", |b| {
        b.iter(|| metrics_histogram_handle(&histogram, black_box(1)))
    });
    group.bench_function("fastrace_trace", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            fastrace_calls(iters);
            start.elapsed()
        })
    });
    group.bench_function("tracing_instrument", |b| {
        b.iter(|| tracing_instrumented(black_box(1)))
    });
    group.bench_function("quanta_mutex_hdrhistogram", |b| {
        b.iter(|| quanta_hdr.call(black_box(1)))
    });
    group.finish();
}

criterion_group!(benches, per_call);
criterion_main!(benches);
