//! Model checks of the lock-free primitives with `loom`, which runs each model
//! under many thread interleavings (within a preemption bound) and lets each load
//! return any value the C++ memory model allows.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p telemetry-runtime --test loom --release`.
//!
//! Two things keep these models honest:
//!
//! - loom's partial-order reduction misses some races between a load by one
//!   thread and a later store by another when the storing thread loaded the same
//!   atomic first (tokio-rs/loom#166, #392), which is exactly what an owner's
//!   plain `load` + `store` does. Readers therefore `yield_now()` before reading:
//!   the writers run first, and loom, which does see a read racing with an
//!   earlier store, then explores the reads moved earlier.
//! - Every model marks, in a [`Seen`], the interleavings it exists for (a read in
//!   the middle of a call, a slot handed from one thread to the next, ...) and
//!   fails if no execution reached them, so a model cannot pass by not exploring.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use loom::sync::Arc;
use loom::thread;
use telemetry_runtime::__private_0_1_0::counter::{CallCounters, Field, Slot, SlotPool, Totals};
use telemetry_runtime::__private_0_1_0::histogram::{
    bucket_bounds, Histogram, HistogramCounts, BUCKETS, CARRY,
};

/// Explores `f` with at most `preemptions` forced thread switches per execution:
/// enough for the races of these models, and keeps each to seconds.
fn check(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    // Every atomic access is a branch point, and a histogram read makes over a
    // hundred (a pointer per group, 64 buckets per allocated group): more than
    // loom's default of 1,000 per execution in the larger models.
    builder.max_branches = 10_000;
    builder.check(f);
}

/// Counts, across all executions of one model, how often an interleaving of
/// interest was reached.
struct Seen(AtomicUsize);

impl Seen {
    const fn new() -> Self {
        Seen(AtomicUsize::new(0))
    }

    fn mark(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    fn assert_reached(&self, what: &str) {
        assert!(self.0.load(Relaxed) > 0, "no execution reached: {what}");
    }
}

/// One finished call made in `slot`, as the guards make it: its start, its
/// latency, then its completion.
fn call(counters: &CallCounters, slot: Slot, outcome: Field, ticks: u64) {
    counters.add(slot, Field::Started, 1);
    counters.record_latency(slot, ticks);
    counters.add(slot, outcome, 1);
}

fn assert_consistent(totals: &Totals) {
    assert!(
        totals.completed() <= totals.started,
        "more completed than started calls: {totals:?}"
    );
}

fn assert_not_backwards(earlier: &Totals, later: &Totals) {
    let fields = |t: &Totals| [t.started, t.ok, t.err, t.panics, t.cancelled, t.sum_ticks];
    for (before, after) in fields(earlier).into_iter().zip(fields(later)) {
        assert!(
            before <= after,
            "a total went backwards: {earlier:?} then {later:?}"
        );
    }
    assert!(earlier.max_ticks <= later.max_ticks);
    if let Some(min) = earlier.min_ticks {
        assert!(later.min_ticks.is_some_and(|later| later <= min));
    }
}

/// A thread exits and gives its slot back; the next thread to claim a slot may get
/// the same one and continue from the counts left in it with plain load + store.
/// Nothing may be lost or counted twice.
#[test]
fn slot_handover_loses_no_count() {
    static REUSED: Seen = Seen::new();
    static DISTINCT: Seen = Seen::new();
    check(3, || {
        let pool = Arc::new(SlotPool::new());
        let counters = Arc::new(CallCounters::new());
        let spawn = |outcome: Field, ticks: u64| {
            let (pool, counters) = (pool.clone(), counters.clone());
            thread::spawn(move || {
                let slot = pool.claim();
                assert!(!slot.is_shared());
                call(&counters, slot, outcome, ticks);
                pool.release(slot);
                slot
            })
        };
        let a = spawn(Field::Ok, 5);
        let b = spawn(Field::Err, 9);
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        if a == b {
            REUSED.mark();
        } else {
            DISTINCT.mark();
        }

        let totals = counters.totals(&pool);
        assert_eq!(
            totals,
            Totals {
                started: 2,
                ok: 1,
                err: 1,
                sum_ticks: 14,
                min_ticks: Some(5),
                max_ticks: 9,
                ..Totals::default()
            }
        );
    });
    REUSED.assert_reached("the second thread reuses the first one's slot");
    DISTINCT.assert_reached("both threads hold a slot at once");
}

/// Threads racing for the last free slots never get the same exclusive slot, and
/// whoever finds the pool full gets the shared slot. The last two free slots are
/// the last of one 64-slot word of the pool and the first of the next, so a
/// claimer that loses the race in one word moves on to the next.
#[test]
fn racing_claims_get_distinct_slots_or_the_shared_one() {
    const CAPACITY: usize = 65;
    check(2, || {
        let pool = Arc::new(SlotPool::with_capacity(CAPACITY));
        // Leave exactly two free exclusive slots: 63 and 64.
        for expected in 1..CAPACITY - 2 {
            assert_eq!(pool.claim().index(), expected);
        }
        let claims: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || pool.claim())
            })
            .collect();
        let mut slots: Vec<usize> = claims
            .into_iter()
            .map(|claim| claim.join().unwrap().index())
            .collect();
        slots.sort_unstable();
        assert_eq!(slots, [0, CAPACITY - 2, CAPACITY - 1]);
        assert_eq!(pool.cells_in_use(), CAPACITY);
        assert!(pool.claim().is_shared(), "the pool is full");
    });
}

/// A slot released while two threads claim in a full pool: the claimers get the
/// released slot or the shared one, never a slot that is still held, and the
/// released slot goes to one thread at most.
#[test]
fn a_released_slot_is_handed_out_once() {
    static GOT_RELEASED: Seen = Seen::new();
    static GOT_SHARED: Seen = Seen::new();
    check(3, || {
        let pool = Arc::new(SlotPool::with_capacity(64));
        let held: Vec<Slot> = (1..64).map(|_| pool.claim()).collect();
        assert!(held.iter().all(|slot| !slot.is_shared()));
        let freed = held[10];

        let releaser = {
            let pool = pool.clone();
            thread::spawn(move || pool.release(freed))
        };
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || pool.claim())
            })
            .collect();
        releaser.join().unwrap();
        let got: Vec<Slot> = claimers.into_iter().map(|c| c.join().unwrap()).collect();

        for &slot in &got {
            assert!(slot == freed || slot.is_shared(), "{slot:?} is still held");
        }
        match got.iter().filter(|slot| **slot == freed).count() {
            0 => {
                GOT_SHARED.mark();
                assert_eq!(pool.claim(), freed, "nobody took it: it is free");
            }
            1 => GOT_RELEASED.mark(),
            _ => panic!("{freed:?} handed out twice"),
        }
        assert!(pool.claim().is_shared(), "the pool is full again");
    });
    GOT_RELEASED.assert_reached("a claimer gets the released slot");
    GOT_SHARED.assert_reached("both claimers run before the release");
}

/// Threads without an exclusive slot all write slot 0 with read-modify-writes.
#[test]
fn shared_slot_counts_every_call() {
    check(3, || {
        let counters = Arc::new(CallCounters::new());
        let threads: Vec<_> = [(Field::Ok, 7), (Field::Panics, 3)]
            .into_iter()
            .map(|(outcome, ticks)| {
                let counters = counters.clone();
                thread::spawn(move || call(&counters, Slot::SHARED, outcome, ticks))
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(
            counters.totals(&SlotPool::new()),
            Totals {
                started: 2,
                ok: 1,
                panics: 1,
                sum_ticks: 10,
                min_ticks: Some(3),
                max_ticks: 7,
                ..Totals::default()
            }
        );
    });
}

/// A snapshot taken while a thread makes calls never shows a completion without
/// its start, nor a completion without its latency, and never goes backwards.
#[test]
fn reader_never_sees_more_completed_than_started() {
    static SAW_COMPLETION: Seen = Seen::new();
    static SAW_IN_FLIGHT: Seen = Seen::new();
    check(3, || {
        let pool = Arc::new(SlotPool::new());
        let counters = Arc::new(CallCounters::new());
        let writer = {
            let (pool, counters) = (pool.clone(), counters.clone());
            thread::spawn(move || {
                let slot = pool.claim();
                call(&counters, slot, Field::Ok, 4);
                call(&counters, slot, Field::Err, 6);
            })
        };

        thread::yield_now();
        let first = counters.totals(&pool);
        let second = counters.totals(&pool);
        for totals in [&first, &second] {
            assert_consistent(totals);
            if totals.completed() > 0 {
                SAW_COMPLETION.mark();
                // Latencies are recorded before the completion is counted.
                assert!(totals.sum_ticks >= 4 && totals.min_ticks == Some(4));
            }
            if totals.in_flight() > 0 {
                SAW_IN_FLIGHT.mark();
            }
        }
        assert_not_backwards(&first, &second);

        writer.join().unwrap();
        let last = counters.totals(&pool);
        assert_not_backwards(&second, &last);
        assert_eq!((last.started, last.ok, last.err), (2, 1, 1));
    });
    SAW_COMPLETION.assert_reached("a read during the calls sees a completion");
    SAW_IN_FLIGHT.assert_reached("a read sees a call in flight");
}

/// An async call may start on one thread and complete on another, in another
/// slot; a snapshot must still never show its completion without its start, even
/// when the starting thread claims its slot while the snapshot runs.
#[test]
fn a_call_that_moves_threads_is_never_completed_before_started() {
    static SAW_COMPLETION: Seen = Seen::new();
    static SAW_IN_FLIGHT: Seen = Seen::new();
    check(3, || {
        let pool = Arc::new(SlotPool::new());
        let counters = Arc::new(CallCounters::new());
        let first_poll = {
            let (pool, counters) = (pool.clone(), counters.clone());
            thread::spawn(move || {
                let slot = pool.claim();
                counters.add(slot, Field::Started, 1);
                // The future moves to a thread without an exclusive slot, which
                // completes the call; spawning that thread orders the start before
                // the completion as an executor's queue would.
                thread::spawn(move || counters.add(Slot::SHARED, Field::Ok, 1))
                    .join()
                    .unwrap();
            })
        };

        thread::yield_now();
        let totals = counters.totals(&pool);
        assert_consistent(&totals);
        if totals.ok == 1 {
            SAW_COMPLETION.mark();
        }
        if totals.in_flight() == 1 {
            SAW_IN_FLIGHT.mark();
        }

        first_poll.join().unwrap();
        let last = counters.totals(&pool);
        assert_not_backwards(&totals, &last);
        assert_eq!((last.started, last.ok), (1, 1));
    });
    SAW_COMPLETION.assert_reached("a read during the call sees its completion");
    SAW_IN_FLIGHT.assert_reached("a read sees the call in flight");
}

/// Index of the histogram bucket that counts `value`.
fn bucket_of(value: u64) -> u32 {
    (0..BUCKETS)
        .find(|&index| {
            let (low, high) = bucket_bounds(index);
            low <= value && value <= high
        })
        .unwrap() as u32
}

/// Checks a read taken while `expected` is being recorded: only recorded buckets,
/// none above its final count, ascending. Returns the number of values seen.
fn assert_bounded(read: &HistogramCounts, expected: &[(u32, u64)]) -> u64 {
    assert_eq!(read.overflow, 0);
    for &(index, count) in &read.buckets {
        let Some(&(_, recorded)) = expected.iter().find(|(i, _)| *i == index) else {
            panic!("bucket {index} was never recorded into: {read:?}");
        };
        assert!(0 < count && count <= recorded, "{read:?}");
    }
    assert!(
        read.buckets.windows(2).all(|w| w[0].0 < w[1].0),
        "ascending"
    );
    read.count()
}

fn assert_histogram_not_backwards(earlier: &HistogramCounts, later: &HistogramCounts) {
    for &(index, count) in &earlier.buckets {
        assert!(
            later.buckets.iter().any(|&(i, n)| i == index && n >= count),
            "went backwards: {earlier:?} then {later:?}"
        );
    }
    assert!(earlier.overflow <= later.overflow);
}

/// Two threads without an exclusive slot record into the shared slot: into the
/// same bucket and into a group each, so they race to allocate the slot's buckets
/// and a group, and to count. A concurrent reader only ever sees buckets that were
/// recorded into, never more than was recorded, never going backwards; after the
/// join the counts are exact.
#[test]
fn shared_slot_histogram_records_are_exact_and_reads_bounded() {
    static SAW_PARTIAL: Seen = Seen::new();
    check(2, || {
        // Both record 3: they race to allocate the slot's buckets and group 0,
        // then to count in one bucket. 1_000 falls in another group.
        const A: &[u64] = &[3, 1_000];
        const B: &[u64] = &[3];
        let expected = [(bucket_of(3), 2), (bucket_of(1_000), 1)];

        let histogram = Arc::new(Histogram::new());
        let recorders: Vec<_> = [A, B]
            .into_iter()
            .map(|values| {
                let histogram = histogram.clone();
                thread::spawn(move || {
                    for &value in values {
                        histogram.record(Slot::SHARED, value);
                    }
                })
            })
            .collect();

        thread::yield_now();
        let during = histogram.read(1);
        let seen = assert_bounded(&during, &expected);
        if 0 < seen && seen < 3 {
            SAW_PARTIAL.mark();
        }

        for recorder in recorders {
            recorder.join().unwrap();
        }
        let last = histogram.read(1);
        assert_histogram_not_backwards(&during, &last);
        assert_eq!(last.buckets, expected);
    });
    SAW_PARTIAL.assert_reached("a read sees some records but not all");
}

/// Recorders in exclusive slots count with a plain load + store. One thread
/// records and exits; the next may get its slot and continue from its buckets; a
/// reader runs meanwhile. No record is lost or counted twice, and reads stay
/// within what was recorded.
#[test]
fn histogram_slot_handover_loses_no_record() {
    static REUSED: Seen = Seen::new();
    static SAW_PARTIAL: Seen = Seen::new();
    check(2, || {
        // Both record 40, in group 0; 200 falls in another group.
        const A: &[u64] = &[40, 200];
        const B: &[u64] = &[40];
        let expected = [(bucket_of(40), 2), (bucket_of(200), 1)];

        let pool = Arc::new(SlotPool::new());
        let histogram = Arc::new(Histogram::new());
        let recorders: Vec<_> = [A, B]
            .into_iter()
            .map(|values| {
                let (pool, histogram) = (pool.clone(), histogram.clone());
                thread::spawn(move || {
                    let slot = pool.claim();
                    assert!(!slot.is_shared());
                    for &value in values {
                        histogram.record(slot, value);
                    }
                    pool.release(slot);
                    slot
                })
            })
            .collect();

        thread::yield_now();
        let during = histogram.read(pool.cells_in_use());
        let seen = assert_bounded(&during, &expected);
        if 0 < seen && seen < 3 {
            SAW_PARTIAL.mark();
        }

        let slots: Vec<Slot> = recorders.into_iter().map(|r| r.join().unwrap()).collect();
        if slots[0] == slots[1] {
            REUSED.mark();
        }
        let last = histogram.read(pool.cells_in_use());
        assert_histogram_not_backwards(&during, &last);
        assert_eq!(last.buckets, expected);
    });
    REUSED.assert_reached("the second recorder reuses the first one's slot");
    SAW_PARTIAL.assert_reached("a read sees some records but not all");
}

/// Threads record into one bucket, `records[i]` values each and past its
/// [`CARRY`] in all, in slots of their own (`exclusive`) or the shared slot,
/// while this thread reads twice. No read sees a carry half done (the count
/// doubled, or dropped to the low part): each read holds at least the records
/// finished before it and at most all of them, reads never go backwards, and
/// the last is exact. Returns whether a read during the records saw the
/// carried count.
fn reads_across_a_carry(records: &[u64], exclusive: bool) -> bool {
    use loom::sync::atomic::{AtomicU64, Ordering};
    let pool = Arc::new(SlotPool::new());
    let histogram = Arc::new(Histogram::new());
    let done = Arc::new(AtomicU64::new(0));
    let recorders: Vec<_> = records
        .iter()
        .map(|&records| {
            let (pool, histogram, done) = (pool.clone(), histogram.clone(), done.clone());
            thread::spawn(move || {
                let slot = if exclusive {
                    pool.claim()
                } else {
                    Slot::SHARED
                };
                for _ in 0..records {
                    histogram.record(slot, 40);
                    done.fetch_add(1, Ordering::Release);
                }
            })
        })
        .collect();
    let expected = [(bucket_of(40), records.iter().sum())];
    thread::yield_now();
    let read_after_done = || {
        let floor = done.load(Ordering::Acquire);
        let read = histogram.read(pool.cells_in_use());
        assert!(read.count() >= floor, "{floor} recorded, read {read:?}");
        read
    };
    let (first, second) = (read_after_done(), read_after_done());
    let carried = [&first, &second]
        .into_iter()
        .filter(|read| assert_bounded(read, &expected) >= u64::from(CARRY))
        .count();
    assert_histogram_not_backwards(&first, &second);
    for recorder in recorders {
        recorder.join().unwrap();
    }
    let last = histogram.read(pool.cells_in_use());
    assert_histogram_not_backwards(&second, &last);
    assert_eq!(last.buckets, expected);
    carried > 0
}

/// An owner records one value past its bucket's second [`CARRY`], with a
/// plain load and store, while a reader reads (see [`reads_across_a_carry`]):
/// the second carry meets readers that know the group has carried.
#[test]
fn an_owners_carry_is_never_read_half_done() {
    static SAW_CARRIED: Seen = Seen::new();
    check(2, || {
        if reads_across_a_carry(&[2 * u64::from(CARRY) + 1], true) {
            SAW_CARRIED.mark();
        }
    });
    SAW_CARRIED.assert_reached("a read while the recorder runs sees the carried count");
}

/// Two threads add to one bucket of the shared slot past its [`CARRY`]: the
/// one that reaches it carries while the other may go on adding (see
/// [`reads_across_a_carry`]).
#[test]
fn a_shared_carry_races_other_adds_and_loses_nothing() {
    static SAW_CARRIED: Seen = Seen::new();
    check(2, || {
        let half = u64::from(CARRY) / 2;
        if reads_across_a_carry(&[half + 1, half], false) {
            SAW_CARRIED.mark();
        }
    });
    SAW_CARRIED.assert_reached("a read while the recorders run sees the carried count");
}

/// A `#[timed]` call counts its latency (counters and histogram) before its
/// completion; a snapshot that sees the completion, reading counters then the
/// histogram, sees the latency in both: for an owner's plain store and for the
/// shared slot's read-modify-write.
#[test]
fn a_seen_completion_has_its_latency_in_the_histogram() {
    static SAW_COMPLETION: Seen = Seen::new();
    check(2, || {
        let pool = Arc::new(SlotPool::new());
        let counters = Arc::new(CallCounters::new());
        let histogram = Arc::new(Histogram::new());
        let timed_calls: Vec<_> = [(pool.claim(), 40), (Slot::SHARED, 41)]
            .into_iter()
            .map(|(slot, ticks)| {
                let (counters, histogram) = (counters.clone(), histogram.clone());
                thread::spawn(move || {
                    counters.add(slot, Field::Started, 1);
                    counters.record_latency(slot, ticks);
                    histogram.record(slot, ticks);
                    counters.add(slot, Field::Ok, 1);
                })
            })
            .collect();

        thread::yield_now();
        let totals = counters.totals(&pool);
        let latencies = histogram.read(pool.cells_in_use());
        assert_consistent(&totals);
        assert!(
            latencies.count() >= totals.ok,
            "{totals:?} but histogram {latencies:?}"
        );
        if totals.ok > 0 {
            SAW_COMPLETION.mark();
        }

        for call in timed_calls {
            call.join().unwrap();
        }
        assert_eq!(histogram.read(pool.cells_in_use()).count(), 2);
        assert_eq!(counters.totals(&pool).ok, 2);
    });
    SAW_COMPLETION.assert_reached("a read during the calls sees a completion");
}

/// Threads whose slots fall past the cells kept in the call site itself share a
/// chunk allocated on first use: the two race to allocate it (the loser frees its
/// own) and count in the chunk that won. No count is lost or doubled. (Readers
/// list chunk cells the way they list inline ones, which the models above check;
/// a reader here would make this model too large to explore.)
#[test]
fn threads_past_the_inline_cells_share_one_chunk_and_lose_nothing() {
    static OVERLAPPED: Seen = Seen::new();
    check(3, || {
        let pool = Arc::new(SlotPool::new());
        // Slots 1..=31 are the inline ones: the next claims fall in chunk 0.
        for _ in 1..telemetry_runtime::__private_0_1_0::slots::INLINE_SLOTS {
            assert!(!pool.claim().is_shared());
        }
        let counters = Arc::new(CallCounters::new());
        let inside = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let callers: Vec<_> = [(Field::Ok, 40), (Field::Err, 41)]
            .into_iter()
            .map(|(outcome, ticks)| {
                let (pool, counters, inside) = (pool.clone(), counters.clone(), inside.clone());
                thread::spawn(move || {
                    let slot = pool.claim();
                    assert!(
                        slot.index() >= telemetry_runtime::__private_0_1_0::slots::INLINE_SLOTS
                    );
                    if inside.fetch_add(1, Relaxed) == 1 {
                        OVERLAPPED.mark();
                    }
                    counters.add(slot, Field::Started, 1);
                    counters.record_latency(slot, ticks);
                    counters.add(slot, outcome, 1);
                    inside.fetch_sub(1, Relaxed);
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
        let totals = counters.totals(&pool);
        assert_eq!((totals.started, totals.ok, totals.err), (2, 1, 1));
        assert_eq!((totals.min_ticks, totals.max_ticks), (Some(40), 41));
        assert_eq!(totals.sum_ticks, 81);
    });
    OVERLAPPED.assert_reached("both threads count at once");
}
