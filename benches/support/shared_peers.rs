//! The peers that more than one bench measures: a shared relaxed `AtomicU64`
//! and metered's `HitCount` / `ResponseTime`. Included with `#[path]`, so each
//! bench binary compiles its own copy of the same code.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counter every `atomic_u64` call adds to.
pub static SHARED: AtomicU64 = AtomicU64::new(0);

/// A relaxed `fetch_add` on one shared `AtomicU64`, around the bare body.
#[inline(never)]
pub fn atomic_u64(x: u64) -> u64 {
    SHARED.fetch_add(1, Ordering::Relaxed);
    black_box(x).wrapping_add(1)
}

/// metered measures methods of a type that owns the generated registry.
#[derive(Default, Debug)]
pub struct MeteredService {
    pub metrics: MeteredMetrics,
}

#[metered::metered(registry = MeteredMetrics, visibility = pub)]
impl MeteredService {
    #[measure(metered::HitCount)]
    #[inline(never)]
    pub fn hit_count(&self, x: u64) -> u64 {
        black_box(x).wrapping_add(1)
    }

    #[measure(metered::ResponseTime)]
    #[inline(never)]
    pub fn response_time(&self, x: u64) -> u64 {
        black_box(x).wrapping_add(1)
    }
}
