//! No call is lost or double-counted, whatever the number of threads, and a
//! snapshot taken while threads run sees totals that only grow.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use telemetry::{counted, timed, FunctionStats, Snapshot};

const THREADS: u64 = 8;
const CALLS: u64 = 20_000;

#[counted]
fn tally(x: u64) -> u64 {
    x.wrapping_mul(3)
}

#[timed]
fn fallible(x: u64) -> Result<u64, String> {
    if x % 4 == 0 {
        Err(format!("{x} is a multiple of 4"))
    } else {
        Ok(x)
    }
}

fn stats<'a>(snapshot: &'a Snapshot, name: &str) -> &'a FunctionStats {
    let key = format!("exact_counts::{name}");
    snapshot
        .functions
        .get(&key)
        .unwrap_or_else(|| panic!("{key} is missing from {:?}", snapshot.functions.keys()))
}

fn counters(stats: &FunctionStats) -> [u64; 5] {
    [
        stats.calls,
        stats.ok,
        stats.err,
        stats.panics,
        stats.cancelled,
    ]
}

#[test]
fn many_threads_lose_no_call_while_snapshots_are_taken() {
    let start = Arc::new(Barrier::new(THREADS as usize + 1));
    let done = Arc::new(AtomicBool::new(false));

    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut last = [[0u64; 5]; 2];
            let mut snapshots = 0;
            while !done.load(Ordering::Acquire) {
                let snapshot = telemetry::snapshot();
                for (i, name) in ["tally", "fallible"].iter().enumerate() {
                    let stats = stats(&snapshot, name);
                    let now = counters(stats);
                    for (field, (now, before)) in now.iter().zip(last[i]).enumerate() {
                        assert!(
                            *now >= before,
                            "{name} field {field} went back from {before} to {now}"
                        );
                    }
                    assert!(stats.ok + stats.err + stats.panics + stats.cancelled <= stats.calls);
                    last[i] = now;
                }
                snapshots += 1;
            }
            snapshots
        })
    };

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                for i in 0..CALLS {
                    let x = t * CALLS + i;
                    assert_eq!(tally(x), x.wrapping_mul(3));
                    assert_eq!(fallible(x).is_err(), x % 4 == 0);
                }
            })
        })
        .collect();
    start.wait();
    for worker in workers {
        worker.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let snapshots = watcher.join().unwrap();
    assert!(snapshots > 0);

    let total = THREADS * CALLS;
    let snapshot = telemetry::snapshot();
    let tally = stats(&snapshot, "tally");
    assert_eq!(counters(tally), [total, total, 0, 0, 0]);
    assert_eq!(tally.in_flight, 0);
    assert!(tally.latency_ns.is_none(), "counted fns have no latency");

    let fallible = stats(&snapshot, "fallible");
    let errors = total / 4;
    assert_eq!(counters(fallible), [total, total - errors, errors, 0, 0]);
    let latency = fallible
        .latency_ns
        .as_ref()
        .expect("timed fns have latency");
    assert_eq!(latency.count, fallible.ok + fallible.err + fallible.panics);
    let buckets = latency.buckets.as_ref().expect("level 3 has buckets");
    assert_eq!(buckets.iter().map(|&(_, n)| n).sum::<u64>(), latency.count);
    assert!(
        buckets.windows(2).all(|w| w[0].0 < w[1].0),
        "buckets ascend"
    );
    assert!(latency.min <= latency.p50 && latency.p50 <= latency.p90);
    assert!(
        latency.p90 <= latency.p99 && latency.p99 <= latency.p999 && latency.p999 <= latency.max
    );
    assert!(latency.min <= latency.mean && latency.mean <= latency.max);
}

#[timed]
fn short_lived(x: u64) -> u64 {
    x + 1
}

#[test]
fn counts_of_exited_threads_are_kept_when_slots_are_reused() {
    // Many more threads over time than are alive at once: slots are handed over
    // from exited threads to new ones, with the counts left in them.
    let rounds = 3;
    let per_round = 80;
    for _ in 0..rounds {
        let start = Arc::new(Barrier::new(per_round));
        let threads: Vec<_> = (0..per_round)
            .map(|_| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    for i in 0..100 {
                        short_lived(i);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }
    let snapshot = telemetry::snapshot();
    let stats = stats(&snapshot, "short_lived");
    let total = (rounds * per_round * 100) as u64;
    assert_eq!((stats.calls, stats.ok), (total, total));
    assert_eq!(stats.latency_ns.as_ref().unwrap().count, total);
}

#[timed]
fn may_panic(fail: bool) -> u32 {
    if fail {
        panic!("asked to fail");
    }
    7
}

#[test]
fn panics_are_counted_and_timed() {
    for fail in [false, true, true] {
        let outcome = std::panic::catch_unwind(|| may_panic(fail));
        assert_eq!(outcome.is_err(), fail);
    }
    let snapshot = telemetry::snapshot();
    let stats = stats(&snapshot, "may_panic");
    assert_eq!(counters(stats), [3, 1, 0, 2, 0]);
    assert_eq!(stats.latency_ns.as_ref().unwrap().count, 3);
}

#[counted]
fn never_called() {}

#[test]
fn every_instrumented_fn_is_listed_from_the_start_with_zeros() {
    let snapshot = telemetry::snapshot();
    let stats = stats(&snapshot, "never_called");
    assert_eq!(counters(stats), [0; 5]);
    assert_eq!(stats.in_flight, 0);
    if false {
        never_called();
    }
}

#[timed]
fn leveled(x: u64) -> Result<u64, String> {
    Ok(x)
}

#[test]
fn details_levels_drop_what_they_leave_out() {
    leveled(1).unwrap();
    let full = telemetry::snapshot();
    assert_eq!(full.schema_version, 2);
    assert_eq!(full.details_level, telemetry::DetailsLevel::Full);

    let level0 = full.details(telemetry::DetailsLevel::Instance);
    assert!(level0.functions.is_empty() && level0.critical_errors.is_empty());
    assert_eq!(level0.instance_id, full.instance_id);

    let level1 = full.details(telemetry::DetailsLevel::Counters);
    assert!(stats(&level1, "leveled").latency_ns.is_none());
    assert!(stats(&level1, "leveled").calls >= 1);

    let level2 = full.details(telemetry::DetailsLevel::Summaries);
    let latency = stats(&level2, "leveled").latency_ns.as_ref().unwrap();
    assert!(latency.buckets.is_none() && latency.count >= 1);

    // A snapshot never gains details it was taken without.
    assert_eq!(
        level1.details(telemetry::DetailsLevel::Full).details_level,
        telemetry::DetailsLevel::Counters
    );

    let json = serde_json::to_string(&level2).unwrap();
    assert!(!json.contains("buckets"));
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, level2);
}

#[counted]
fn shaped() {}

#[test]
fn snapshot_json_has_the_contract_shape() {
    shaped();
    let value: serde_json::Value = serde_json::from_str(&telemetry::snapshot().to_json()).unwrap();
    for key in [
        "schema_version",
        "instance_id",
        "anonymized",
        "details_level",
        "taken_at_unix_ms",
        "uptime_ms",
        "app",
        "system",
        "functions",
        "critical_errors",
    ] {
        assert!(value.get(key).is_some(), "missing {key}");
    }
    let id = value["instance_id"].as_str().unwrap();
    assert_eq!((id.len(), &id[14..15]), (36, "4"), "UUID v4: {id}");
    for key in ["os", "arch", "cpu_count", "memory_bytes", "in_container"] {
        assert!(value["system"].get(key).is_some(), "missing system.{key}");
    }
    let shaped = &value["functions"]["exact_counts::shaped"];
    assert_eq!(shaped["kind"], "counted");
    for key in ["calls", "ok", "err", "panics", "cancelled", "in_flight"] {
        assert!(shaped[key].is_u64(), "missing functions.shaped.{key}");
    }
    assert!(value["taken_at_unix_ms"].as_u64().unwrap() > 1_700_000_000_000);
}

#[timed]
fn crowded(x: u64) -> u64 {
    x ^ 1
}

/// Starts `threads` threads that each call [`crowded`] `calls` times and note
/// their thread slot, all alive at once until every one has; returns the slots.
fn crowd(threads: usize, calls: u64) -> Vec<usize> {
    let all_alive = Arc::new(Barrier::new(threads));
    let crowd: Vec<_> = (0..threads)
        .map(|_| {
            let all_alive = all_alive.clone();
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    for i in 0..calls {
                        crowded(i);
                    }
                    let slot = telemetry::__private_0_1_0::counter::current_slot().index();
                    all_alive.wait();
                    slot
                })
                .expect("a thread")
        })
        .collect();
    crowd.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn a_thousand_live_threads_have_cells_of_their_own_and_more_share_exactly() {
    let calls = 50;
    // 600 threads alive at once (with the few of the other tests): each holds a
    // slot no other live thread holds, none the shared one.
    let slots = crowd(600, calls);
    let mut distinct = slots.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        slots.len(),
        "two live threads shared a slot"
    );
    assert!(!slots.contains(&0), "a thread got the shared slot");

    // Past 1,023 live threads the rest share slot 0, whose counts stay exact.
    let slots = crowd(1_100, calls);
    let shared = slots.iter().filter(|&&slot| slot == 0).count();
    assert!(
        shared >= 1_100 - 1_023,
        "{shared} threads on the shared slot"
    );
    let mut exclusive: Vec<usize> = slots.into_iter().filter(|&slot| slot != 0).collect();
    let held = exclusive.len();
    exclusive.sort_unstable();
    exclusive.dedup();
    assert_eq!(
        exclusive.len(),
        held,
        "two live threads shared an exclusive slot"
    );

    let snapshot = telemetry::snapshot();
    let stats = stats(&snapshot, "crowded");
    let total = 1_700 * calls;
    assert_eq!(counters(stats), [total, total, 0, 0, 0]);
    assert_eq!(stats.latency_ns.as_ref().unwrap().count, total);
}

#[test]
fn a_summary_snapshot_has_the_quantiles_of_the_full_one() {
    // Latencies spread over many groups of buckets, on several threads.
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    spread((t * 2_000 + i) * 7_919 % 8_000);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let summaries = Snapshot::take(telemetry::DetailsLevel::Summaries);
    let full = telemetry::snapshot().details(telemetry::DetailsLevel::Summaries);
    let latency = |snapshot: &Snapshot| stats(snapshot, "spread").latency_ns.clone().unwrap();
    let (taken, reduced) = (latency(&summaries), latency(&full));
    assert_eq!(taken.count, 8_000);
    assert!(taken.buckets.is_none());
    // Each snapshot measures the clock's ratio anew, so the same bucket may come
    // out a nanosecond apart; a different bucket would be 1.5 % or more apart.
    let pairs = [
        (taken.p50, reduced.p50),
        (taken.p90, reduced.p90),
        (taken.p99, reduced.p99),
        (taken.p999, reduced.p999),
    ];
    for (summary, full) in pairs {
        assert!(
            summary.abs_diff(full) as f64 <= full as f64 * 1e-3 + 1.0,
            "{taken:?} vs {reduced:?}"
        );
    }
}

#[timed]
fn spread(work: u64) -> u64 {
    // Work of 1 to 4,096 steps: latencies over several powers of two.
    (0..1u64 << (work % 13)).fold(work, |acc, i| std::hint::black_box(acc ^ i))
}
