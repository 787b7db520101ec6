//! A lock-free latency histogram in the HdrHistogram log-linear layout, with
//! buckets per thread slot.
//!
//! Values `0..128` get a bucket each. Above that, every power-of-two range
//! `[2^k, 2^(k+1))` is split into 64 equal buckets, so a bucket is at most 1/64 of
//! its lower bound wide and its midpoint is within 1/128 (0.79 %) of any value in
//! it. Values up to `2^48 - 1` ticks are tracked (over 15 hours at a 5 GHz tick);
//! larger ones are counted as overflow, never dropped.
//!
//! A shared bucket would cost a locked `fetch_add` per record, about as much as
//! everything else `#[timed]` does besides reading the clock. So, like the
//! counters, buckets belong to a thread slot and only the slot's owner writes them,
//! with a plain load and store (the shared slot 0 uses `fetch_add`). A slot's
//! buckets are allocated lazily, one 64-bucket group (one power of two, 264 B) at a
//! time, when a value first lands in it: a fn whose latencies span four powers of
//! two costs 1,056 B + 4 × 264 B per thread slot that calls it, and at most about
//! 12 KiB (23 KiB once every group has carried, below).
//!
//! A bucket counts in 32 bits, half the memory of 64 where most of it goes (a
//! process with hundreds of threads and a thousand fns keeps a set of buckets
//! per thread and fn). A count is exact all the same: when a bucket reaches
//! [`CARRY`], its writer moves that much into the bucket's high part, kept in a
//! second array that only a group which ever carried has (see [`Group`]).
//!
//! Readers merge the slots; quantiles are computed there, never when recording.
//! What a reader reads grows with the buckets in use, not with those that exist:
//! each slot keeps a bit per group it allocated, a bit per bucket that is not
//! zero, which its writer sets when the bucket goes from 0 to 1 (once per bucket,
//! a branch that is almost never taken), and a count per group, so a summary
//! reads the buckets of the groups its quantiles fall in only.

use crate::counter::Slot;
use crate::slots::{get_or_install, prefetch_lines, PerSlot, Zeroed, MAX_SLOTS};
use crate::sync::{
    yield_now, zero, AddRelease, AtomicPtr, AtomicU32, AtomicU64, LoadAcquire, Ordering,
};

const LINEAR_BITS: u32 = 7;
const LINEAR: usize = 1 << LINEAR_BITS; // exact buckets for 0..128
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS; // buckets per power of two above that
const TOP_BIT: u32 = 48;

/// Largest value the histogram tracks in a bucket; larger values count as overflow.
pub const MAX_TRACKED: u64 = (1 << TOP_BIT) - 1;
/// Number of buckets.
pub const BUCKETS: usize = LINEAR + (TOP_BIT - LINEAR_BITS) as usize * SUB;
const GROUPS: usize = BUCKETS / SUB;
const _: () = assert!(GROUPS <= 64 && BUCKETS % SUB == 0 && SUB == 64 && LINEAR == 2 * SUB);

/// Bytes a thread slot's buckets take when it has touched `groups` groups.
pub const fn slot_bytes(groups: usize) -> usize {
    size_of::<SlotBuckets>() + groups * size_of::<Group>()
}

/// The group of the bucket of a value `<= MAX_TRACKED`, and the bucket's place
/// in it.
///
/// Values below `LINEAR` have a bucket each, in the first groups. Above, a
/// value's top `LINEAR_BITS` bits name its bucket: the top one its power of
/// two, one group each, the `SUB_BITS` below it the bucket in the group.
/// In few steps for unoptimized code, where each is checked for overflow:
/// every shared-slot record of a debug build computes it.
#[inline(always)]
fn bucket_of(value: u64) -> (usize, usize) {
    let (group, sub) = if value < LINEAR as u64 {
        (value as usize / SUB, value as usize % SUB)
    } else {
        // The bits below the top `LINEAR_BITS`.
        let shift = 63 - SUB_BITS - value.leading_zeros();
        (shift as usize + 1, (value >> shift) as usize % SUB)
    };
    // The bound only proves the group in range to the compiler (a value up to
    // MAX_TRACKED has a bucket index below BUCKETS): a compare where `%` would
    // be a multiplication, and no panic path in the hot path. An `if` rather
    // than `min`, which an unoptimized build calls.
    let group = if group < GROUPS { group } else { GROUPS - 1 };
    (group, sub)
}

/// Bucket index of a value `<= MAX_TRACKED`.
#[cfg(test)]
fn index_of(value: u64) -> usize {
    let (group, sub) = bucket_of(value);
    group * SUB + sub
}

/// Smallest and largest value of bucket `index`.
pub fn bucket_bounds(index: usize) -> (u64, u64) {
    if index < LINEAR {
        return (index as u64, index as u64);
    }
    let power = (index - LINEAR) / SUB + LINEAR_BITS as usize;
    let sub = ((index - LINEAR) % SUB + SUB) as u64;
    let width = 1u64 << (power - SUB_BITS as usize);
    let low = sub * width;
    (low, low + width - 1)
}

/// Adds one to a counter of a slot that is not the shared one: a plain load and
/// store, by its only writer.
#[inline(always)]
fn bump_owned(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Sets `bits` in `word`, of which only `slot`'s owner writes unless it is shared.
#[inline(always)]
fn set_bits(word: &AtomicU64, bits: u64, slot: Slot, order: Ordering) {
    if slot.is_shared() {
        word.fetch_or(bits, order);
    } else {
        word.store(word.load(Ordering::Relaxed) | bits, order);
    }
}

/// The count at which a bucket's low part is carried into its high part: the
/// top bit of the low part, so it is never reached twice without a carry.
#[cfg(not(loom))]
pub const CARRY: u32 = 1 << 31;
/// The count at which a bucket's low part is carried into its high part (small
/// under loom, for models to reach it).
#[cfg(loom)]
pub const CARRY: u32 = 2;

/// 64 consecutive buckets, each counting `high × CARRY + low`.
///
/// A bucket's writer adds to `low`; the one whose count reaches [`CARRY`] adds
/// one to the bucket's `high`, then takes `CARRY` off `low`: the count stays
/// the same, and `low` has its top bit set only while a carry is under way.
/// Writers store with `Release`, so a reader that loads a `low` written after a
/// carry (with `Acquire`) sees the raised `high`. A reader reads `high`, `low`,
/// then `high` again, and takes a pair only if `high` did not change and no
/// carry was under way (see [`Group::count_carried`]).
struct Group {
    low: [AtomicU32; SUB],
    /// The high parts, allocated at the group's first carry: billions of
    /// values in one bucket of one thread, in a long-running hot fn.
    high: AtomicPtr<[AtomicU32; SUB]>,
}

impl Group {
    /// Adds one to bucket `sub` of `slot`, not the shared one, of which
    /// `buckets` is the index.
    #[inline(always)]
    fn add_owned(&self, sub: usize, buckets: &SlotBuckets, group: usize, slot: Slot) {
        let low = &self.low[sub];
        let before = low.load(Ordering::Relaxed);
        low.store(before + 1, Ordering::Release);
        // Both almost never: a bucket's first value, and a carry.
        if before == 0 || before + 1 >= CARRY {
            self.rare_add(sub, before, buckets, group, slot);
        }
    }

    /// Adds one to bucket `sub` of the shared slot, of which `buckets` is the
    /// index.
    #[inline(always)]
    fn add_shared(&self, sub: usize, buckets: &SlotBuckets, group: usize) {
        // The bucket's bit before the add, for the same reason as the group's
        // (see `install_group`); an owner sets it after, being the only writer.
        let (word, bit) = (&buckets.nonzero[group], 1 << sub);
        if word.load_acquire() & bit == 0 {
            word.fetch_or(bit, Ordering::Relaxed);
        }
        let before = self.low[sub].add_release(1);
        // Almost never: the one add that reaches `CARRY` carries.
        if before == CARRY - 1 {
            self.rare_add(sub, before, buckets, group, Slot::SHARED);
        }
    }

    #[cold]
    #[inline(never)]
    fn rare_add(&self, sub: usize, before: u32, buckets: &SlotBuckets, group: usize, slot: Slot) {
        if before == 0 && !slot.is_shared() {
            set_bits(&buckets.nonzero[group], 1 << sub, slot, Ordering::Relaxed);
        }
        // Exactly one writer reaches `CARRY` (the shared slot's others, adding
        // meanwhile, go past it).
        if before + 1 != CARRY {
            return;
        }
        let high = get_or_install(&self.high, new_high);
        // Before the carry: a reader that sees the bit finds the high parts.
        set_bits(&buckets.carried, 1 << group, slot, Ordering::Release);
        if slot.is_shared() {
            high[sub].fetch_add(1, Ordering::Release);
            self.low[sub].fetch_sub(CARRY, Ordering::Release);
        } else {
            high[sub].store(high[sub].load(Ordering::Relaxed) + 1, Ordering::Release);
            self.low[sub].store(0, Ordering::Release);
        }
    }

    /// The count of bucket `sub`: `low` alone unless the group has carried.
    #[inline]
    fn count(&self, sub: usize, buckets: &SlotBuckets, group: usize) -> u64 {
        let low = self.low[sub].load(Ordering::Acquire);
        // Read after `low`: had `low` been written after a carry, the bit
        // (set before the carry) would show.
        if buckets.carried.load(Ordering::Acquire) & 1 << group == 0 {
            u64::from(low)
        } else {
            self.count_carried(sub)
        }
    }

    /// The count of bucket `sub` of a group that has carried.
    ///
    /// A reader that meets a carry under way waits for it: a few instructions
    /// of its writer, once in 2^31 values of one bucket of one thread, unless
    /// the writer is preempted right there. Writers never wait on readers.
    #[cold]
    fn count_carried(&self, sub: usize) -> u64 {
        // SAFETY: non-null pointers come from `get_or_install` and live as
        // long as the group; the caller saw the group's carried bit, set
        // (`Release`) after the pointer.
        let high = unsafe { &*self.high.load(Ordering::Acquire) };
        loop {
            let before = high[sub].load(Ordering::Acquire);
            let low = self.low[sub].load(Ordering::Acquire);
            let after = high[sub].load(Ordering::Acquire);
            // `low` below `CARRY` and `high` unchanged around it: the pair is
            // one the bucket had. Else a carry is under way, for a few
            // instructions of its writer.
            if before == after && low < CARRY {
                return u64::from(after) * u64::from(CARRY) + u64::from(low);
            }
            yield_now();
        }
    }
}

/// One thread slot's buckets: groups allocated on first use.
struct SlotBuckets {
    /// A bit per group whose pointer is set.
    allocated: AtomicU64,
    /// A bit per group that has carried (whose `high` is set).
    carried: AtomicU64,
    groups: [AtomicPtr<Group>; GROUPS],
    /// A bit per bucket of each group that is not zero. Kept here rather than in
    /// the groups, so a reader finds every bucket to read in a few adjacent
    /// lines, and its loads of the buckets themselves do not wait on each other.
    nonzero: [AtomicU64; GROUPS],
    /// Values counted in each group: a summary finds the groups its quantiles
    /// fall in from these few lines, and reads the buckets of those groups only.
    group_counts: [AtomicU64; GROUPS],
    overflow: AtomicU64,
}

impl SlotBuckets {
    #[cold]
    #[inline(never)]
    fn install_group(&self, group: usize, slot: Slot) -> &Group {
        // Before the pointer: a thread of the shared slot that finds the group
        // installed by another, and adds to it, must not leave its add out of
        // a read made after it, which reads the groups whose bit is set. A
        // reader that sees the bit before the pointer skips the empty group.
        set_bits(&self.allocated, 1 << group, slot, Ordering::Release);
        get_or_install(&self.groups[group % GROUPS], new_group)
    }

    /// Group `group` of `slot`'s buckets, allocated on first use.
    #[inline(always)]
    fn group_or_install(&self, group: usize, slot: Slot) -> &Group {
        match self.group(group) {
            Some(found) => found,
            None => self.install_group(group, slot),
        }
    }

    #[inline(always)]
    fn group(&self, group: usize) -> Option<&Group> {
        // SAFETY: non-null pointers come from `get_or_install` and live as long
        // as the histogram.
        unsafe { self.groups[group].load_acquire().as_ref() }
    }
}

fn new_group() -> Box<Group> {
    Box::new(Group {
        low: std::array::from_fn(|_| AtomicU32::new(0)),
        high: AtomicPtr::new(std::ptr::null_mut()),
    })
}

fn new_high() -> Box<[AtomicU32; SUB]> {
    Box::new(std::array::from_fn(|_| AtomicU32::new(0)))
}

fn new_slot_buckets() -> Box<SlotBuckets> {
    Box::new(SlotBuckets {
        allocated: zero(),
        carried: zero(),
        groups: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
        nonzero: std::array::from_fn(|_| zero()),
        group_counts: std::array::from_fn(|_| zero()),
        overflow: zero(),
    })
}

impl<T> Zeroed for AtomicPtr<T> {
    #[cfg(not(loom))]
    const ZERO: Self = AtomicPtr::new(std::ptr::null_mut());

    fn zeroed() -> Self {
        AtomicPtr::new(std::ptr::null_mut())
    }
}

/// Lock-free histogram of `u64` values (clock ticks, in this crate), one set of
/// buckets per thread slot.
pub struct Histogram {
    slots: PerSlot<AtomicPtr<SlotBuckets>>,
}

impl Histogram {
    /// An empty histogram: 504 B of null pointers, so a `static` lives in `.bss`.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Histogram {
            slots: PerSlot::new(),
        }
    }

    /// An empty histogram.
    #[cfg(loom)]
    pub fn new() -> Self {
        Histogram {
            slots: PerSlot::new(),
        }
    }

    /// Counts one value in the buckets of `slot`, whose owner must be the caller.
    #[inline(always)]
    pub fn record(&self, slot: Slot, value: u64) {
        if slot.is_shared() {
            self.record_shared(value);
            return;
        }
        let buckets = get_or_install(self.slots.get(slot.index()), new_slot_buckets);
        if value > MAX_TRACKED {
            bump_owned(&buckets.overflow);
            return;
        }
        let (group_index, sub) = bucket_of(value);
        let group = buckets.group_or_install(group_index, slot);
        group.add_owned(sub, buckets, group_index, slot);
        bump_owned(&buckets.group_counts[group_index]);
    }

    /// [`record`](Self::record) in the shared slot, with atomic
    /// read-modify-writes. Every `#[timed]` call of a build with debug
    /// assertions records here (see the `guard` module), unoptimized: hence
    /// the slot's buckets found without a slot lookup, and the counts with
    /// [`add_release`](AddRelease), one instruction where `fetch_add` is a
    /// chain of calls.
    #[inline(always)]
    pub(crate) fn record_shared(&self, value: u64) {
        let buckets = get_or_install(self.slots.first(), new_slot_buckets);
        if value > MAX_TRACKED {
            buckets.overflow.add_release(1);
            return;
        }
        let (group_index, sub) = bucket_of(value);
        let group = buckets.group_or_install(group_index, Slot::SHARED);
        group.add_shared(sub, buckets, group_index);
        buckets.group_counts[group_index].add_release(1);
    }

    /// Calls `f` with the buckets of each of the first `slots` slots that has some.
    #[inline]
    fn for_each_slot(&self, slots: usize, mut f: impl FnMut(&SlotBuckets)) {
        self.slots.for_each_existing(slots, |pointer| {
            // SAFETY: non-null pointers come from `get_or_install` and live as
            // long as `self`.
            if let Some(buckets) = unsafe { pointer.load(Ordering::Acquire).as_ref() } {
                f(buckets);
            }
        });
    }

    /// The counts of the first `slots` thread slots, merged. Never blocks recorders.
    pub fn read(&self, slots: usize) -> HistogramCounts {
        let mut counts = HistogramCounts::default();
        self.read_into(slots, &mut counts);
        counts
    }

    /// [`read`](Self::read) into `counts`, reusing its buffer: a snapshot reads
    /// thousands of histograms.
    ///
    /// Reads only the groups some slot allocated and, in them, the buckets whose
    /// writer marked them non-zero: a fn's latencies span a few powers of two and
    /// a few buckets in each.
    pub fn read_into(&self, slots: usize, counts: &mut HistogramCounts) {
        counts.buckets.clear();
        counts.overflow = 0;
        let mut allocated = 0u64;
        self.for_each_slot(slots, |buckets| {
            allocated |= buckets.allocated.load(Ordering::Acquire);
            counts.overflow += buckets.overflow.load(Ordering::Relaxed);
        });
        // Zeroed once; each group's pass leaves it zero again.
        let mut sums = [0u64; SUB];
        while allocated != 0 {
            let group = allocated.trailing_zeros() as usize;
            allocated &= allocated - 1;
            let first = (group * SUB) as u32;
            self.read_group(slots, group, &mut sums, |sub, sum| {
                counts.buckets.push((first + sub as u32, sum));
            });
        }
    }

    /// The count and the values at `quantiles` (each in `0.0..=1.0`, ascending) that a
    /// [`read`](Self::read) would give ([`HistogramCounts::count`] and
    /// [`HistogramCounts::quantiles`]), reading buckets only in the groups the
    /// quantiles fall in: a latency summary, from each slot's per-group counts
    /// and a few groups' buckets.
    pub fn read_quantiles<const N: usize>(
        &self,
        slots: usize,
        quantiles: &[f64; N],
    ) -> QuantileValues<N> {
        self.read_quantiles_with(slots, quantiles, &mut QuantileScratch::default())
    }

    /// [`read_quantiles`](Self::read_quantiles) in `scratch`, which it leaves
    /// as it found it, all zero: a snapshot reads thousands of histograms.
    pub fn read_quantiles_with<const N: usize>(
        &self,
        slots: usize,
        quantiles: &[f64; N],
        scratch: &mut QuantileScratch,
    ) -> QuantileValues<N> {
        let QuantileScratch { group_counts, sums } = scratch;
        let (mut in_use, mut count) = (0u64, 0);
        self.for_each_slot(slots, |buckets| {
            let mut allocated = buckets.allocated.load(Ordering::Acquire);
            in_use |= allocated;
            while allocated != 0 {
                let group = allocated.trailing_zeros() as usize;
                allocated &= allocated - 1;
                let in_group = buckets.group_counts[group].load(Ordering::Relaxed);
                group_counts[group] += in_group;
                count += in_group;
            }
            count += buckets.overflow.load(Ordering::Relaxed);
        });
        debug_assert!(quantiles.is_sorted(), "quantiles ascend: {quantiles:?}");
        let mut ranks = RankWalk::new(quantiles.map(|q| quantile_rank(q, count)));
        // The values in the groups before this one.
        let mut seen = 0;
        // Through every group in use, past the last rank too: taking each
        // group's count leaves the scratch zero.
        while in_use != 0 {
            let group = in_use.trailing_zeros() as usize;
            in_use &= in_use - 1;
            let below = seen;
            seen += std::mem::take(&mut group_counts[group]);
            if ranks.next_rank > seen {
                continue;
            }
            // Buckets written since the group counts were read may put a rank
            // in a later bucket, or past this group's buckets: then its last.
            let (mut walked, mut last) = (below, group * SUB);
            self.read_group(slots, group, sums, |sub, sum| {
                walked += sum;
                last = group * SUB + sub;
                ranks.pass(walked, last);
            });
            ranks.pass(seen, last);
        }
        // Ranks past every group fall among the overflow values: `None`.
        QuantileValues {
            count,
            values: ranks.values,
        }
    }

    /// Sums group `group`'s buckets over the first `slots` slots, in `sums`
    /// (all zero, and left so), and hands each non-zero one to `f` as
    /// `(bucket within the group, count)`, in ascending order.
    #[inline]
    fn read_group(
        &self,
        slots: usize,
        group: usize,
        sums: &mut [u64; SUB],
        mut f: impl FnMut(usize, u64),
    ) {
        let mut nonzero = 0u64;
        self.for_each_slot(slots, |buckets| {
            // A bucket written since its bit was read waits for the next read.
            let mut bits = buckets.nonzero[group].load(Ordering::Relaxed);
            let Some(buckets_of_group) = buckets.group(group) else {
                return;
            };
            nonzero |= bits;
            while bits != 0 {
                let sub = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                sums[sub] += buckets_of_group.count(sub, buckets, group);
            }
        });
        while nonzero != 0 {
            let sub = nonzero.trailing_zeros() as usize;
            nonzero &= nonzero - 1;
            let sum = std::mem::take(&mut sums[sub]);
            if sum != 0 {
                f(sub, sum);
            }
        }
    }

    /// Starts loading the slot pointers of the first `slots` slots (first step of
    /// a read, for a snapshot that reads many histograms in a row).
    pub fn prefetch_slots(&self, slots: usize) {
        self.slots.prefetch_inline(slots);
    }

    /// Starts loading the index of each slot's buckets (second step: the
    /// pointers should be loaded by now); the buckets themselves depend on it.
    /// All of it: a read takes the bits, counts and pointers of the groups in
    /// use, from all over the index.
    pub fn prefetch_index(&self, slots: usize) {
        self.for_each_slot(slots, prefetch_lines);
    }

    /// Bytes allocated for buckets so far (the `static` itself aside).
    pub fn allocated_bytes(&self) -> usize {
        let mut bytes = self.slots.chunk_bytes();
        self.for_each_slot(MAX_SLOTS, |buckets| {
            bytes += slot_bytes(buckets.allocated.load(Ordering::Acquire).count_ones() as usize);
            let carried = buckets.carried.load(Ordering::Acquire).count_ones() as usize;
            bytes += carried * size_of::<[AtomicU32; SUB]>();
        });
        bytes
    }
}

impl Drop for Histogram {
    fn drop(&mut self) {
        self.slots.for_each_mut(|slot| {
            let buckets = slot.swap(std::ptr::null_mut(), Ordering::Acquire);
            if buckets.is_null() {
                return;
            }
            // SAFETY: we own every pointer installed by `get_or_install`, and
            // `&mut self` means no reader or recorder is left.
            let buckets = unsafe { Box::from_raw(buckets) };
            for group in &buckets.groups {
                let group = group.swap(std::ptr::null_mut(), Ordering::Acquire);
                if !group.is_null() {
                    // SAFETY: as above, for the group and its high parts.
                    let group = unsafe { Box::from_raw(group) };
                    let high = group.high.swap(std::ptr::null_mut(), Ordering::Acquire);
                    if !high.is_null() {
                        drop(unsafe { Box::from_raw(high) });
                    }
                }
            }
        });
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The value a quantile falling in bucket `index` reports.
fn midpoint(index: usize) -> u64 {
    let (low, high) = bucket_bounds(index);
    low + (high - low).div_ceil(2)
}

/// The rank (from 1) of the value at quantile `q` among `total` values.
fn quantile_rank(q: f64, total: u64) -> u64 {
    let exact = q.clamp(0.0, 1.0) * total as f64;
    // `ceil` by hand: without SSE4.1 `f64::ceil` is a libm call. Through
    // `i64`, which x86_64 converts from and to `f64` in one instruction each
    // (`u64` takes a dozen); no count comes near `i64::MAX`.
    let truncated = exact as i64;
    let rank = truncated + i64::from((truncated as f64) < exact);
    (rank as u64).max(1)
}

/// What [`Histogram::read_quantiles_with`] works in, all zero between reads:
/// kept from one read to the next, it is not zeroed for each.
pub struct QuantileScratch {
    /// Values counted in each group, over the slots.
    group_counts: [u64; GROUPS],
    /// The buckets of one group, over the slots (see `Histogram::read_group`).
    sums: [u64; SUB],
}

impl Default for QuantileScratch {
    fn default() -> Self {
        QuantileScratch {
            group_counts: [0; GROUPS],
            sums: [0; SUB],
        }
    }
}

/// Ranks, ascending, placed in the buckets they fall in by a walk over the
/// buckets in ascending order.
struct RankWalk<const N: usize> {
    ranks: [u64; N],
    /// The value of each rank placed so far: its bucket's midpoint.
    values: [Option<u64>; N],
    /// The first rank not placed yet.
    next: usize,
    /// `ranks[next]`, or `u64::MAX` once every rank is placed: a bucket that
    /// places none costs the walk one compare. (A rank of `u64::MAX` would
    /// still be placed: `place` tells the two apart.)
    next_rank: u64,
}

impl<const N: usize> RankWalk<N> {
    fn new(ranks: [u64; N]) -> Self {
        RankWalk {
            ranks,
            values: [None; N],
            next: 0,
            next_rank: ranks.first().copied().unwrap_or(u64::MAX),
        }
    }

    /// Places the ranks up to `walked`, the number of values up to and
    /// including bucket `index`, in that bucket.
    #[inline(always)]
    fn pass(&mut self, walked: u64, index: usize) {
        if walked >= self.next_rank {
            self.place(walked, index);
        }
    }

    /// Out of line: inlined, the compiler computes the bucket's midpoint for
    /// every bucket the walk passes, not only for the few that place a rank.
    #[inline(never)]
    fn place(&mut self, walked: u64, index: usize) {
        while self.next < N && self.ranks[self.next] <= walked {
            self.values[self.next] = Some(midpoint(index));
            self.next += 1;
        }
        self.next_rank = self.ranks.get(self.next).copied().unwrap_or(u64::MAX);
    }
}

/// What [`Histogram::read_quantiles`] reads: what a latency summary needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantileValues<const N: usize> {
    /// Number of values counted, overflow included.
    pub count: u64,
    /// The value at each quantile, as [`HistogramCounts::quantiles`] gives it.
    pub values: [Option<u64>; N],
}

/// Counts read from a [`Histogram`]: the non-empty buckets in ascending order and
/// the number of values above [`MAX_TRACKED`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistogramCounts {
    /// `(bucket index, count)` of non-empty buckets, ascending.
    pub buckets: Vec<(u32, u64)>,
    /// Values larger than [`MAX_TRACKED`].
    pub overflow: u64,
}

impl HistogramCounts {
    /// Number of values counted, overflow included.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|&(_, n)| n).sum::<u64>() + self.overflow
    }

    /// Adds another histogram's counts (two call sites with one name).
    pub fn merge(&mut self, other: &HistogramCounts) {
        let mut merged = Vec::with_capacity(self.buckets.len() + other.buckets.len());
        let (mut a, mut b) = (
            self.buckets.iter().peekable(),
            other.buckets.iter().peekable(),
        );
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&(i, n)), Some(&&(j, m))) if i == j => {
                    merged.push((i, n + m));
                    a.next();
                    b.next();
                }
                (Some(&&x), Some(&&y)) => {
                    merged.push(if x.0 < y.0 { x } else { y });
                    if x.0 < y.0 {
                        a.next()
                    } else {
                        b.next()
                    };
                }
                (Some(&&x), None) => {
                    merged.push(x);
                    a.next();
                }
                (None, Some(&&y)) => {
                    merged.push(y);
                    b.next();
                }
                (None, None) => break,
            }
        }
        self.buckets = merged;
        self.overflow += other.overflow;
    }

    /// Values at the given quantiles (each in `0.0..=1.0`, ascending), as the
    /// midpoint of the bucket holding the value of rank `ceil(q * count)`.
    ///
    /// A rank that falls among the overflow values yields `None`: the caller knows
    /// the true maximum and reports that instead.
    pub fn quantiles<const N: usize>(&self, quantiles: [f64; N]) -> [Option<u64>; N] {
        let total = self.count();
        let mut out = [None; N];
        if total == 0 {
            return out;
        }
        let mut buckets = self.buckets.iter();
        let mut seen = 0u64;
        let mut current: Option<u32> = None;
        for (slot, &q) in out.iter_mut().zip(quantiles.iter()) {
            let rank = quantile_rank(q, total);
            while seen < rank {
                match buckets.next() {
                    Some(&(index, count)) => {
                        seen += count;
                        current = Some(index);
                    }
                    None => {
                        current = None;
                        break;
                    }
                }
            }
            *slot = if seen >= rank {
                current.map(|index| midpoint(index as usize))
            } else {
                None
            };
        }
        out
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range_without_gaps() {
        let mut next = 0;
        for index in 0..BUCKETS {
            let (low, high) = bucket_bounds(index);
            assert_eq!(low, next, "bucket {index} starts where the last ended");
            assert!(high >= low);
            assert_eq!(index_of(low), index);
            assert_eq!(index_of(high), index);
            next = high + 1;
        }
        assert_eq!(next - 1, MAX_TRACKED);
    }

    #[test]
    fn bucket_width_keeps_midpoint_within_one_percent() {
        for index in LINEAR..BUCKETS {
            let (low, high) = bucket_bounds(index);
            let mid = low + (high - low).div_ceil(2);
            for value in [low, high] {
                let error = (mid as f64 - value as f64).abs() / value as f64;
                assert!(error <= 1.0 / 128.0 + 1e-12, "bucket {index}: {error}");
            }
        }
    }

    #[test]
    fn overflow_is_counted_not_dropped() {
        let histogram = Histogram::new();
        histogram.record(Slot::SHARED, MAX_TRACKED);
        histogram.record(Slot::SHARED, MAX_TRACKED + 1);
        histogram.record(Slot::SHARED, u64::MAX);
        let counts = histogram.read(MAX_SLOTS);
        assert_eq!(counts.count(), 3);
        assert_eq!(counts.overflow, 2);
        assert_eq!(
            counts.quantiles([0.1, 0.5, 1.0])[0].map(|v| v > MAX_TRACKED / 2),
            Some(true)
        );
        assert_eq!(
            counts.quantiles([0.5])[0],
            None,
            "median is an overflow value"
        );
    }

    #[test]
    fn merge_adds_matching_buckets() {
        let (a, b) = (Histogram::new(), Histogram::new());
        for v in [1, 5, 5, 1000] {
            a.record(Slot::SHARED, v);
        }
        for v in [5, 2000, 1 << 40] {
            b.record(Slot::SHARED, v);
        }
        let mut merged = a.read(MAX_SLOTS);
        merged.merge(&b.read(MAX_SLOTS));
        let both = Histogram::new();
        for v in [1, 5, 5, 1000, 5, 2000, 1 << 40] {
            both.record(Slot::SHARED, v);
        }
        assert_eq!(merged, both.read(MAX_SLOTS));
    }

    /// Sets the bucket of `value` in `slot` to `count`, as if that many values
    /// had been recorded there one by one (only the owner would write it).
    fn preload(histogram: &Histogram, slot: Slot, value: u64, count: u64) {
        histogram.record(slot, value);
        let pointer = histogram.slots.get(slot.index()).load(Ordering::Acquire);
        // SAFETY: `record` just installed the slot's buckets.
        let buckets = unsafe { &*pointer };
        let index = index_of(value);
        let group = buckets.group(index / SUB).expect("`record` installed it");
        let (high, low) = (count / u64::from(CARRY), count % u64::from(CARRY));
        group.low[index % SUB].store(low as u32, Ordering::Relaxed);
        if high != 0 {
            get_or_install(&group.high, new_high)[index % SUB]
                .store(high as u32, Ordering::Relaxed);
            set_bits(
                &buckets.carried,
                1 << (index / SUB),
                slot,
                Ordering::Release,
            );
        }
    }

    #[test]
    fn a_bucket_carries_into_its_high_part_and_keeps_its_count() {
        let pool = crate::counter::SlotPool::new();
        let owned = pool.claim();
        let histogram = Histogram::new();
        let carry = u64::from(CARRY);
        // Each slot's bucket one short of a carry, then past it; the owner's
        // a second time, from a count already carried once.
        preload(&histogram, owned, 1000, carry - 1);
        preload(&histogram, Slot::SHARED, 1000, carry - 1);
        for slot in [owned, Slot::SHARED] {
            histogram.record(slot, 1000);
            assert_eq!(
                histogram.read(MAX_SLOTS).count(),
                2 * carry - 1 + 2 * u64::from(slot.is_shared())
            );
            histogram.record(slot, 1000);
        }
        assert_eq!(
            histogram.read(MAX_SLOTS).buckets,
            vec![(index_of(1000) as u32, 2 * carry + 2)]
        );
        preload(&histogram, owned, 1000, 3 * carry - 1);
        histogram.record(owned, 1000);
        histogram.record(owned, 1000);
        assert_eq!(histogram.read(MAX_SLOTS).count(), 4 * carry + 2);
        let high = |slot: Slot| {
            let buckets = unsafe { &*histogram.slots.get(slot.index()).load(Ordering::Acquire) };
            let group = buckets.group(index_of(1000) / SUB).unwrap();
            let high = unsafe { &*group.high.load(Ordering::Acquire) };
            (
                high[index_of(1000) % SUB].load(Ordering::Relaxed),
                group.low[index_of(1000) % SUB].load(Ordering::Relaxed),
            )
        };
        assert_eq!(high(owned), (3, 1), "carried into the high part");
        assert_eq!(high(Slot::SHARED), (1, 1));
        assert_eq!(
            histogram.allocated_bytes(),
            2 * slot_bytes(1) + 2 * size_of::<[AtomicU32; SUB]>()
        );
    }

    #[test]
    fn buckets_keep_counting_past_billions_of_values() {
        // A long criterion run records billions of calls into a few buckets: they
        // go on counting one by one, and the merged totals and quantiles hold.
        let pool = crate::counter::SlotPool::new();
        let (one, two) = (pool.claim(), pool.claim());
        let histogram = Histogram::new();
        let (fast, slow) = (90, 5_000);
        preload(&histogram, one, fast, 6_000_000_000);
        preload(&histogram, two, fast, 3_000_000_000);
        preload(&histogram, Slot::SHARED, slow, 1_000_000_000);
        for slot in [one, two, Slot::SHARED] {
            histogram.record(slot, fast);
            histogram.record(slot, slow);
        }
        let counts = histogram.read(MAX_SLOTS);
        assert_eq!(
            counts.buckets,
            vec![
                (index_of(fast) as u32, 9_000_000_003),
                (index_of(slow) as u32, 1_000_000_003)
            ]
        );
        assert_eq!(counts.count(), 10_000_000_006);
        let [p50, p89, p99, p999] = counts.quantiles([0.5, 0.89, 0.99, 0.999]);
        let mid = |value| {
            let (low, high) = bucket_bounds(index_of(value));
            low + (high - low).div_ceil(2)
        };
        assert_eq!((p50, p89), (Some(fast), Some(fast)));
        assert_eq!((p99, p999), (Some(mid(slow)), Some(mid(slow))));
    }

    #[test]
    fn a_read_of_quantiles_gives_those_of_a_full_read() {
        let pool = crate::counter::SlotPool::new();
        let (one, two) = (pool.claim(), pool.claim());
        let histogram = Histogram::new();
        let agree = |quantiles: &[f64; 7]| {
            let full = histogram.read(MAX_SLOTS);
            let read = histogram.read_quantiles(MAX_SLOTS, quantiles);
            assert_eq!(read.count, full.count());
            assert_eq!(read.values, full.quantiles(*quantiles), "at {quantiles:?}");
        };
        let quantiles = [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0];
        agree(&quantiles);
        histogram.record(two, 5_000);
        agree(&quantiles);
        // Log-uniform over 2^7 .. 2^27, on two slots and the shared one.
        for k in 0..20_000u64 {
            let value = (128.0 * 2f64.powf(20.0 * (k * 7919 % 20_000) as f64 / 20_000.0)) as u64;
            let slot = [one, two, Slot::SHARED][(k % 3) as usize];
            histogram.record(slot, value);
        }
        agree(&quantiles);
        // With ranks in one bucket, and the top ones among the overflow values.
        histogram.record(one, MAX_TRACKED + 1);
        agree(&quantiles);
        agree(&[0.0001, 0.3, 0.3, 0.5, 0.7, 0.99995, 1.0]);
    }

    #[test]
    fn a_scratch_serves_reads_of_many_histograms_and_is_left_zero() {
        let pool = crate::counter::SlotPool::new();
        let (one, two) = (pool.claim(), pool.claim());
        let histograms = [Histogram::new(), Histogram::new(), Histogram::new()];
        // Over six powers of two from 2^7, 2^12 and 2^17 ticks, on two slots and
        // the shared one; the last histogram with overflow values on top.
        for (start, histogram) in [7.0, 12.0, 17.0].into_iter().zip(&histograms) {
            for k in 0..600u64 {
                let value = 2f64.powf(start + 6.0 * (k * 7 % 600) as f64 / 600.0) as u64;
                histogram.record([one, two, Slot::SHARED][(k % 3) as usize], value);
            }
        }
        histograms[2].record(two, MAX_TRACKED + 1);
        histograms[2].record(two, u64::MAX);
        let mut scratch = QuantileScratch::default();
        // Ranks in the first groups only (the walk passes the later ones by),
        // spread over all, and among the overflow values.
        for quantiles in [
            [0.0, 0.01, 0.02, 0.1],
            [0.5, 0.9, 0.99, 0.999],
            [0.1, 0.5, 0.999, 1.0],
        ] {
            for histogram in &histograms {
                assert_eq!(
                    histogram.read_quantiles_with(MAX_SLOTS, &quantiles, &mut scratch),
                    histogram.read_quantiles(MAX_SLOTS, &quantiles)
                );
                let QuantileScratch { group_counts, sums } = &scratch;
                assert!(group_counts.iter().chain(sums).all(|&n| n == 0));
            }
        }
    }

    #[test]
    fn slots_are_merged_and_allocated_per_group() {
        let pool = crate::counter::SlotPool::new();
        let (one, two) = (pool.claim(), pool.claim());
        let histogram = Histogram::new();
        assert_eq!(histogram.allocated_bytes(), 0);
        histogram.record(one, 1000);
        histogram.record(two, 1000);
        histogram.record(two, 5);
        histogram.record(Slot::SHARED, 1 << 30);
        let counts = histogram.read(MAX_SLOTS);
        assert_eq!(counts.count(), 4);
        assert_eq!(
            counts.buckets.len(),
            3,
            "1000 twice in one bucket: {counts:?}"
        );
        assert!(counts.buckets.windows(2).all(|w| w[0].0 < w[1].0));
        // Slot `one`: 1 group; slot `two`: 2 groups (5 and 1000); shared: 1 group.
        assert_eq!(
            histogram.allocated_bytes(),
            3 * slot_bytes(0) + 4 * slot_bytes(1) - 4 * slot_bytes(0)
        );
        assert_eq!(histogram.read(1).count(), 1, "only the shared slot");
    }
}
