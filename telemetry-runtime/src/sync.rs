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
