//! What an instrumented call does at entry and exit.
//!
//! The macros wrap the fn body between [`SyncGuard::enter`] and
//! [`SyncGuard::exit`] (or the async pair). A guard dropped without `exit` means
//! the call did not finish: it unwound (a panic) or, for an async fn, its future
//! was dropped (cancelled).
//!
//! A sync guard also marks its fn as the thread's [`innermost`] instrumented fn
//! while it runs, so the panic hook can name the fn a panic came from even in a
//! binary stripped of symbols. The mark is one const thread-local pointer: `enter`
//! swaps it (a load and a store relative to the thread pointer) and `exit` or
//! `drop` puts the outer one back (a store), well under a nanosecond next to the
//! counter update. Async guards do not mark: between two polls the thread runs
//! other tasks, which would see a stale mark.

use std::cell::Cell;
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

thread_local! {
    // Const-initialized and without a destructor, like the counter slot: every
    // access is one thread-pointer-relative load or store, with no lazy-init check.
    static INNERMOST: Cell<Option<&'static CallSite>> = const { Cell::new(None) };
}

/// The innermost `#[counted]` / `#[timed]` sync fn running on the calling thread.
///
/// A panic hook runs before the stack unwinds, so there it is the instrumented fn
/// closest to the panic. Async fns are not tracked (see the module docs).
pub fn innermost() -> Option<&'static CallSite> {
    INNERMOST.get()
}

fn field_of(outcome: Outcome) -> Field {
    match outcome {
        Outcome::Ok => Field::Ok,
        Outcome::Err => Field::Err,
    }
}

/// The guard of a sync call; `TIMED` also measures its latency.
///
/// The body runs on one thread, so the guard keeps that thread's slot, and marks
/// its site as the thread's [`innermost`] until it exits.
#[must_use]
pub struct SyncGuard<const TIMED: bool> {
    site: &'static CallSite,
    slot: Slot,
    start: u64,
    /// The mark to restore: guards nest, and exit or drop in reverse order.
    outer: Option<&'static CallSite>,
}

impl<const TIMED: bool> SyncGuard<TIMED> {
    /// Counts the start of a call.
    #[inline(always)]
    pub fn enter(site: &'static CallSite) -> Self {
        let slot = current_slot();
        let outer = INNERMOST.replace(Some(site));
        let start = start::<TIMED>(site, slot);
        SyncGuard {
            site,
            slot,
            start,
            outer,
        }
    }

    /// Counts a normal return.
    #[inline(always)]
    pub fn exit(self, outcome: Outcome) {
        ManuallyDrop::new(self).finish(field_of(outcome));
    }

    /// Reads the clock before anything else, so the bookkeeping below is not
    /// timed, then puts back the outer mark and counts the call as `field`.
    #[inline(always)]
    fn finish(&self, field: Field) {
        let latency = latency::<TIMED>(self.start);
        INNERMOST.set(self.outer);
        completion(self.site, self.slot, field, latency);
    }
}

impl<const TIMED: bool> Drop for SyncGuard<TIMED> {
    /// Only reached when the body unwinds (after the panic hook has run).
    fn drop(&mut self) {
        self.finish(Field::Panics);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::CallCounters;
    use crate::registry::SiteName;

    static OUTER_COUNTERS: CallCounters = CallCounters::new();
    static OUTER: CallSite = CallSite::counted(SiteName::Fixed("outer"), &OUTER_COUNTERS);
    static INNER_COUNTERS: CallCounters = CallCounters::new();
    static INNER: CallSite = CallSite::counted(SiteName::Fixed("inner"), &INNER_COUNTERS);

    fn innermost_name() -> Option<String> {
        innermost().and_then(|site| site.name()).map(Into::into)
    }

    #[test]
    fn nested_guards_mark_the_innermost_and_restore_the_outer() {
        assert_eq!(innermost_name(), None);
        let outer = SyncGuard::<false>::enter(&OUTER);
        assert_eq!(innermost_name().as_deref(), Some("outer"));
        let inner = SyncGuard::<true>::enter(&INNER);
        assert_eq!(innermost_name().as_deref(), Some("inner"));
        inner.exit(Outcome::Ok);
        assert_eq!(innermost_name().as_deref(), Some("outer"));
        outer.exit(Outcome::Ok);
        assert_eq!(innermost_name(), None);
    }

    #[test]
    fn an_unwinding_guard_restores_the_outer_mark() {
        let outer = SyncGuard::<false>::enter(&OUTER);
        let unwound = std::panic::catch_unwind(|| {
            let _inner = SyncGuard::<false>::enter(&INNER);
            std::panic::resume_unwind(Box::new("unwinding through the guard"));
        });
        assert!(unwound.is_err());
        assert_eq!(innermost_name().as_deref(), Some("outer"));
        outer.exit(Outcome::Ok);
        assert_eq!(innermost_name(), None);
    }

    #[test]
    fn async_guards_leave_the_mark_alone() {
        let guard = AsyncGuard::<false>::enter(&INNER);
        assert_eq!(innermost_name(), None);
        guard.exit(Outcome::Ok);
    }
}
