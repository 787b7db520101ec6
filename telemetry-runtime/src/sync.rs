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

/// `in_debug_assembly! {{ assembly } else { portable }}`: the first block where
/// [`AddRelease`] and [`LoadAcquire`] are inline assembly (a build with debug
/// assertions, on x86_64 with 64-bit pointers, neither under loom nor Miri),
/// the second everywhere else. One place says where, for both.
macro_rules! in_debug_assembly {
    ({ $($assembly:tt)* } else { $($portable:tt)* }) => {{
        #[cfg(all(
            target_arch = "x86_64",
            target_pointer_width = "64",
            debug_assertions,
            not(loom),
            not(miri)
        ))]
        {
            $($assembly)*
        }
        #[cfg(not(all(
            target_arch = "x86_64",
            target_pointer_width = "64",
            debug_assertions,
            not(loom),
            not(miri)
        )))]
        {
            $($portable)*
        }
    }};
}

/// `fetch_add(n, Ordering::Release)`, returning the value before: the counts
/// of the shared slot in a build with debug assertions (see the `guard`
/// module), 64-bit, and the 32-bit low parts of its histogram buckets.
///
/// Unoptimized, `fetch_add` is a chain of calls into `core` (some 20
/// instructions). So in a build with debug assertions on x86_64 this is one
/// locked `xadd`, in place, with no call: what `fetch_add` compiles to
/// optimized where its result is used (a locked `add` where it is not, no
/// cheaper). Everywhere else it is `fetch_add`: in release builds, which
/// optimize it as well; under loom and Miri, which see atomics only through
/// their types (Miri runs no assembly); and on targets with 32-bit pointers
/// (x32), where the operands below would be the wrong width.
pub(crate) trait AddRelease {
    /// What the atomic holds.
    type Value;

    /// Adds `n`, returning the value before.
    fn add_release(&self, n: Self::Value) -> Self::Value;
}

/// Implements [`AddRelease`] for atomics of each width, with the `lock xadd`
/// of that width.
macro_rules! add_release {
    ($($atomic:ty => $value:ty, $xadd:literal;)*) => {$(
        impl AddRelease for $atomic {
            type Value = $value;

            #[inline(always)]
            fn add_release(&self, n: $value) -> $value {
                in_debug_assembly! {{
                    let before;
                    // SAFETY: `self` is a live atomic, which has the same
                    // in-memory representation as its value type, so its value
                    // is at its address, aligned. A locked `xadd` is an atomic
                    // read-modify-write, the instruction `fetch_add` itself
                    // compiles to, and sequentially consistent on x86: at least
                    // `Release`. The block is not `nomem`, so the compiler keeps
                    // other memory accesses on their side of it, as around a call.
                    unsafe {
                        core::arch::asm!(
                            $xadd,
                            atomic = in(reg) self as *const Self,
                            value = inout(reg) n => before,
                            options(nostack),
                        );
                    }
                    before
                } else {
                    self.fetch_add(n, Ordering::Release)
                }}
            }
        }
    )*};
}

add_release! {
    AtomicU64 => u64, "lock xadd qword ptr [{atomic}], {value:r}";
    AtomicU32 => u32, "lock xadd dword ptr [{atomic}], {value:e}";
}

/// `load(Ordering::Acquire)`, in a build with debug assertions: on x86_64 the
/// one `mov` it compiles to optimized, in place of a chain of calls, as
/// [`AddRelease`] is for `fetch_add`. For what the debug guards read: the
/// shared slot's latency extremes and bucket bits (which need no more than
/// `Relaxed`), the pointers to its buckets, and the clock's source.
///
/// Without debug assertions it is `load` itself: the same `mov` optimized,
/// which the compiler may move and schedule with the code around it, as it
/// cannot an assembly block (a debug build that optimizes the runtime, as the
/// README suggests, keeps the block: its cost is a lost reordering, not a call).
/// Under loom and Miri and with 32-bit pointers, as for [`AddRelease`], it is
/// `load` too.
pub(crate) trait LoadAcquire {
    /// What the atomic holds.
    type Value;

    /// The atomic's value.
    fn load_acquire(&self) -> Self::Value;
}

/// Implements [`LoadAcquire`] for atomics of each width, with the `mov` of
/// that width.
macro_rules! load_acquire {
    ($([$($generic:ident)?] $atomic:ty => $value:ty, $mov:literal;)*) => {$(
        impl<$($generic)?> LoadAcquire for $atomic {
            type Value = $value;

            #[inline(always)]
            fn load_acquire(&self) -> $value {
                in_debug_assembly! {{
                    let value;
                    // SAFETY: as in `add_release`, the value of a live atomic
                    // is at its address, aligned, and an aligned `mov` of up to
                    // 8 bytes is an atomic load on x86_64, where every load is
                    // `Acquire`. The block is neither `readonly` nor `nomem`, so
                    // the compiler moves no other memory access across it either.
                    unsafe {
                        core::arch::asm!(
                            $mov,
                            atomic = in(reg) self as *const Self,
                            value = lateout(reg) value,
                            options(nostack, preserves_flags),
                        );
                    }
                    value
                } else {
                    self.load(Ordering::Acquire)
                }}
            }
        }
    )*};
}

load_acquire! {
    [] AtomicU64 => u64, "mov {value:r}, qword ptr [{atomic}]";
    [] AtomicU32 => u32, "mov {value:e}, dword ptr [{atomic}]";
    [T] AtomicPtr<T> => *mut T, "mov {value:r}, qword ptr [{atomic}]";
}
