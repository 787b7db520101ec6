//! Per-thread call counters.
//!
//! A locked read-modify-write (`fetch_add`) costs several nanoseconds even when no
//! other thread touches the line, which is more than the whole budget of
//! `#[counted]`. So every call site owns [`THREAD_SLOTS`] cache-line-sized cells,
//! and each thread claims one slot index for its lifetime from a process-wide
//! [`SlotPool`]. The owner of a slot is its only writer and updates it with a plain
//! load and store; readers sum all slots at snapshot time.
//!
//! Slot 0 is shared: threads that find the pool exhausted (more than
//! `THREAD_SLOTS - 1` alive at once) or that run while their thread-locals are being
//! destroyed use it with real atomic read-modify-writes. When a thread exits its
//! slot goes back to the pool with its counts in place; the next owner continues
//! from them, so no count is lost and no total goes backwards.

use crate::sync::{zero, AtomicU64, Ordering};

/// Number of cells per call site: slot 0 is shared, the other 63 are exclusive.
pub const THREAD_SLOTS: usize = 64;

/// Index of one cell in every call site's [`CallCounters`], held by one thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(u8);

impl Slot {
    /// The slot every thread may write with atomic read-modify-writes.
    pub const SHARED: Slot = Slot(0);

    /// Whether more than one thread may write this slot.
    #[inline(always)]
    pub fn is_shared(self) -> bool {
        self.0 == 0
    }

    /// The slot's index in `0..THREAD_SLOTS`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Hands out exclusive slots to threads; lock-free.
///
/// A bit per slot says whether a live thread holds it. Claiming is a CAS on that
/// word with `Acquire`, releasing a `fetch_and` with `Release`, so the next owner of
/// a slot sees every store of the previous owner before it makes its own.
pub struct SlotPool {
    held: AtomicU64,
    /// Highest slot index ever claimed: snapshots read cells `0..=high_water` only.
    high_water: AtomicU64,
}

impl SlotPool {
    /// A pool in which only the shared slot is taken.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        SlotPool {
            held: AtomicU64::new(1),
            high_water: AtomicU64::new(0),
        }
    }

    /// A pool in which only the shared slot is taken.
    #[cfg(loom)]
    pub fn new() -> Self {
        SlotPool {
            held: AtomicU64::new(1),
            high_water: AtomicU64::new(0),
        }
    }

    /// Takes a free exclusive slot, or returns [`Slot::SHARED`] when none is free.
    pub fn claim(&self) -> Slot {
        let mut held = self.held.load(Ordering::Relaxed);
        loop {
            if held == u64::MAX {
                return Slot::SHARED;
            }
            let index = (!held).trailing_zeros();
            match self.held.compare_exchange_weak(
                held,
                held | (1 << index),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.high_water
                        .fetch_max(u64::from(index), Ordering::Relaxed);
                    return Slot(index as u8);
                }
                Err(actual) => held = actual,
            }
        }
    }

    /// Gives an exclusive slot back. The caller must not write to it afterwards.
    pub fn release(&self, slot: Slot) {
        if !slot.is_shared() {
            self.held.fetch_and(!(1 << slot.0), Ordering::Release);
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

/// One slot's counters: one cache line, so two owners never share a line.
#[repr(align(64))]
struct Cell([AtomicU64; FIELDS]);

impl Cell {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Cell([const { zero() }; FIELDS])
    }

    #[cfg(loom)]
    fn new() -> Self {
        Cell(std::array::from_fn(|_| zero()))
    }
}

/// Counters of one call site: one `Cell` per thread slot (64 × 64 B = 4 KiB,
/// zero-initialized, so a `static` of it lives in `.bss` and costs resident memory
/// only for the pages that threads touch).
pub struct CallCounters {
    cells: [Cell; THREAD_SLOTS],
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
}

impl CallCounters {
    /// All counters zero.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        CallCounters {
            cells: [const { Cell::new() }; THREAD_SLOTS],
        }
    }

    /// All counters zero.
    #[cfg(loom)]
    pub fn new() -> Self {
        CallCounters {
            cells: std::array::from_fn(|_| Cell::new()),
        }
    }

    #[inline(always)]
    fn atomic(&self, slot: Slot, field: Field) -> &AtomicU64 {
        // `Slot` indices are < 64 by construction, so this never panics; the
        // optimizer drops the check because `Slot` wraps a u8 masked by the pool.
        &self.cells[slot.index() % THREAD_SLOTS].0[field as usize]
    }

    /// Adds `n` to `field` in `slot`.
    ///
    /// `Release` orders a completion after the `Started` increment of the same call,
    /// so a reader that sees the completion also sees the start (no negative
    /// in-flight); on x86 it is the same plain `mov` as `Relaxed`.
    #[inline(always)]
    pub fn add(&self, slot: Slot, field: Field, n: u64) {
        let cell = self.atomic(slot, field);
        if slot.is_shared() {
            cell.fetch_add(n, Ordering::Release);
        } else {
            let value = cell.load(Ordering::Relaxed);
            cell.store(value.wrapping_add(n), Ordering::Release);
        }
    }

    /// Raises `field` in `slot` to `value` if it is larger.
    #[inline(always)]
    pub fn raise_to(&self, slot: Slot, field: Field, value: u64) {
        let cell = self.atomic(slot, field);
        if slot.is_shared() {
            cell.fetch_max(value, Ordering::Relaxed);
        } else if value > cell.load(Ordering::Relaxed) {
            cell.store(value, Ordering::Relaxed);
        }
    }

    /// Records one latency sample's sum, minimum and maximum.
    #[inline(always)]
    pub fn record_latency(&self, slot: Slot, ticks: u64) {
        self.add(slot, Field::SumTicks, ticks);
        self.raise_to(slot, Field::MinTicksInverted, !ticks);
        self.raise_to(slot, Field::MaxTicks, ticks);
    }

    /// Sums the first `cells` cells. Never blocks writers.
    ///
    /// Completions are read before `Started` (with `Acquire`), so the totals never
    /// show more completed than started calls.
    pub fn totals(&self, cells: usize) -> Totals {
        let mut totals = Totals::default();
        let mut min_inverted = 0;
        for cell in &self.cells[..cells.min(THREAD_SLOTS)] {
            let read = |field: Field| cell.0[field as usize].load(Ordering::Acquire);
            totals.ok += read(Field::Ok);
            totals.err += read(Field::Err);
            totals.panics += read(Field::Panics);
            totals.cancelled += read(Field::Cancelled);
            totals.sum_ticks += read(Field::SumTicks);
            min_inverted = min_inverted.max(read(Field::MinTicksInverted));
            totals.max_ticks = totals.max_ticks.max(read(Field::MaxTicks));
        }
        for cell in &self.cells[..cells.min(THREAD_SLOTS)] {
            totals.started += cell.0[Field::Started as usize].load(Ordering::Acquire);
        }
        totals.min_ticks = (min_inverted != 0).then_some(!min_inverted);
        totals
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
        let pool = SlotPool::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 1..THREAD_SLOTS {
            let slot = pool.claim();
            assert!(!slot.is_shared());
            assert!(seen.insert(slot.index()));
        }
        assert_eq!(pool.claim(), Slot::SHARED);
        assert_eq!(pool.cells_in_use(), THREAD_SLOTS);
        pool.release(Slot(17));
        assert_eq!(pool.claim(), Slot(17));
    }

    #[test]
    fn totals_sum_every_slot_and_track_min_max() {
        let counters = CallCounters::new();
        counters.add(Slot(1), Field::Started, 3);
        counters.add(Slot::SHARED, Field::Started, 2);
        counters.add(Slot(1), Field::Ok, 2);
        counters.add(Slot::SHARED, Field::Err, 1);
        counters.record_latency(Slot(1), 40);
        counters.record_latency(Slot::SHARED, 7);
        counters.record_latency(Slot(1), 90);
        let totals = counters.totals(2);
        assert_eq!(totals.started, 5);
        assert_eq!(totals.completed(), 3);
        assert_eq!(totals.in_flight(), 2);
        assert_eq!(totals.sum_ticks, 137);
        assert_eq!(totals.min_ticks, Some(7));
        assert_eq!(totals.max_ticks, 90);
        assert_eq!(counters.totals(1).started, 2, "only the shared cell");
    }

    #[test]
    fn a_zero_latency_is_a_minimum_too() {
        let counters = CallCounters::new();
        assert_eq!(counters.totals(1).min_ticks, None);
        counters.record_latency(Slot::SHARED, 0);
        assert_eq!(counters.totals(1).min_ticks, Some(0));
    }
}

#[cfg(not(loom))]
pub use thread_slot::{cells_in_use, current_slot};

#[cfg(not(loom))]
mod thread_slot {
    use super::{Slot, SlotPool};
    use std::cell::Cell;

    static POOL: SlotPool = SlotPool::new();

    const UNCLAIMED: u8 = u8::MAX;

    thread_local! {
        // Const-initialized and without a destructor: reading it is one
        // thread-pointer-relative load, with no lazy-init check.
        static SLOT: Cell<u8> = const { Cell::new(UNCLAIMED) };
        static LEASE: Lease = const { Lease(Cell::new(UNCLAIMED)) };
    }

    /// Returns this thread's slot to the pool when the thread exits.
    struct Lease(Cell<u8>);

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

    /// Number of leading cells of every call site that may hold counts.
    pub fn cells_in_use() -> usize {
        POOL.cells_in_use()
    }
}
