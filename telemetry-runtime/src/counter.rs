//! Per-thread call counters.
//!
//! A locked read-modify-write (`fetch_add`) on a line other threads write stops
//! scaling at two threads, and on some CPUs it costs several nanoseconds even
//! when no other thread touches the line (5.4 ns on the Intel Xeon of
//! `BENCHMARKS.md`, about 0.5 ns on an AMD Zen 4), more than the whole budget of
//! `#[counted]`. So every call site owns a cell per thread slot, and each thread
//! claims one slot index for its lifetime from a process-wide [`SlotPool`]. The
//! owner of a slot is its only writer and updates it with a plain load and store;
//! readers sum all slots at snapshot time.
//!
//! Up to [`MAX_SLOTS`] - 1 threads alive at once each get a slot of their own. The
//! cells of the first [`INLINE_SLOTS`](crate::slots::INLINE_SLOTS) slots are in
//! the call site's `static`; the others are allocated in chunks the first time a
//! thread with such a slot calls the fn (see [`crate::slots`]), so memory follows
//! the threads and the fns they call.
//!
//! Slot 0 is shared: threads that find the pool exhausted (more than
//! `MAX_SLOTS - 1` alive at once) or that run while their thread-locals are being
//! destroyed use it with real atomic read-modify-writes: their counts stay exact,
//! each call just costs a locked instruction more, contended by the other threads
//! in the same situation. A thread keeps the slot it got for its lifetime, the
//! shared one included: above 1,023 live threads, the threads started last share
//! slot 0 until they exit, while new threads get exclusive slots again as soon as
//! others have exited. When a thread exits its slot goes back to the pool with
//! its counts in place; the next owner continues from them, so no count is lost
//! and no total goes backwards.
//!
//! Instrumented calls in a build with debug assertions count in slot 0 only
//! (see the `guard` module): unoptimized, its one atomic add (a single locked
//! instruction on x86_64) is cheaper than finding and updating an exclusive slot.

use crate::slots::{PerSlot, Zeroed};
use crate::sync::{zero, AddRelease, AtomicU64, LoadAcquire, Ordering};

pub use crate::slots::MAX_SLOTS;

/// Index of one cell in every call site's [`CallCounters`], held by one thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(u16);

impl Slot {
    /// The slot every thread may write with atomic read-modify-writes.
    pub const SHARED: Slot = Slot(0);

    /// Whether more than one thread may write this slot.
    #[inline(always)]
    pub fn is_shared(self) -> bool {
        self.0 == 0
    }

    /// The slot's index in `0..MAX_SLOTS`.
    #[inline(always)]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

const WORDS: usize = MAX_SLOTS / 64;

/// Hands out exclusive slots to threads; lock-free.
///
/// A bit per slot says whether a live thread holds it. Claiming is a CAS on the
/// word holding the lowest free bit, with `Acquire`; releasing a `fetch_and` with
/// `Release`, so the next owner of a slot sees every store of the previous owner
/// before it makes its own. The lowest free slot goes first, so the slots in use
/// stay packed at the front, where snapshots read them.
pub struct SlotPool {
    held: [AtomicU64; WORDS],
    /// Highest slot index ever claimed: snapshots read cells `0..=high_water` only.
    high_water: AtomicU64,
    /// Slots handed out at most (slot 0 included).
    capacity: usize,
}

impl SlotPool {
    /// A pool of [`MAX_SLOTS`] slots in which only the shared slot is taken.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        SlotPool {
            held: [const { zero() }; WORDS],
            high_water: AtomicU64::new(0),
            capacity: MAX_SLOTS,
        }
    }

    /// A pool of [`MAX_SLOTS`] slots in which only the shared slot is taken.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self::with_capacity(MAX_SLOTS)
    }

    /// A pool that hands out slots `1..capacity` only (`capacity` is clamped to
    /// `2..=MAX_SLOTS`): tests of a full pool need not claim a thousand slots.
    pub fn with_capacity(capacity: usize) -> Self {
        SlotPool {
            held: std::array::from_fn(|_| zero()),
            high_water: AtomicU64::new(0),
            capacity: capacity.clamp(2, MAX_SLOTS),
        }
    }

    /// Takes a free exclusive slot, or returns [`Slot::SHARED`] when none is free.
    pub fn claim(&self) -> Slot {
        for (word_index, word) in self.held.iter().enumerate() {
            let first = word_index * 64;
            if first >= self.capacity {
                break;
            }
            // Slot 0 is never handed out; bits past the capacity count as held.
            let mut unusable = if word_index == 0 { 1 } else { 0 };
            if self.capacity - first < 64 {
                unusable |= !0 << (self.capacity - first);
            }
            let mut held = word.load(Ordering::Relaxed);
            while held | unusable != u64::MAX {
                let bit = (!(held | unusable)).trailing_zeros();
                match word.compare_exchange_weak(
                    held,
                    held | (1 << bit),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let index = first + bit as usize;
                        self.high_water.fetch_max(index as u64, Ordering::Relaxed);
                        return Slot(index as u16);
                    }
                    Err(actual) => held = actual,
                }
            }
        }
        Slot::SHARED
    }

    /// Gives an exclusive slot back. The caller must not write to it afterwards.
    pub fn release(&self, slot: Slot) {
        if !slot.is_shared() {
            let index = slot.index();
            self.held[index / 64 % WORDS].fetch_and(!(1 << (index % 64)), Ordering::Release);
        }
    }

    /// Number of leading cells that may hold counts.
    pub fn cells_in_use(&self) -> usize {
        self.high_water.load(Ordering::Acquire) as usize + 1
    }
}

impl Default for SlotPool {
    fn default() -> Self {
        Self::new()
    }
}

/// What one cell counts. `SumTicks`, `MinTicksInverted` and `MaxTicks` are written by
/// `#[timed]` sites only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Field {
    /// Calls that began (completed or not).
    Started = 0,
    /// Calls that returned normally with an `Ok` (or non-`Result`) value.
    Ok = 1,
    /// Calls that returned an `Err`.
    Err = 2,
    /// Calls that unwound.
    Panics = 3,
    /// Async calls whose future was dropped before completing.
    Cancelled = 4,
    /// Sum of recorded latencies, in clock ticks.
    SumTicks = 5,
    /// `!min` of recorded latencies, so that the all-zero cell means "none yet".
    MinTicksInverted = 6,
    /// Largest recorded latency, in clock ticks.
    MaxTicks = 7,
}

const FIELDS: usize = 8;
/// Where `#[timed(sample = N)]` counts down to its next timed call, in the
/// owner's cell (see [`crate::sample`]); not a count, never summed.
#[cfg(not(loom))] // the sampler, as the guards, is not in loom models
pub(crate) const COUNTDOWN: usize = FIELDS;

/// One slot's counters, alone in their cache line.
///
/// 128 bytes on x86_64 and aarch64, as crossbeam's `CachePadded`: Intel's spatial
/// prefetcher fetches 64-byte lines in pairs, and some ARM cores have 128-byte
/// lines, so two owners 64 bytes apart would still slow each other down.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(128)))]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    repr(align(64))
)]
pub(crate) struct Cell([AtomicU64; FIELDS + 1]);

impl Zeroed for Cell {
    #[cfg(not(loom))]
    const ZERO: Cell = Cell([const { zero() }; FIELDS + 1]);

    fn zeroed() -> Self {
        Cell(std::array::from_fn(|_| zero()))
    }
}

impl Cell {
    #[inline(always)]
    pub(crate) fn atomic(&self, index: usize) -> &AtomicU64 {
        &self.0[index % (FIELDS + 1)]
    }

    /// [`CallCounters::add`] in this cell, of `slot`: a caller with several
    /// counts to make finds the cell once.
    #[inline(always)]
    pub(crate) fn add(&self, slot: Slot, field: Field, n: u64) {
        let counter = self.atomic(field as usize);
        if slot.is_shared() {
            counter.fetch_add(n, Ordering::Release);
        } else {
            counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Release,
            );
        }
    }

    /// [`CallCounters::record_latency`] in this cell, of a slot that is not
    /// the shared one.
    #[inline(always)]
    pub(crate) fn record_latency_owned(&self, ticks: u64) {
        // Plain indexing rather than `array::map`: in a debug build (what `cargo
        // test` runs) the closures and the array machinery cost hundreds of
        // instructions a call.
        let sum = &self.0[Field::SumTicks as usize];
        let min_inverted = &self.0[Field::MinTicksInverted as usize];
        let max = &self.0[Field::MaxTicks as usize];
        sum.store(
            sum.load(Ordering::Relaxed).wrapping_add(ticks),
            Ordering::Relaxed,
        );
        if !ticks > min_inverted.load(Ordering::Relaxed) {
            min_inverted.store(!ticks, Ordering::Relaxed);
        }
        if ticks > max.load(Ordering::Relaxed) {
            max.store(ticks, Ordering::Relaxed);
        }
    }
}

/// Counters of one call site: a `Cell` per thread slot. The first 32 are in the
/// `static` (4 KiB, zero-initialized, so in `.bss` and resident only for the pages
/// that threads touch); the others come in chunks, allocated when a thread whose
/// slot falls in one first calls the fn.
pub struct CallCounters {
    cells: PerSlot<Cell>,
}

/// The counters of one call site summed over all slots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Calls that began.
    pub started: u64,
    /// Normal returns counted as ok.
    pub ok: u64,
    /// Returns of an `Err`.
    pub err: u64,
    /// Unwinding panics.
    pub panics: u64,
    /// Futures dropped before completion.
    pub cancelled: u64,
    /// Sum of latencies in clock ticks.
    pub sum_ticks: u64,
    /// Smallest latency in clock ticks, if any was recorded.
    pub min_ticks: Option<u64>,
    /// Largest latency in clock ticks (0 if none).
    pub max_ticks: u64,
}

impl Totals {
    /// Calls that have finished, whichever way.
    pub fn completed(&self) -> u64 {
        self.ok + self.err + self.panics + self.cancelled
    }

    /// Calls that began and have not finished yet.
    pub fn in_flight(&self) -> u64 {
        self.started.saturating_sub(self.completed())
    }

    /// Adds another site's totals to these, as if both sites' calls had been
    /// one site's: counts and the latency sum add up, the extremes stay extremes.
    pub fn absorb(&mut self, other: &Totals) {
        self.started += other.started;
        self.ok += other.ok;
        self.err += other.err;
        self.panics += other.panics;
        self.cancelled += other.cancelled;
        self.sum_ticks += other.sum_ticks;
        self.max_ticks = self.max_ticks.max(other.max_ticks);
        self.min_ticks = match (self.min_ticks, other.min_ticks) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

impl CallCounters {
    /// All counters zero.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        CallCounters {
            cells: PerSlot::new(),
        }
    }

    /// All counters zero.
    #[cfg(loom)]
    pub fn new() -> Self {
        CallCounters {
            cells: PerSlot::new(),
        }
    }

    /// The cell of `slot`, allocated on first use.
    #[inline(always)]
    pub(crate) fn cell(&self, slot: Slot) -> &Cell {
        self.cells.get(slot.index())
    }

    /// Adds `n` to `field` in `slot`.
    ///
    /// `Release` orders a completion after the `Started` increment of the same call,
    /// so a reader that sees the completion also sees the start (no negative
    /// in-flight); on x86 it is the same plain `mov` as `Relaxed`.
    #[inline(always)]
    pub fn add(&self, slot: Slot, field: Field, n: u64) {
        self.cell(slot).add(slot, field, n);
    }

    /// [`add`](Self::add) of one to the shared slot, in fewer steps:
    /// unoptimized builds count there only (see the `guard` module), one call
    /// at a time. `field` is a [`Field`] as `usize` (an `Outcome` as `usize`
    /// is its field).
    #[cfg(not(loom))] // used by the guards only, which loom models don't build
    #[inline(always)]
    pub(crate) fn count_shared(&self, field: usize) {
        self.cells.first().0[field].add_release(1);
    }

    /// Records one latency sample's sum, minimum and maximum.
    #[inline(always)]
    pub fn record_latency(&self, slot: Slot, ticks: u64) {
        if slot.is_shared() {
            self.record_latency_shared(ticks);
        } else {
            self.cell(slot).record_latency_owned(ticks);
        }
    }

    /// [`record_latency`](Self::record_latency) in the shared slot, with atomic
    /// read-modify-writes, in as few steps as [`count_shared`](Self::count_shared).
    #[inline(always)]
    pub(crate) fn record_latency_shared(&self, ticks: u64) {
        let cell = self.cells.first();
        cell.0[Field::SumTicks as usize].add_release(ticks);
        let min_inverted = &cell.0[Field::MinTicksInverted as usize];
        let max = &cell.0[Field::MaxTicks as usize];
        // A load first: most latencies are no new extreme, and a load is
        // cheaper than a read-modify-write (and, unoptimized, than a call
        // into `fetch_max`'s generic code).
        if !ticks > min_inverted.load_acquire() {
            min_inverted.fetch_max(!ticks, Ordering::Relaxed);
        }
        if ticks > max.load_acquire() {
            max.fetch_max(ticks, Ordering::Relaxed);
        }
    }

    /// Sums the cells that may hold counts: those of the slots `pool` has handed
    /// out so far. Never blocks writers.
    ///
    /// Completions are read before `Started` (with `Acquire`), so the totals never
    /// show more completed than started calls. A call may start in one slot and
    /// complete in another (an async call resumed on another thread), and the
    /// slot it started in may have been claimed (and its chunk allocated) after
    /// this read began; so the cells are listed again for the `Started` pass: the
    /// claim and the allocation happened before the start, which happened before
    /// any completion read here, so the second listing covers the slot.
    pub fn totals(&self, pool: &SlotPool) -> Totals {
        let mut totals = Totals::default();
        let mut min_inverted = 0;
        self.cells.for_each_existing(pool.cells_in_use(), |cell| {
            let read = |field: Field| cell.0[field as usize].load(Ordering::Acquire);
            totals.ok += read(Field::Ok);
            totals.err += read(Field::Err);
            totals.panics += read(Field::Panics);
            totals.cancelled += read(Field::Cancelled);
            totals.sum_ticks += read(Field::SumTicks);
            min_inverted = min_inverted.max(read(Field::MinTicksInverted));
            totals.max_ticks = totals.max_ticks.max(read(Field::MaxTicks));
        });
        self.cells.for_each_existing(pool.cells_in_use(), |cell| {
            totals.started += cell.0[Field::Started as usize].load(Ordering::Acquire);
        });
        totals.min_ticks = (min_inverted != 0).then_some(!min_inverted);
        totals
    }

    /// Starts loading the cells a [`totals`](Self::totals) of `pool` will read
    /// (those in the `static`), so a snapshot overlaps the misses of many sites.
    pub fn prefetch(&self, pool: &SlotPool) {
        self.cells.prefetch_inline(pool.cells_in_use());
    }

    /// Bytes allocated for cells beyond those in the `static`.
    pub fn allocated_bytes(&self) -> usize {
        self.cells.chunk_bytes()
    }
}

impl Default for CallCounters {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pool_hands_out_distinct_slots_then_the_shared_one() {
        for capacity in [2, 64, 65, 100, MAX_SLOTS] {
            let pool = SlotPool::with_capacity(capacity);
            let mut seen = std::collections::HashSet::new();
            for expected in 1..capacity {
                let slot = pool.claim();
                assert_eq!(slot.index(), expected, "lowest free first");
                assert!(seen.insert(slot.index()));
            }
            assert_eq!(pool.claim(), Slot::SHARED, "capacity {capacity}");
            assert_eq!(pool.cells_in_use(), capacity);
            let freed = Slot((capacity / 2).max(1) as u16);
            pool.release(freed);
            assert_eq!(pool.claim(), freed);
        }
    }

    #[test]
    fn cells_past_the_inline_ones_are_allocated_per_chunk_and_summed() {
        let (counters, pool) = (CallCounters::new(), SlotPool::new());
        let slots: Vec<Slot> = (1..MAX_SLOTS).map(|_| pool.claim()).collect();
        assert_eq!(counters.allocated_bytes(), 0);
        for &slot in slots.iter().step_by(100) {
            counters.add(slot, Field::Started, 2);
            counters.add(slot, Field::Ok, 1);
        }
        let touched = slots.iter().step_by(100).count() as u64;
        let totals = counters.totals(&pool);
        assert_eq!((totals.started, totals.ok), (2 * touched, touched));
        // Slots 1, 101, ..., 1001: 1 is inline, the other ten fall in ten chunks.
        let chunk = crate::slots::CHUNK_SLOTS * size_of::<Cell>();
        assert_eq!(counters.allocated_bytes(), 10 * chunk);
    }

    #[test]
    fn totals_sum_every_slot_and_track_min_max() {
        let counters = CallCounters::new();
        let pool = SlotPool::new();
        let own = pool.claim();
        counters.add(own, Field::Started, 3);
        counters.add(Slot::SHARED, Field::Started, 2);
        counters.add(own, Field::Ok, 2);
        counters.add(Slot::SHARED, Field::Err, 1);
        counters.record_latency(own, 40);
        counters.record_latency(Slot::SHARED, 7);
        counters.record_latency(own, 90);
        let totals = counters.totals(&pool);
        assert_eq!(totals.started, 5);
        assert_eq!(totals.completed(), 3);
        assert_eq!(totals.in_flight(), 2);
        assert_eq!(totals.sum_ticks, 137);
        assert_eq!(totals.min_ticks, Some(7));
        assert_eq!(totals.max_ticks, 90);
        assert_eq!(
            counters.totals(&SlotPool::new()).started,
            2,
            "a pool that handed out no slot: only the shared cell"
        );
    }

    #[test]
    fn a_zero_latency_is_a_minimum_too() {
        let (counters, pool) = (CallCounters::new(), SlotPool::new());
        assert_eq!(counters.totals(&pool).min_ticks, None);
        counters.record_latency(Slot::SHARED, 0);
        assert_eq!(counters.totals(&pool).min_ticks, Some(0));
    }
}

#[cfg(not(loom))]
pub use thread_slot::{current_slot, pool};

#[cfg(not(loom))]
mod thread_slot {
    use super::{Slot, SlotPool};
    use std::cell::Cell;

    static POOL: SlotPool = SlotPool::new();

    const UNCLAIMED: u16 = u16::MAX;

    thread_local! {
        // Const-initialized and without a destructor: reading it is one
        // thread-pointer-relative load, with no lazy-init check.
        static SLOT: Cell<u16> = const { Cell::new(UNCLAIMED) };
        static LEASE: Lease = const { Lease(Cell::new(UNCLAIMED)) };
    }

    /// Returns this thread's slot to the pool when the thread exits.
    struct Lease(Cell<u16>);

    impl Drop for Lease {
        fn drop(&mut self) {
            let slot = self.0.get();
            if slot != UNCLAIMED {
                // Calls made later in this thread's teardown use the shared slot,
                // which is safe whoever owns this one next.
                SLOT.with(|current| current.set(Slot::SHARED.0));
                POOL.release(Slot(slot));
            }
        }
    }

    /// The slot of the calling thread, claimed on its first instrumented call.
    #[inline(always)]
    pub fn current_slot() -> Slot {
        let slot = SLOT.with(Cell::get);
        if slot != UNCLAIMED {
            Slot(slot)
        } else {
            claim()
        }
    }

    #[cold]
    #[inline(never)]
    fn claim() -> Slot {
        let slot = POOL.claim();
        let leased = slot.is_shared() || LEASE.try_with(|lease| lease.0.set(slot.0)).is_ok();
        let slot = if leased {
            slot
        } else {
            // The thread is already tearing down its thread-locals: nothing would
            // return the slot, so give it back at once.
            POOL.release(slot);
            Slot::SHARED
        };
        SLOT.with(|current| current.set(slot.0));
        slot
    }

    /// The pool the threads of this process claim their slots from.
    pub fn pool() -> &'static SlotPool {
        &POOL
    }
}
