//! Storage with one entry per thread slot, for up to [`MAX_SLOTS`] slots, that
//! costs memory only for the slots threads have claimed.
//!
//! Every call site keeps a counter cell and a histogram pointer per thread slot.
//! An array of [`MAX_SLOTS`] entries in each site's `static` would make every
//! instrumented fn 128 KiB of counters, most of it never used. So the first
//! [`INLINE_SLOTS`] entries sit in the `static` itself (zero-initialized: in
//! `.bss`, resident only once touched), which is all a process with fewer live
//! threads ever uses, and the rest come in chunks of [`CHUNK_SLOTS`], allocated
//! the first time a thread whose slot falls in one writes to it. A chunk's pointer
//! is published once with a compare-and-swap and never changes until the owner is
//! dropped, so the hot path pays one predictable branch, and for threads past the
//! inline ones one more load.

use std::ptr;

use crate::sync::{AtomicPtr, LoadAcquire, Ordering};

/// Most thread slots a process hands out; threads beyond that many alive at once
/// share slot 0 (see the `counter` module).
pub const MAX_SLOTS: usize = 1024;
/// Slots whose entries live in the owner itself.
pub const INLINE_SLOTS: usize = 32;
/// Slots per chunk allocated on demand.
pub const CHUNK_SLOTS: usize = 32;
const CHUNKS: usize = (MAX_SLOTS - INLINE_SLOTS) / CHUNK_SLOTS;
const _: () = assert!((MAX_SLOTS - INLINE_SLOTS) % CHUNK_SLOTS == 0);

/// A value whose all-zero form means "nothing recorded yet".
pub(crate) trait Zeroed: Sized {
    /// The zero value, for `const` initializers.
    #[cfg(not(loom))]
    const ZERO: Self;

    /// The zero value (loom's atomics cannot be made in a `const`).
    fn zeroed() -> Self;
}

type Chunk<T> = [T; CHUNK_SLOTS];

/// One `T` per thread slot: [`INLINE_SLOTS`] inline, the rest in chunks.
pub(crate) struct PerSlot<T> {
    inline: [T; INLINE_SLOTS],
    chunks: [AtomicPtr<Chunk<T>>; CHUNKS],
}

impl<T: Zeroed> PerSlot<T> {
    /// All entries zero, no chunk allocated.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        PerSlot {
            inline: [const { T::ZERO }; INLINE_SLOTS],
            chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
        }
    }

    /// All entries zero, no chunk allocated.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        PerSlot {
            inline: std::array::from_fn(|_| T::zeroed()),
            chunks: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// The entry of slot 0: [`get`](Self::get)`(0)` in fewer steps, for the
    /// unoptimized builds that use slot 0 only.
    #[inline(always)]
    pub(crate) fn first(&self) -> &T {
        &self.inline[0]
    }

    /// The entry of slot `index` (`< MAX_SLOTS`), allocating its chunk if needed.
    #[inline(always)]
    pub(crate) fn get(&self, index: usize) -> &T {
        if index < INLINE_SLOTS {
            &self.inline[index]
        } else {
            self.get_in_chunk(index)
        }
    }

    #[inline]
    fn get_in_chunk(&self, index: usize) -> &T {
        let offset = index - INLINE_SLOTS;
        // `min`: slot indices are below MAX_SLOTS by construction; this keeps a
        // bounds check (and its panic path) out of the hot path, with a compare
        // where `%` would be a multiplication.
        let chunk = get_or_install(
            &self.chunks[(offset / CHUNK_SLOTS).min(CHUNKS - 1)],
            new_chunk::<T>,
        );
        &chunk[offset % CHUNK_SLOTS]
    }

    /// Calls `f` with the entries of the first `slots` slots that may hold
    /// something: those inline and those in chunks allocated so far.
    #[inline]
    pub(crate) fn for_each_existing(&self, slots: usize, mut f: impl FnMut(&T)) {
        let slots = slots.min(MAX_SLOTS);
        self.inline[..slots.min(INLINE_SLOTS)]
            .iter()
            .for_each(&mut f);
        let mut left = slots.saturating_sub(INLINE_SLOTS);
        for pointer in &self.chunks {
            if left == 0 {
                break;
            }
            let len = left.min(CHUNK_SLOTS);
            left -= len;
            // SAFETY: non-null pointers come from `install` and live as long as `self`.
            if let Some(chunk) = unsafe { pointer.load(Ordering::Acquire).as_ref() } {
                chunk[..len].iter().for_each(&mut f);
            }
        }
    }

    /// Asks the CPU to start loading the inline entries of the first `slots`
    /// slots (a reader about to read many owners in a row overlaps their misses).
    #[inline]
    pub(crate) fn prefetch_inline(&self, slots: usize) {
        for entry in &self.inline[..slots.min(INLINE_SLOTS)] {
            prefetch(entry);
        }
    }

    /// Entries of every slot, mutably (no other reference exists).
    pub(crate) fn for_each_mut(&mut self, mut f: impl FnMut(&mut T)) {
        self.inline.iter_mut().for_each(&mut f);
        for pointer in &mut self.chunks {
            // SAFETY: as in `existing`; `&mut self` means nobody else holds it.
            if let Some(chunk) = unsafe { pointer.load(Ordering::Acquire).as_mut() } {
                chunk.iter_mut().for_each(&mut f);
            }
        }
    }

    /// Bytes of chunks allocated so far.
    pub(crate) fn chunk_bytes(&self) -> usize {
        let allocated = self
            .chunks
            .iter()
            .filter(|pointer| !pointer.load(Ordering::Acquire).is_null())
            .count();
        allocated * size_of::<Chunk<T>>()
    }
}

impl<T> Drop for PerSlot<T> {
    fn drop(&mut self) {
        for pointer in &mut self.chunks {
            let chunk = pointer.swap(ptr::null_mut(), Ordering::Acquire);
            if !chunk.is_null() {
                // SAFETY: installed by `install` from `Box::into_raw`; `&mut self`
                // means no reference into it is left.
                drop(unsafe { Box::from_raw(chunk) });
            }
        }
    }
}

/// Asks the CPU to start loading the cache line of `value`: a hint, which never
/// faults and changes nothing observable.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    prefetch_address((value as *const T).cast());
}

/// [`prefetch`] of every cache line `value` spans: one a line's length from its
/// start, and its last byte (a value need not start on a line). The count is a
/// constant, so the loop unrolls to one instruction a line.
#[inline(always)]
pub(crate) fn prefetch_lines<T>(value: &T) {
    const LINE: usize = 64;
    let start = (value as *const T).cast::<u8>();
    for offset in (0..size_of::<T>()).step_by(LINE) {
        prefetch_address(start.wrapping_add(offset));
    }
    prefetch_address(start.wrapping_add(size_of::<T>().saturating_sub(1)));
}

#[inline(always)]
fn prefetch_address(address: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    #[allow(unused_unsafe)] // safe to call with SSE, which x86_64 always has, in newer Rust
    // SAFETY: PREFETCHT0 is in SSE, part of every x86_64 CPU, and only hints.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(address.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    let _ = address;
}

fn new_chunk<T: Zeroed>() -> Box<Chunk<T>> {
    Box::new(std::array::from_fn(|_| T::zeroed()))
}

/// Returns the object `pointer` points to, installing `make()` there first if it
/// is null. Losing the race to another installer frees ours.
#[cold]
#[inline(never)]
fn install<T>(pointer: &AtomicPtr<T>, make: fn() -> Box<T>) -> &T {
    let fresh = Box::into_raw(make());
    match pointer.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` came from `Box::into_raw` and is now owned by `pointer`,
        // whose owner frees it only when dropped, when no `&` to it is left.
        Ok(_) => unsafe { &*fresh },
        Err(winner) => {
            // SAFETY: `fresh` was never shared; `winner` is owned by `pointer`.
            unsafe {
                drop(Box::from_raw(fresh));
                &*winner
            }
        }
    }
}

/// The object behind `pointer`, made by `make` on first use; the pointer, once
/// set, stays until its owner is dropped.
#[inline(always)]
pub(crate) fn get_or_install<T>(pointer: &AtomicPtr<T>, make: fn() -> Box<T>) -> &T {
    let current = pointer.load_acquire();
    if current.is_null() {
        install(pointer, make)
    } else {
        // SAFETY: non-null pointers come from `install` and live as long as their owner.
        unsafe { &*current }
    }
}
