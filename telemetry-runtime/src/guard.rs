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
        site.counters().add(slot, Field::Started, 1);
        let start = if TIMED { clock::now() } else { 0 };
        SyncGuard { site, slot, start }
    }

    #[inline(always)]
    fn latency(&self) -> Option<u64> {
        TIMED.then(|| clock::now().saturating_sub(self.start))
    }

    /// Counts a normal return.
    #[inline(always)]
    pub fn exit(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        completion(this.site, this.slot, field_of(outcome), this.latency());
    }
}

impl<const TIMED: bool> Drop for SyncGuard<TIMED> {
    /// Only reached when the body unwinds.
    fn drop(&mut self) {
        completion(self.site, self.slot, Field::Panics, self.latency());
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
        site.counters().add(current_slot(), Field::Started, 1);
        let start = if TIMED { clock::now() } else { 0 };
        AsyncGuard { site, start }
    }

    #[inline(always)]
    fn latency(&self) -> Option<u64> {
        TIMED.then(|| clock::now().saturating_sub(self.start))
    }

    /// Counts a completion.
    #[inline(always)]
    pub fn exit(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        completion(this.site, current_slot(), field_of(outcome), this.latency());
    }
}

impl<const TIMED: bool> Drop for AsyncGuard<TIMED> {
    /// Reached when the body panics inside a poll, or when the future is dropped
    /// before completing (cancelled: no latency, the call never finished).
    fn drop(&mut self) {
        if std::thread::panicking() {
            completion(self.site, current_slot(), Field::Panics, self.latency());
        } else {
            completion(self.site, current_slot(), Field::Cancelled, None);
        }
    }
}
