//! A lock-free latency histogram in the HdrHistogram log-linear layout.
//!
//! Values `0..128` get a bucket each. Above that, every power-of-two range
//! `[2^k, 2^(k+1))` is split into 64 equal buckets, so a bucket is at most 1/64 of
//! its lower bound wide and its midpoint is within 1/128 (0.79 %) of any value in
//! it. Values up to `2^48 - 1` ticks are tracked (over 15 hours at a 5 GHz tick);
//! larger ones are counted in `overflow`, never dropped.
//!
//! Recording is one `fetch_add` on a shared bucket: with 2,752 buckets (22 KiB), a
//! copy per thread would cost too much memory. A 43-bit occupancy mask tells
//! readers which groups of 64 buckets have ever been written, so a snapshot reads
//! only those groups and its cost does not depend on the full bucket count.
//! Quantiles are computed by readers, never on the recording path.

use crate::sync::{zero, AtomicU64, Ordering};

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
const _: () = assert!(GROUPS <= 64 && BUCKETS % SUB == 0);

/// Bucket index of a value `<= MAX_TRACKED`.
#[inline(always)]
fn index_of(value: u64) -> usize {
    if value < LINEAR as u64 {
        value as usize
    } else {
        let power = 63 - value.leading_zeros(); // >= LINEAR_BITS
        let sub = (value >> (power - SUB_BITS)) as usize - SUB;
        LINEAR + (power - LINEAR_BITS) as usize * SUB + sub
    }
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

/// Lock-free histogram of `u64` values (clock ticks, in this crate).
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    occupied_groups: AtomicU64,
    overflow: AtomicU64,
}

impl Histogram {
    /// An empty histogram (all zeros, so a `static` lives in `.bss`).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Histogram {
            buckets: [const { zero() }; BUCKETS],
            occupied_groups: zero(),
            overflow: zero(),
        }
    }

    /// An empty histogram.
    #[cfg(loom)]
    pub fn new() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| zero()),
            occupied_groups: zero(),
            overflow: zero(),
        }
    }

    /// Counts one value.
    #[inline(always)]
    pub fn record(&self, value: u64) {
        if value > MAX_TRACKED {
            self.overflow.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let index = index_of(value);
        let group = 1u64 << (index / SUB);
        // The mask is set once per group; afterwards this is a read of a shared,
        // rarely-written line.
        if self.occupied_groups.load(Ordering::Relaxed) & group == 0 {
            self.occupied_groups.fetch_or(group, Ordering::Release);
        }
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The current counts. Reads only occupied groups; never blocks recorders.
    pub fn read(&self) -> HistogramCounts {
        let mut groups = self.occupied_groups.load(Ordering::Acquire);
        let mut buckets = Vec::new();
        while groups != 0 {
            let group = groups.trailing_zeros() as usize;
            groups &= groups - 1;
            for index in group * SUB..(group + 1) * SUB {
                let count = self.buckets[index].load(Ordering::Relaxed);
                if count != 0 {
                    buckets.push((index as u32, count));
                }
            }
        }
        HistogramCounts {
            buckets,
            overflow: self.overflow.load(Ordering::Relaxed),
        }
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
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
            let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
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
                current.map(|index| {
                    let (low, high) = bucket_bounds(index as usize);
                    low + (high - low).div_ceil(2)
                })
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
        histogram.record(MAX_TRACKED);
        histogram.record(MAX_TRACKED + 1);
        histogram.record(u64::MAX);
        let counts = histogram.read();
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
            a.record(v);
        }
        for v in [5, 2000, 1 << 40] {
            b.record(v);
        }
        let mut merged = a.read();
        merged.merge(&b.read());
        let both = Histogram::new();
        for v in [1, 5, 5, 1000, 5, 2000, 1 << 40] {
            both.record(v);
        }
        assert_eq!(merged, both.read());
    }
}
