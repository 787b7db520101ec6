//! What an instrumented call does at entry and exit.
//!
//! The macros wrap the fn body between [`SyncGuard::enter`] and
//! [`SyncGuard::exit`] (or the async pair). A guard dropped without `exit` means
//! the call did not finish: it unwound (a panic) or, for an async fn, its future
//! was dropped (cancelled).

use std::mem::ManuallyDrop;

use crate::clock;
use crate::counter::{current_slot, Field, Slot};
use crate::outcome::Outcome;
use crate::registry::CallSite;

#[inline(always)]
fn completion(site: &CallSite, slot: Slot, field: Field, latency: Option<u64>) {
    if let Some(ticks) = latency {
        site.counters().record_latency(slot, ticks);
        if let Some(histogram) = site.histogram() {
            histogram.record(slot, ticks);
        }
    }
    // Last, with `Release`: a reader that sees the completion sees its latency.
    site.counters().add(slot, field, 1);
}

/// Counts the start of a call; for timed sites, returns the clock reading.
#[inline(always)]
fn start<const TIMED: bool>(site: &CallSite, slot: Slot) -> u64 {
    site.counters().add(slot, Field::Started, 1);
    if TIMED {
        clock::now()
    } else {
        0
    }
}

/// For timed sites, the ticks since `start`.
#[inline(always)]
fn latency<const TIMED: bool>(start: u64) -> Option<u64> {
    TIMED.then(|| clock::now().saturating_sub(start))
}

fn field_of(outcome: Outcome) -> Field {
    match outcome {
        Outcome::Ok => Field::Ok,
        Outcome::Err => Field::Err,
    }
}

/// The guard of a sync call; `TIMED` also measures its latency.
///
/// The body runs on one thread, so the guard keeps that thread's slot.
#[must_use]
pub struct SyncGuard<const TIMED: bool> {
    site: &'static CallSite,
    slot: Slot,
    start: u64,
}

impl<const TIMED: bool> SyncGuard<TIMED> {
    /// Counts the start of a call.
    #[inline(always)]
    pub fn enter(site: &'static CallSite) -> Self {
        let slot = current_slot();
        let start = start::<TIMED>(site, slot);
        SyncGuard { site, slot, start }
    }

    /// Counts a normal return.
    #[inline(always)]
    pub fn exit(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        completion(
            this.site,
            this.slot,
            field_of(outcome),
            latency::<TIMED>(this.start),
        );
    }
}

impl<const TIMED: bool> Drop for SyncGuard<TIMED> {
    /// Only reached when the body unwinds.
    fn drop(&mut self) {
        completion(
            self.site,
            self.slot,
            Field::Panics,
            latency::<TIMED>(self.start),
        );
    }
}

/// The guard of an async call, created at its first poll and kept in its future.
///
/// The future may move between threads, so each count goes to the slot of the
/// thread that makes it.
#[must_use]
pub struct AsyncGuard<const TIMED: bool> {
    site: &'static CallSite,
    start: u64,
}

impl<const TIMED: bool> AsyncGuard<TIMED> {
    /// Counts the start of a call (its first poll).
    #[inline(always)]
    pub fn enter(site: &'static CallSite) -> Self {
        let start = start::<TIMED>(site, current_slot());
        AsyncGuard { site, start }
    }

    /// Counts a completion.
    #[inline(always)]
    pub fn exit(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        completion(
            this.site,
            current_slot(),
            field_of(outcome),
            latency::<TIMED>(this.start),
        );
    }
}

impl<const TIMED: bool> Drop for AsyncGuard<TIMED> {
    /// Reached when the body panics inside a poll, or when the future is dropped
    /// before completing (cancelled: no latency, the call never finished).
    fn drop(&mut self) {
        if std::thread::panicking() {
            completion(
                self.site,
                current_slot(),
                Field::Panics,
                latency::<TIMED>(self.start),
            );
        } else {
            completion(self.site, current_slot(), Field::Cancelled, None);
        }
    }
}
