//! The snapshot benches: `snapshot()`, a details-level-2 snapshot (summaries, no
//! buckets) and `to_json` of a binary with N timed fns, and the memory those fns
//! take.
//!
//! A snapshot reads every instrumented fn linked into the binary, so each N has a
//! bench binary of its own (`snapshot_10`, `snapshot_100`, `snapshot_1000`,
//! `snapshot_10000`), whose fns `seq!` generates: `#[timed]`, the heavier kind.
//!
//! The fns are never called: their call sites are registered at link time all the
//! same, and the compiler then spends no time on 10,000 fn bodies. Instead, before
//! measuring, every call site gets [`CALLS`] calls recorded exactly as the guard
//! of a finished call records them (started, latency sum/min/max, one histogram
//! bucket, ok), with latencies spread over ten powers of two (256 to 262,144
//! clock ticks), so each histogram has about 60 non-empty buckets, as a fn with
//! a wide latency spread would.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, SamplingMode};
use telemetry::__private_0_1_0::counter::{current_slot, Field};
use telemetry::__private_0_1_0::guard::TimedStatics;
use telemetry::__private_0_1_0::histogram::Histogram;
use telemetry::__private_0_1_0::registry::{call_sites, CallSite};

/// Calls recorded for every fn before measuring, their latencies log-uniform
/// over ten powers of two.
const CALLS: u64 = 64;

/// What a finished call of a timed fn records, with a chosen latency.
fn record_call(site: &CallSite, ticks: u64) {
    let slot = current_slot();
    let counters = site.counters();
    counters.add(slot, Field::Started, 1);
    counters.record_latency(slot, ticks);
    site.histogram().expect("a timed fn").record(slot, ticks);
    counters.add(slot, Field::Ok, 1);
}

/// Resident memory of the process (Linux), in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Benches a binary of `fns` timed fns.
pub fn bench(c: &mut Criterion, fns: usize) {
    let resident_before = resident_bytes();
    for site in call_sites() {
        for k in 0..CALLS {
            // 2^(8 + 10 k / CALLS): 256 .. 262,144 ticks, log-uniform.
            let ticks = (256.0 * 2f64.powf(10.0 * k as f64 / CALLS as f64)) as u64;
            record_call(site, ticks);
        }
    }
    let resident_after = resident_bytes();

    let snapshot = telemetry::snapshot();
    assert_eq!(snapshot.functions.len(), fns, "one entry per fn");
    for (name, stats) in &snapshot.functions {
        assert_eq!(stats.ok, CALLS, "{name}");
        let latency = stats.latency_ns.as_ref().expect("timed");
        assert_eq!(latency.count, CALLS, "{name}");
    }

    let statics = size_of::<TimedStatics>() + size_of::<CallSite>() + size_of::<&CallSite>();
    let heap: usize = call_sites()
        .filter_map(CallSite::histogram)
        .map(Histogram::allocated_bytes)
        .sum();
    let resident = match (resident_before, resident_after) {
        (Some(before), Some(after)) => {
            format!("{}", after.saturating_sub(before) / fns as u64)
        }
        _ => "n/a".to_owned(),
    };
    let buckets: usize = snapshot
        .functions
        .values()
        .filter_map(|stats| stats.latency_ns.as_ref()?.buckets.as_ref().map(Vec::len))
        .sum();
    println!(
        "memory fns={fns} static_bytes_per_fn={statics} heap_bytes_per_fn={} \
         resident_bytes_per_fn={resident} buckets_per_fn={} json_bytes={}",
        heap / fns,
        buckets / fns,
        snapshot.to_json().len(),
    );

    let mut group = c.benchmark_group("snapshot");
    // A snapshot of 10,000 fns takes tens of ms: flat sampling with fewer samples
    // keeps every size within the measurement time.
    group.sampling_mode(SamplingMode::Flat).sample_size(30);
    group.bench_function(BenchmarkId::new("take", fns), |b| {
        b.iter(telemetry::snapshot)
    });
    group.bench_function(BenchmarkId::new("take_summaries", fns), |b| {
        b.iter(|| telemetry::Snapshot::take(telemetry::DetailsLevel::Summaries))
    });
    group.bench_function(BenchmarkId::new("to_json", fns), |b| {
        b.iter(|| black_box(&snapshot).to_json())
    });
    group.finish();

    // Memory with many threads: 32 threads on 1,000 fns, 512 on 100 fns (the
    // sizes of the targets), each thread recording into every fn, all alive at
    // once. First latencies over three powers of two (a typical fn), then, on
    // the same slots, over ten (the spread above).
    let threads = match fns {
        1000 => 32,
        100 => 512,
        _ => return,
    };
    let statics = size_of::<TimedStatics>() + size_of::<CallSite>();
    let allocated = || -> usize {
        call_sites()
            .map(|site| {
                site.counters().allocated_bytes()
                    + site.histogram().map_or(0, Histogram::allocated_bytes)
            })
            .sum()
    };
    let before = allocated();
    for (spread, powers) in [("narrow", 3.0), ("wide", 10.0)] {
        let all_alive = std::sync::Arc::new(std::sync::Barrier::new(threads));
        let crowd: Vec<_> = (0..threads)
            .map(|_| {
                let all_alive = all_alive.clone();
                std::thread::spawn(move || {
                    for site in call_sites() {
                        for k in 0..CALLS {
                            let exponent = powers * k as f64 / CALLS as f64;
                            record_call(site, (4096.0 * 2f64.powf(exponent)) as u64);
                        }
                    }
                    all_alive.wait();
                })
            })
            .collect();
        for thread in crowd {
            thread.join().expect("a recording thread");
        }
        let bytes = allocated() - before + statics * fns;
        println!(
            "threads_memory fns={fns} threads={threads} spread={spread} bytes={bytes} \
             per_thread_fn={}",
            bytes / (fns * threads)
        );
    }
}
