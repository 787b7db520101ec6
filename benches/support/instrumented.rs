//! The fns several benches measure: a bare fn, the same fn under `#[counted]` and
//! `#[timed]`, and the clock pair under `#[timed]`. Included with `#[path]`, so
//! each bench binary compiles (and, for `debug_build`, leaves unoptimized) its own
//! copy; their snapshot names are `<bench>::instrumented::<fn>`.
// Not every bench measures every fn.
#![allow(dead_code)]

use std::hint::black_box;

use telemetry::{counted, timed};

/// The baseline: every case has this body.
#[inline(never)]
pub fn bare(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// The body under `#[counted]`.
#[counted]
#[inline(never)]
pub fn counted_fn(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// The body under `#[timed]`.
#[timed]
#[inline(never)]
pub fn timed_fn(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

/// What `#[timed]` pays for its clock alone: two reads (the CPU's time-stamp
/// counter where the kernel trusts it) and a subtraction.
#[inline(never)]
pub fn clock_pair(x: u64) -> u64 {
    let start = telemetry::__private_0_1_0::clock::now();
    let result = black_box(x).wrapping_add(1);
    black_box(telemetry::__private_0_1_0::clock::now().wrapping_sub(start));
    result
}
