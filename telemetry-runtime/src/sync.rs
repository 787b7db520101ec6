//! Atomics used by the lock-free primitives, swapped for `loom`'s under `--cfg loom`
//! so the model checker sees every access.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::thread::yield_now;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

/// `AtomicU64::new(0)`, const where the platform allows it (loom's atomics are not const).
#[cfg(not(loom))]
pub(crate) const fn zero() -> AtomicU64 {
    AtomicU64::new(0)
}

#[cfg(loom)]
pub(crate) fn zero() -> AtomicU64 {
    AtomicU64::new(0)
}

/// `counter.fetch_add(n, Ordering::Release)` with its result unused: the counts
/// of the shared slot in a build with debug assertions (see the `guard` module).
///
/// Unoptimized, `fetch_add` is a chain of calls into `core` (some 20
/// instructions); on x86_64 this is the one locked `add` that it compiles to
/// optimized, in place, with no call. Under loom and Miri, which see atomics
/// only through their types (Miri runs no assembly), it is `fetch_add`.
#[inline(always)]
pub(crate) fn add_release(counter: &AtomicU64, n: u64) {
    #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
    // SAFETY: `counter` is a live `AtomicU64`, which has the same in-memory
    // representation as a `u64`, so its value is at its address, aligned. A
    // locked `add` is an atomic read-modify-write, the instruction `fetch_add`
    // itself compiles to, and sequentially consistent on x86: at least
    // `Release`. The block is not `nomem`, so the compiler keeps other memory
    // accesses on their side of it, as around a call.
    unsafe {
        core::arch::asm!(
            "lock add qword ptr [{counter}], {n}",
            counter = in(reg) counter as *const AtomicU64,
            n = in(reg) n,
            options(nostack),
        );
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
    counter.fetch_add(n, Ordering::Release);
}

/// `counter.load(Ordering::Relaxed)`, for the shared slot's latency extremes
/// and bucket bits in a build with debug assertions, as [`add_release`] is for its counts: on
/// x86_64 the one `mov` it compiles to optimized, in place of a chain of calls.
#[inline(always)]
pub(crate) fn load_relaxed(counter: &AtomicU64) -> u64 {
    #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
    {
        let value: u64;
        // SAFETY: as in `add_release`, the value of a live `AtomicU64` is at its
        // address, aligned, and an aligned 8-byte `mov` is an atomic load on
        // x86_64, the instruction a `Relaxed` (or `Acquire`) load compiles to.
        unsafe {
            core::arch::asm!(
                "mov {value}, qword ptr [{counter}]",
                counter = in(reg) counter as *const AtomicU64,
                value = lateout(reg) value,
                options(nostack, preserves_flags, readonly),
            );
        }
        value
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
    counter.load(Ordering::Relaxed)
}
