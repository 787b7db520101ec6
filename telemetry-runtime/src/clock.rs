//! The clock of `#[timed]`: the CPU's time-stamp counter where the OS trusts it,
//! `Instant` otherwise.
//!
//! Latencies are recorded in raw ticks, so the hot path pays for two counter reads
//! and a subtraction and nothing else (`Instant::now()` costs about three TSC reads
//! here). Ticks become nanoseconds at snapshot time, with a ratio measured between
//! the clock's first use and the snapshot: the longer the process runs, the more
//! exact the ratio. Scaling by a constant keeps the histogram's relative error.
//!
//! The TSC is used only where the kernel itself uses it as its clock source (Linux:
//! `current_clocksource` is `tsc`, which it picks only for an invariant, synchronized
//! counter) or, on other systems, where CPUID reports an invariant TSC.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::sync::{AtomicU32, LoadAcquire, Ordering};

const UNKNOWN: u32 = 0;
const TSC: u32 = 1;
const MONOTONIC: u32 = 2;

/// 32 bits wide, which [`LoadAcquire`] reads in place: every `#[timed]` call
/// of a debug build reads it twice.
static SOURCE: AtomicU32 = AtomicU32::new(UNKNOWN);

/// Which counter [`now`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The CPU's invariant time-stamp counter.
    Tsc,
    /// `std::time::Instant`, in nanoseconds since the clock's origin.
    Monotonic,
}

struct Origin {
    tsc: bool,
    ticks: u64,
    instant: Instant,
}

static ORIGIN: OnceLock<Origin> = OnceLock::new();

/// The current time in ticks of [`source`]. Only differences mean anything.
#[inline(always)]
pub fn now() -> u64 {
    match SOURCE.load_acquire() {
        TSC => read_tsc(),
        MONOTONIC => monotonic_ns(),
        _ => start(),
    }
}

/// The counter the clock reads, deciding it on first use.
pub fn source() -> Source {
    if SOURCE.load(Ordering::Relaxed) == UNKNOWN {
        start();
    }
    match SOURCE.load(Ordering::Relaxed) {
        TSC => Source::Tsc,
        _ => Source::Monotonic,
    }
}

#[cold]
fn start() -> u64 {
    let origin = ORIGIN.get_or_init(|| {
        let tsc = tsc_is_reliable();
        let instant = Instant::now();
        let ticks = if tsc { read_tsc() } else { 0 };
        Origin {
            tsc,
            ticks,
            instant,
        }
    });
    // Published only once ORIGIN is set, so `monotonic_ns` always finds it.
    SOURCE.store(if origin.tsc { TSC } else { MONOTONIC }, Ordering::Release);
    if origin.tsc {
        read_tsc()
    } else {
        monotonic_ns()
    }
}

#[inline(always)]
fn monotonic_ns() -> u64 {
    ORIGIN
        .get()
        .map_or(0, |origin| origin.instant.elapsed().as_nanos() as u64)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn read_tsc() -> u64 {
    // SAFETY: RDTSC exists on every x86_64 CPU and has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn read_tsc() -> u64 {
    monotonic_ns()
}

fn tsc_is_reliable() -> bool {
    if !cfg!(target_arch = "x86_64")
        || std::env::var_os("TELEMETRY_CLOCK").is_some_and(|v| v == "monotonic")
    {
        return false;
    }
    if cfg!(target_os = "linux") {
        return std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|source| source.trim() == "tsc");
    }
    cpu_has_invariant_tsc()
}

#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe)] // `__cpuid` became safe to call in Rust 1.87
fn cpu_has_invariant_tsc() -> bool {
    use core::arch::x86_64::__cpuid;
    // SAFETY: CPUID is available on every x86_64 CPU.
    let max_extended = unsafe { __cpuid(0x8000_0000) }.eax;
    // SAFETY: as above; leaf 0x8000_0007 exists when max_extended says so.
    max_extended >= 0x8000_0007 && unsafe { __cpuid(0x8000_0007) }.edx & (1 << 8) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_invariant_tsc() -> bool {
    false
}

/// Converts tick counts into nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    ns_per_tick: f64,
    /// `ns_per_tick` in fixed point, [`FRACTION_BITS`] bits after the point: a
    /// snapshot converts every bucket bound, and an integer multiply is several
    /// times cheaper than the float round trip with its saturating conversion.
    fixed: u64,
}

const FRACTION_BITS: u32 = 32;

impl Scale {
    /// Ticks are already nanoseconds.
    pub const IDENTITY: Scale = Scale {
        ns_per_tick: 1.0,
        fixed: 1 << FRACTION_BITS,
    };

    /// The scale with a given ratio (tests, and replaying recorded ticks).
    pub fn from_ns_per_tick(ns_per_tick: f64) -> Scale {
        let fixed = (ns_per_tick * (1u64 << FRACTION_BITS) as f64).round();
        Scale {
            ns_per_tick,
            // Saturating: a ratio over 2^32 ns per tick is no clock.
            fixed: fixed as u64,
        }
    }

    /// Measures the ratio of ticks to nanoseconds since the clock's origin.
    ///
    /// Less than 2 ms after the first use, it sleeps until 2 ms have passed: the
    /// two clocks are read a few tens of nanoseconds apart, and over 2 ms that
    /// skew moves the ratio by under 0.005 %.
    pub fn measure() -> Scale {
        if source() != Source::Tsc {
            return Scale::IDENTITY;
        }
        let origin = ORIGIN.get().expect("the clock has started");
        let minimum = Duration::from_millis(2);
        let elapsed = origin.instant.elapsed();
        if elapsed < minimum {
            std::thread::sleep(minimum - elapsed);
        }
        let ticks = read_tsc().wrapping_sub(origin.ticks);
        let nanos = origin.instant.elapsed().as_nanos() as f64;
        if ticks == 0 {
            return Scale::IDENTITY;
        }
        Scale::from_ns_per_tick(nanos / ticks as f64)
    }

    /// Nanoseconds per tick.
    pub fn ns_per_tick(self) -> f64 {
        self.ns_per_tick
    }

    /// `ticks` in nanoseconds, rounded to the nearest (within 2^-32 of the
    /// ratio: under a nanosecond for any latency below 49 days at 1 ns a tick).
    #[inline]
    pub fn to_ns(self, ticks: u64) -> u64 {
        let half = 1u128 << (FRACTION_BITS - 1);
        let ns = (u128::from(ticks) * u128::from(self.fixed) + half) >> FRACTION_BITS;
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_never_go_backwards_on_one_thread() {
        let mut last = now();
        for _ in 0..10_000 {
            let next = now();
            assert!(next >= last);
            last = next;
        }
    }

    #[test]
    fn fixed_point_conversion_rounds_as_the_float_one() {
        for ratio in [0.25, 0.3125, 0.4, 1.0 / 3.0, 1.0, 2.5, 1000.0] {
            let scale = Scale::from_ns_per_tick(ratio);
            for ticks in [0, 1, 3, 7, 100, 12_345, 1 << 30, (1 << 48) - 1] {
                let float = (ticks as f64 * ratio).round();
                let error = scale.to_ns(ticks) as f64 - float;
                assert!(
                    error.abs() <= 1.0 + float * 1e-9,
                    "{ratio} {ticks}: {error}"
                );
            }
        }
        assert_eq!(Scale::IDENTITY.to_ns(u64::MAX), u64::MAX);
        assert_eq!(
            Scale::from_ns_per_tick(4.0).to_ns(u64::MAX),
            u64::MAX,
            "saturates"
        );
    }

    #[test]
    fn measured_scale_turns_a_sleep_into_at_least_its_length() {
        let start = now();
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = Scale::measure().to_ns(now() - start);
        assert!(elapsed >= 19_000_000, "{elapsed} ns for a 20 ms sleep");
        assert!(elapsed < 20_000_000_000, "{elapsed} ns is absurd");
    }
}
