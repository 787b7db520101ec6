//! What a latency's bucket costs right after the clock read that measured it:
//! why `#[timed]` is 3.5 ns over its clock pair on one CPU and 8 ns on another.
//!
//! ```text
//! cargo bench --bench clock_store
//! ```
//!
//! Every case reads the time-stamp counter twice, as `#[timed]` does, and adds
//! to memory from the difference:
//!
//! | case               | after the two reads                                              |
//! |--------------------|------------------------------------------------------------------|
//! | `pair`             | nothing: the floor                                                |
//! | `fixed_add`        | adds the latency to a sum and one to a count, fixed addresses     |
//! | `indexed_load`     | reads a bucket the latency picks                                  |
//! | `indexed_add`      | adds one to the bucket the latency picks (what a histogram does)  |
//! | `unrelated_add`    | adds one to a bucket picked by a value known before the reads     |
//! | `rotating_add`     | as `indexed_add`, shifted by the call's number: no two in a row   |
//! |                    | add to the same bucket                                            |
//! | `previous_add`     | adds one to the bucket of the previous call's latency             |
//! | `pair_work`        | `pair`, then 32 dependent multiply-rotates that need no reading   |
//! | `indexed_add_work` | `indexed_add`, then the same arithmetic                           |
//!
//! Measured on a 2-core virtualized AMD EPYC (Zen 4), per call, over five
//! runs: `pair` 19.2 to 20.0 ns, `fixed_add` 19.4 to 20.3, `indexed_load` 19.8
//! to 21.2, `unrelated_add` 19.3 to 20.1; `indexed_add` 27.4 to 28.7,
//! `rotating_add` 28.4 to 29.8, `previous_add` 26.6 to 28.8. There, in a loop
//! of calls, a store whose address waits for a clock reading costs 7 to 9 ns,
//! whether or not the next call's store goes to the same bucket, and even when
//! the reading is the previous call's; a load from such an address, or a
//! store whose address is known early, costs nothing. With work between calls
//! that needs no reading (`pair_work` adds 11 to 21 ns to `pair`), the store
//! costs less and varies from run to run: `indexed_add_work` over `pair_work`
//! from nothing to 6 ns. On the Intel Xeon of `BENCHMARKS.md` the whole of
//! `#[timed]`'s recording, bucket included, costs about 2 ns over `#[counted]`
//! and the pair. So on such a CPU the bucket's store is most of what
//! back-to-back `#[timed]` calls cost over their clock reads, as in the
//! `peers` bench, and less of what a call costs in code that does something
//! between calls.
//!
//! On CPUs other than x86_64 there is no time-stamp counter to read here, and
//! the bench measures nothing.

use criterion::{criterion_group, criterion_main, Criterion};

#[cfg(target_arch = "x86_64")]
mod cases {
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// 64 buckets per power of two up to 2^40 ticks, as the histogram's layout.
    const BUCKETS: usize = 64 * 35;

    static BUCKET: [AtomicU64; BUCKETS] = [const { AtomicU64::new(0) }; BUCKETS];
    static SUM: AtomicU64 = AtomicU64::new(0);
    static COUNT: AtomicU64 = AtomicU64::new(0);
    static PREVIOUS: AtomicU64 = AtomicU64::new(1_000);

    /// The bucket of `ticks`: power of two, then 64 steps in it.
    #[inline(always)]
    fn bucket(ticks: u64) -> usize {
        let power = 63 - (ticks | 64).leading_zeros() as usize;
        let index = (power - 5) * 64 + ((ticks >> (power - 6)) & 63) as usize;
        index.min(BUCKETS - 1)
    }

    /// The owner's plain add, as a thread slot's cell: a load and a store.
    #[inline(always)]
    fn add(cell: &AtomicU64, n: u64) {
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    #[inline(always)]
    fn ticks() -> u64 {
        let start = rdtsc();
        rdtsc().saturating_sub(start)
    }

    #[inline(always)]
    fn rdtsc() -> u64 {
        // SAFETY: RDTSC exists on every x86_64 CPU and has no side effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    #[inline(never)]
    pub fn pair() -> u64 {
        ticks()
    }

    #[inline(never)]
    pub fn fixed_add() -> u64 {
        let ticks = ticks();
        add(&SUM, ticks);
        add(&COUNT, 1);
        ticks
    }

    #[inline(never)]
    pub fn indexed_load() -> u64 {
        let ticks = ticks();
        ticks ^ BUCKET[bucket(ticks)].load(Ordering::Relaxed)
    }

    #[inline(never)]
    pub fn indexed_add() -> u64 {
        let ticks = ticks();
        add(&BUCKET[bucket(ticks)], 1);
        ticks
    }

    #[inline(never)]
    pub fn unrelated_add() -> u64 {
        let known = black_box(1_000);
        let ticks = ticks();
        add(&BUCKET[bucket(known)], 1);
        ticks
    }

    #[inline(never)]
    pub fn rotating_add() -> u64 {
        let call = COUNT.load(Ordering::Relaxed);
        add(&COUNT, 1);
        let ticks = ticks();
        add(
            &BUCKET[(bucket(ticks) + 2 * (call as usize % 512)) % BUCKETS],
            1,
        );
        ticks
    }

    #[inline(never)]
    pub fn previous_add() -> u64 {
        add(&BUCKET[bucket(PREVIOUS.load(Ordering::Relaxed))], 1);
        let ticks = ticks();
        PREVIOUS.store(ticks, Ordering::Relaxed);
        ticks
    }

    /// A chain of dependent multiplications that needs no clock reading: work
    /// between one call's recording and the next call's clock reads, as a
    /// caller's own code would be.
    #[inline(always)]
    fn work(seed: u64) -> u64 {
        let mut x = black_box(seed);
        for _ in 0..32 {
            x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(7);
        }
        x
    }

    #[inline(never)]
    pub fn pair_work() -> u64 {
        let ticks = ticks();
        ticks ^ work(1)
    }

    #[inline(never)]
    pub fn indexed_add_work() -> u64 {
        let ticks = ticks();
        add(&BUCKET[bucket(ticks)], 1);
        ticks ^ work(1)
    }

    /// What the adding cases recorded: the count, and the buckets' total.
    pub fn recorded() -> (u64, u64) {
        let buckets = BUCKET.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        (COUNT.load(Ordering::Relaxed), buckets)
    }
}

/// A case: its name and the fn it calls.
#[cfg(target_arch = "x86_64")]
type Case = (&'static str, fn() -> u64);

#[cfg(target_arch = "x86_64")]
fn clock_store(c: &mut Criterion) {
    use cases::*;
    use std::hint::black_box;

    let all: [Case; 9] = [
        ("pair", pair),
        ("fixed_add", fixed_add),
        ("indexed_load", indexed_load),
        ("indexed_add", indexed_add),
        ("unrelated_add", unrelated_add),
        ("rotating_add", rotating_add),
        ("previous_add", previous_add),
        ("pair_work", pair_work),
        ("indexed_add_work", indexed_add_work),
    ];
    for (_, case) in all {
        for _ in 0..1_000 {
            black_box(case());
        }
    }
    // Five cases add to the buckets, two to the count: none may record nothing.
    assert_eq!(recorded(), (2_000, 5_000), "a case recorded nothing");
    let mut group = c.benchmark_group("clock_store");
    for (name, case) in all {
        group.bench_function(name, |b| b.iter(|| black_box(case())));
    }
    group.finish();
}

#[cfg(not(target_arch = "x86_64"))]
fn clock_store(_: &mut Criterion) {}

criterion_group!(benches, clock_store);
criterion_main!(benches);
