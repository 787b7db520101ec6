//! What an instrumented call does at entry and exit.
//!
//! A sync fn's body runs after [`SyncGuard::enter`]. Where the returned value
//! decides `ok` or `err`, the body hands it to [`SyncGuard::exit`]; elsewhere
//! the body stays in place and the guard's `Drop` counts the call: as a panic
//! when this frame is unwinding (the thread was not panicking at entry and is at
//! drop), else as a normal return.
//!
//! An async fn's body runs inside [`AsyncGuard::watch`], which notes whether a
//! poll unwound. A guard dropped without `exit` counts a panic if a poll of the
//! body unwound, else a cancellation (the future was dropped before it
//! completed), even when the drop happens while the thread unwinds from some
//! other panic.
//!
//! In a build with debug assertions every count goes to the shared slot, and
//! the marks below are not kept: unoptimized, the per-thread machinery costs
//! more than it saves (see `OnThread`). Where the crate of the instrumented fn
//! is built with debug assertions, its sync calls do not even go through
//! [`SyncGuard`], whose generic glue is inlined there unoptimized: they get a
//! [`DebugGuard`] (or [`DebugTimedGuard`]), whose entry and exit are each one
//! call into the runtime, unless the site samples its timing. Async calls keep
//! [`AsyncGuard`] in every build.
//!
//! A sync guard also marks its fn as the thread's [`innermost`] instrumented fn
//! while it runs, so the panic hook can name the fn a panic came from even in a
//! binary stripped of symbols. The mark is one const thread-local pointer: `enter`
//! swaps it (a load and a store relative to the thread pointer) and `exit` or
//! `drop` puts the outer one back (a store), well under a nanosecond next to the
//! counter update. The guard keeps the mark's address, so a call goes through
//! `LocalKey::with` once for it: in a debug build (what `cargo test` runs) each
//! such access is a chain of a dozen calls. Async guards do not mark: between two polls the thread runs
//! other tasks, which would see a stale mark.

use std::cell::Cell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::clock;
use crate::counter::{current_slot, CallCounters, Field, Slot};
use crate::histogram::Histogram;
use crate::outcome::Outcome;
use crate::registry::CallSite;
use crate::sample;

/// Where a call site's guards record: the site's own statics, which the
/// expansion names directly. Reached through the [`CallSite`] instead, every
/// count would first load the statics' addresses from it; named, they are
/// constants of the generated code.
#[derive(Clone, Copy)]
pub struct Recorder {
    counters: &'static CallCounters,
    histogram: Option<&'static Histogram>,
}

impl Recorder {
    /// Where a `#[counted]` site records.
    #[inline(always)]
    pub const fn counted(counters: &'static CallCounters) -> Self {
        Recorder {
            counters,
            histogram: None,
        }
    }

    /// Where a `#[timed]` site records.
    #[inline(always)]
    pub const fn timed(counters: &'static CallCounters, histogram: &'static Histogram) -> Self {
        Recorder {
            counters,
            histogram: Some(histogram),
        }
    }

    #[inline(always)]
    fn completion(self, slot: Slot, field: Field, latency: Option<u64>) {
        // One test of the slot, rather than one in each count below: past it
        // the compiler knows which way each of them goes. Where every call
        // counts in the shared slot, the out-of-line call would be every call's.
        if PER_THREAD_SLOTS && slot.is_shared() {
            self.shared_completion(field, latency);
        } else {
            self.record_completion(slot, field, latency);
        }
    }

    /// A completion counted in the shared slot, with atomic read-modify-writes:
    /// the rare case (more threads alive than slots, or a thread tearing down).
    #[cold]
    #[inline(never)]
    fn shared_completion(self, field: Field, latency: Option<u64>) {
        self.record_completion(Slot::SHARED, field, latency);
    }

    #[inline(always)]
    fn record_completion(self, slot: Slot, field: Field, latency: Option<u64>) {
        // A slot of the thread's own: its cell found once for the latency and
        // the count (each lookup is a test of the slot and an address).
        let owned = (PER_THREAD_SLOTS && !slot.is_shared()).then(|| self.counters.cell(slot));
        if let Some(ticks) = latency {
            match owned {
                Some(cell) => cell.record_latency_owned(ticks),
                None => self.counters.record_latency(slot, ticks),
            }
            if let Some(histogram) = self.histogram {
                histogram.record(slot, ticks);
            }
        }
        // Last, with `Release`: a reader that sees the completion sees its latency.
        match owned {
            Some(cell) => cell.add(slot, field, 1),
            None => self.count(slot, field),
        }
    }

    /// Where every call counts in the shared slot, straight to its cell: the
    /// slot lookup of [`CallCounters::add`] is a chain of calls unoptimized
    /// (and, folded into `add`, measurably slows the per-thread path).
    #[inline(always)]
    fn count(self, slot: Slot, field: Field) {
        if PER_THREAD_SLOTS {
            self.counters.add(slot, field, 1);
        } else {
            self.counters.count_shared(field as usize);
        }
    }

    /// Counts the start of a call; for timed sites, returns the clock reading
    /// (or, sampled one call in `SAMPLE`, [`sample::UNTIMED`] for a call not
    /// timed).
    #[inline(always)]
    fn start<const TIMED: bool, const SAMPLE: u32>(self, slot: Slot) -> u64 {
        self.count(slot, Field::Started);
        if !TIMED {
            0
        } else if SAMPLE <= 1 {
            clock::now()
        } else {
            sample::start(self.counters, slot, SAMPLE)
        }
    }
}

/// For timed sites, the ticks since `start`; `None` for a call not timed.
#[inline(always)]
fn latency<const TIMED: bool, const SAMPLE: u32>(start: u64) -> Option<u64> {
    if !TIMED {
        None
    } else if SAMPLE <= 1 {
        Some(clock::now().saturating_sub(start))
    } else {
        sample::latency(start)
    }
}

thread_local! {
    // Const-initialized and without a destructor, like the counter slot: every
    // access is one thread-pointer-relative load or store, with no lazy-init check.
    static INNERMOST: Cell<Option<&'static CallSite>> = const { Cell::new(None) };
}

/// The innermost `#[counted]` / `#[timed]` sync fn running on the calling thread.
///
/// A panic hook runs before the stack unwinds, so there it is the instrumented fn
/// closest to the panic. Async fns are not tracked (see the module docs), nor
/// any fn in a build with debug assertions, whose backtraces have symbols.
pub fn innermost() -> Option<&'static CallSite> {
    INNERMOST.get()
}

/// The address of the calling thread's [`INNERMOST`]. It stays valid as long as
/// the thread runs (the thread-local has no destructor, so it is never torn
/// down before), and a `Cell` hands out no references to its value, so reads
/// and writes through it on this thread alias nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
fn innermost_mark() -> *mut Option<&'static CallSite> {
    INNERMOST.with(Cell::as_ptr)
}

/// A sync call's hold on its thread, from entry to exit: the thread's counter
/// slot, and the [`innermost`] mark to put back.
#[cfg(not(debug_assertions))]
struct OnThread {
    slot: Slot,
    /// The mark to restore: guards nest, and exit or drop in reverse order.
    outer: Option<&'static CallSite>,
    /// This thread's [`INNERMOST`] (see [`innermost_mark`]).
    mark: *mut Option<&'static CallSite>,
}

#[cfg(not(debug_assertions))]
impl OnThread {
    /// Finds the thread's slot and marks `site` as its innermost fn.
    #[inline(always)]
    fn enter(site: &'static CallSite) -> Self {
        let slot = current_slot();
        let mark = innermost_mark();
        // SAFETY: see `innermost_mark`; this is the thread that owns it.
        let outer = unsafe { mark.read() };
        unsafe { mark.write(Some(site)) };
        OnThread { slot, outer, mark }
    }

    #[inline(always)]
    fn slot(&self) -> Slot {
        self.slot
    }

    /// Puts the outer mark back.
    #[inline(always)]
    fn leave(&self) {
        // SAFETY: see `innermost_mark`; the guard holds a raw pointer, so it is
        // not `Send`: this is the thread that made it.
        unsafe { self.mark.write(self.outer) };
    }
}

/// In a build with debug assertions (what `cargo test` builds), a call holds
/// nothing of its thread: it counts in the shared slot and leaves the
/// [`innermost`] mark alone.
///
/// Unoptimized, each thread-local access is a chain of a dozen calls, and the
/// plain load and store that update an exclusive slot are two calls into `core`
/// where the shared slot's add is one at most (none on x86_64, see
/// [`AddRelease`](crate::sync::AddRelease)): there the per-thread machinery
/// costs several times the contention it avoids. Counts stay exact either way;
/// threads of a debug build share one cache line per fn, and the panic hook
/// names the fn a panic came from by the backtrace's symbols, which a debug
/// build keeps.
#[cfg(debug_assertions)]
struct OnThread(std::marker::PhantomData<*mut ()>);

#[cfg(debug_assertions)]
impl OnThread {
    #[inline(always)]
    fn enter(_: &'static CallSite) -> Self {
        OnThread(std::marker::PhantomData)
    }

    #[inline(always)]
    fn slot(&self) -> Slot {
        Slot::SHARED
    }

    #[inline(always)]
    fn leave(&self) {}
}

/// Whether calls count in their thread's own slot, as they do where debug
/// assertions are off; with them on, every count goes to the shared slot (see
/// [`OnThread`]).
const PER_THREAD_SLOTS: bool = !cfg!(debug_assertions);

/// The slot an async call's counts go to (see [`PER_THREAD_SLOTS`]).
#[inline(always)]
fn counting_slot() -> Slot {
    if PER_THREAD_SLOTS {
        current_slot()
    } else {
        Slot::SHARED
    }
}

#[inline(always)]
fn field_of(outcome: Outcome) -> Field {
    match outcome {
        Outcome::Ok => Field::Ok,
        Outcome::Err => Field::Err,
    }
}

/// The guard of a sync call; `TIMED` also measures its latency, of about one
/// call in `SAMPLE` (see the `sample` module).
///
/// The body runs on one thread, so the guard keeps that thread's slot, and marks
/// its site as the thread's [`innermost`] until it exits.
#[must_use]
pub struct SyncGuard<const TIMED: bool, const SAMPLE: u32 = 1> {
    recorder: Recorder,
    thread: OnThread,
    start: u64,
    /// A fn entered while its thread unwinds cannot panic out of it (a second
    /// panic aborts), so a drop while panicking is then a normal return.
    unwinding_at_entry: bool,
}

impl<const TIMED: bool, const SAMPLE: u32> SyncGuard<TIMED, SAMPLE> {
    /// Counts the start of a call whose body ends in [`exit`](Self::exit)
    /// unless it unwinds: a drop is always a panic.
    #[inline(always)]
    pub fn enter(site: &'static CallSite, recorder: Recorder) -> Self {
        Self::begin(site, recorder, false)
    }

    /// Counts the start of a call whose normal return drops the guard: the
    /// drop tells that return from an unwinding panic.
    #[inline(always)]
    pub fn enter_in_place(site: &'static CallSite, recorder: Recorder) -> Self {
        Self::begin(site, recorder, std::thread::panicking())
    }

    #[inline(always)]
    fn begin(site: &'static CallSite, recorder: Recorder, unwinding_at_entry: bool) -> Self {
        let thread = OnThread::enter(site);
        let start = recorder.start::<TIMED, SAMPLE>(thread.slot());
        SyncGuard {
            recorder,
            thread,
            start,
            unwinding_at_entry,
        }
    }

    /// Counts a normal return that `outcome` classifies.
    #[inline(always)]
    pub fn exit(self, outcome: Outcome) {
        ManuallyDrop::new(self).finish(field_of(outcome));
    }

    /// Reads the clock before anything else, so the bookkeeping below is not
    /// timed, then puts back the outer mark and counts the call as `field`.
    #[inline(always)]
    fn finish(&self, field: Field) {
        // Most calls of a sampled site are not timed: on a path of their own,
        // rather than merged with the timed one, nothing after tests for a
        // latency again (measured: 5 instructions and 0.2 ns a call).
        if TIMED && SAMPLE > 1 && self.start == sample::UNTIMED {
            self.thread.leave();
            self.recorder.completion(self.thread.slot(), field, None);
            return;
        }
        let latency = latency::<TIMED, SAMPLE>(self.start);
        self.thread.leave();
        self.recorder.completion(self.thread.slot(), field, latency);
    }
}

impl<const TIMED: bool, const SAMPLE: u32> Drop for SyncGuard<TIMED, SAMPLE> {
    /// Reached when the body returns without `exit` (it returns nothing that
    /// could be an error) or unwinds (after the panic hook has run).
    #[inline(always)]
    fn drop(&mut self) {
        let unwinding = std::thread::panicking() && !self.unwinding_at_entry;
        self.finish(if unwinding { Field::Panics } else { Field::Ok });
    }
}

/// The guard of a sync `#[counted]` call in code built with debug assertions,
/// where the expansion uses it in place of [`SyncGuard`]: what `cargo test`
/// runs, unoptimized. [`DebugTimedGuard`] is its `#[timed]` twin.
///
/// It counts as [`SyncGuard`] does, always in the shared slot, with one atomic
/// read-modify-write at entry and one at exit, and keeps no [`innermost`] mark:
/// the panic hook names the fn by the backtrace's symbols, which a build with
/// debug assertions keeps (stripped of them, a panic in such a fn is put down
/// to the innermost fn of an optimized crate around it, if any).
/// Nothing in it is generic or inlined into the caller, and it is one word,
/// passed in a register: unoptimized, every temporary of inlined glue is a
/// stack store and a load in the user's fn, and every constant `if` a branch.
/// Counts stay exact whether the runtime itself was built with debug
/// assertions or not: whatever else counts in the shared slot does so with
/// atomic read-modify-writes too.
#[must_use]
pub struct DebugGuard {
    counters: &'static CallCounters,
}

impl DebugGuard {
    /// [`SyncGuard::enter`], in a debug build.
    pub fn enter(counters: &'static CallCounters) -> Self {
        counters.count_shared(Field::Started as usize);
        DebugGuard { counters }
    }

    /// [`SyncGuard::enter_in_place`], in a debug build.
    pub fn enter_in_place(counters: &'static CallCounters) -> DebugInPlaceGuard {
        counters.count_shared(Field::Started as usize);
        DebugInPlaceGuard {
            counters,
            unwinding_at_entry: std::thread::panicking(),
        }
    }

    /// Counts a normal return that `outcome` classifies.
    pub fn exit(self, outcome: Outcome) {
        // An outcome as `usize` is its field's index: no `match` to run.
        ManuallyDrop::new(self)
            .counters
            .count_shared(outcome as usize);
    }
}

impl Drop for DebugGuard {
    /// As [`SyncGuard`]'s: reached when the body unwinds.
    fn drop(&mut self) {
        self.counters.count_shared(field_at_drop(false));
    }
}

/// The [`DebugGuard`] of a call whose normal return drops it: it never
/// moves, so it keeps the flag [`DebugGuard`] has no use for.
#[must_use]
pub struct DebugInPlaceGuard {
    counters: &'static CallCounters,
    /// As in [`SyncGuard`].
    unwinding_at_entry: bool,
}

impl Drop for DebugInPlaceGuard {
    /// As [`SyncGuard`]'s.
    fn drop(&mut self) {
        self.counters
            .count_shared(field_at_drop(self.unwinding_at_entry));
    }
}

/// A `#[timed]` site's counters and latency histogram, in one static: the
/// [`DebugTimedGuard`] of its calls holds one address for both, and is two
/// words, which pass in registers where a larger guard is copied through
/// memory at every move, unoptimized.
pub struct TimedStatics {
    /// The site's counters.
    pub counters: CallCounters,
    /// The site's latency histogram.
    pub histogram: Histogram,
}

impl TimedStatics {
    /// All zero, as a `static` of the expansion.
    pub const fn new() -> Self {
        TimedStatics {
            counters: CallCounters::new(),
            histogram: Histogram::new(),
        }
    }

    /// Reads the clock and records the latency since `start` in the shared
    /// slot, then counts the call in `field` (a [`Field`] as `usize`).
    #[inline(always)]
    fn finish_shared(&self, start: u64, field: usize) {
        let ticks = clock::now().saturating_sub(start);
        self.counters.record_latency_shared(ticks);
        self.histogram.record_shared(ticks);
        // Last, with `Release`: a reader that sees the completion sees its latency.
        self.counters.count_shared(field);
    }
}

impl Default for TimedStatics {
    fn default() -> Self {
        Self::new()
    }
}

/// The [`DebugGuard`] of a sync `#[timed]` call: it also reads the clock at
/// entry and exit, and records the latency in the shared slot.
#[must_use]
pub struct DebugTimedGuard {
    statics: &'static TimedStatics,
    start: u64,
}

impl DebugTimedGuard {
    /// [`SyncGuard::enter`], in a debug build.
    pub fn enter(statics: &'static TimedStatics) -> Self {
        statics.counters.count_shared(Field::Started as usize);
        DebugTimedGuard {
            statics,
            start: clock::now(),
        }
    }

    /// [`SyncGuard::enter_in_place`], in a debug build.
    pub fn enter_in_place(statics: &'static TimedStatics) -> DebugTimedInPlaceGuard {
        statics.counters.count_shared(Field::Started as usize);
        DebugTimedInPlaceGuard {
            statics,
            start: clock::now(),
            unwinding_at_entry: std::thread::panicking(),
        }
    }

    /// Counts a normal return that `outcome` classifies.
    pub fn exit(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        this.statics.finish_shared(this.start, outcome as usize);
    }
}

impl Drop for DebugTimedGuard {
    /// As [`SyncGuard`]'s: reached when the body unwinds.
    fn drop(&mut self) {
        self.statics.finish_shared(self.start, field_at_drop(false));
    }
}

/// The [`DebugTimedGuard`] of a call whose normal return drops it, as
/// [`DebugInPlaceGuard`] is [`DebugGuard`]'s.
#[must_use]
pub struct DebugTimedInPlaceGuard {
    statics: &'static TimedStatics,
    start: u64,
    /// As in [`SyncGuard`].
    unwinding_at_entry: bool,
}

impl Drop for DebugTimedInPlaceGuard {
    /// As [`SyncGuard`]'s.
    fn drop(&mut self) {
        self.statics
            .finish_shared(self.start, field_at_drop(self.unwinding_at_entry));
    }
}

/// What a debug guard dropped without `exit` counts (see [`SyncGuard`]'s `Drop`).
#[inline(always)]
fn field_at_drop(unwinding_at_entry: bool) -> usize {
    let unwinding = std::thread::panicking() && !unwinding_at_entry;
    (if unwinding { Field::Panics } else { Field::Ok }) as usize
}

/// The guard of an async call, created at its first poll and kept in its future;
/// `TIMED` and `SAMPLE` as for [`SyncGuard`].
///
/// The future may move between threads, so each count goes to the slot of the
/// thread that makes it.
#[must_use]
pub struct AsyncGuard<const TIMED: bool, const SAMPLE: u32 = 1> {
    recorder: Recorder,
    start: u64,
    /// Set while the body is polled; left set if a poll unwinds.
    poll_unwound: bool,
}

impl<const TIMED: bool, const SAMPLE: u32> AsyncGuard<TIMED, SAMPLE> {
    /// Counts the start of a call (its first poll).
    #[inline(always)]
    pub fn enter(recorder: Recorder) -> Self {
        let start = recorder.start::<TIMED, SAMPLE>(counting_slot());
        AsyncGuard {
            recorder,
            start,
            poll_unwound: false,
        }
    }

    /// Runs the call's body, noting whether one of its polls unwinds: that
    /// tells a panic from a cancellation when the guard is dropped.
    #[inline(always)]
    pub fn watch<F: Future>(&mut self, body: F) -> Watched<'_, F, TIMED, SAMPLE> {
        Watched { guard: self, body }
    }

    /// Counts a completion.
    #[inline(always)]
    pub fn exit(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        this.recorder.completion(
            counting_slot(),
            field_of(outcome),
            latency::<TIMED, SAMPLE>(this.start),
        );
    }
}

/// An async call's body, polled under the eye of its guard (see
/// [`AsyncGuard::watch`]).
#[must_use = "futures do nothing unless polled"]
pub struct Watched<'g, F, const TIMED: bool, const SAMPLE: u32> {
    guard: &'g mut AsyncGuard<TIMED, SAMPLE>,
    body: F,
}

impl<F: Future, const TIMED: bool, const SAMPLE: u32> Future for Watched<'_, F, TIMED, SAMPLE> {
    type Output = F::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `body` is pinned whenever `self` is: it is never moved out of
        // `self`, and `Watched` has no `Drop` and is `Unpin` only if `F` is.
        let this = unsafe { self.get_unchecked_mut() };
        let body = unsafe { Pin::new_unchecked(&mut this.body) };
        // Two stores and no check: a poll that unwinds skips the second.
        this.guard.poll_unwound = true;
        let poll = body.poll(cx);
        this.guard.poll_unwound = false;
        poll
    }
}

impl<const TIMED: bool, const SAMPLE: u32> Drop for AsyncGuard<TIMED, SAMPLE> {
    /// Reached when the body panicked inside a poll, or when the future is
    /// dropped before completing (cancelled: no latency, the call never
    /// finished), whether or not the thread is unwinding from another panic.
    fn drop(&mut self) {
        if self.poll_unwound {
            self.recorder.completion(
                counting_slot(),
                Field::Panics,
                latency::<TIMED, SAMPLE>(self.start),
            );
        } else {
            self.recorder
                .completion(counting_slot(), Field::Cancelled, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::SiteName;

    static OUTER_COUNTERS: CallCounters = CallCounters::new();
    static OUTER: CallSite = CallSite::counted(SiteName::Fixed("outer"), &OUTER_COUNTERS);
    static INNER_COUNTERS: CallCounters = CallCounters::new();
    static INNER: CallSite = CallSite::counted(SiteName::Fixed("inner"), &INNER_COUNTERS);

    fn innermost_name() -> Option<String> {
        innermost().and_then(|site| site.name()).map(Into::into)
    }

    /// What [`innermost`] names while `site` runs: a build with debug
    /// assertions keeps no marks.
    fn marked(site: &str) -> Option<&str> {
        PER_THREAD_SLOTS.then_some(site)
    }

    #[test]
    fn nested_guards_mark_the_innermost_and_restore_the_outer() {
        assert_eq!(innermost_name(), None);
        let outer = SyncGuard::<false>::enter(&OUTER, Recorder::counted(&OUTER_COUNTERS));
        assert_eq!(innermost_name().as_deref(), marked("outer"));
        let inner = SyncGuard::<true>::enter(&INNER, Recorder::counted(&INNER_COUNTERS));
        assert_eq!(innermost_name().as_deref(), marked("inner"));
        inner.exit(Outcome::Ok);
        assert_eq!(innermost_name().as_deref(), marked("outer"));
        outer.exit(Outcome::Ok);
        assert_eq!(innermost_name(), None);
    }

    #[test]
    fn an_unwinding_guard_restores_the_outer_mark() {
        let outer = SyncGuard::<false>::enter(&OUTER, Recorder::counted(&OUTER_COUNTERS));
        let unwound = std::panic::catch_unwind(|| {
            let _inner = SyncGuard::<false>::enter(&INNER, Recorder::counted(&INNER_COUNTERS));
            std::panic::resume_unwind(Box::new("unwinding through the guard"));
        });
        assert!(unwound.is_err());
        assert_eq!(innermost_name().as_deref(), marked("outer"));
        outer.exit(Outcome::Ok);
        assert_eq!(innermost_name(), None);
    }

    static IN_PLACE_COUNTERS: CallCounters = CallCounters::new();
    static IN_PLACE: CallSite = CallSite::counted(SiteName::Fixed("in_place"), &IN_PLACE_COUNTERS);

    /// A drop in place is a return, or a panic when this frame unwinds; a fn
    /// entered while the thread already unwinds (from a `Drop`) returns.
    #[test]
    fn in_place_guards_tell_a_return_from_an_unwind() {
        struct EntersWhileUnwinding;
        impl Drop for EntersWhileUnwinding {
            fn drop(&mut self) {
                let _returns = SyncGuard::<false>::enter_in_place(
                    &IN_PLACE,
                    Recorder::counted(&IN_PLACE_COUNTERS),
                );
            }
        }
        drop(SyncGuard::<false>::enter_in_place(
            &IN_PLACE,
            Recorder::counted(&IN_PLACE_COUNTERS),
        ));
        let unwound = std::panic::catch_unwind(|| {
            let _unwinds = SyncGuard::<false>::enter_in_place(
                &IN_PLACE,
                Recorder::counted(&IN_PLACE_COUNTERS),
            );
            let _enters_later = EntersWhileUnwinding;
            std::panic::resume_unwind(Box::new("unwinding through the guard"));
        });
        assert!(unwound.is_err());
        let totals = IN_PLACE_COUNTERS.totals(crate::counter::pool());
        assert_eq!((totals.started, totals.ok, totals.panics), (3, 2, 1));
    }

    #[test]
    fn async_guards_leave_the_mark_alone() {
        let guard = AsyncGuard::<false>::enter(Recorder::counted(&INNER_COUNTERS));
        assert_eq!(innermost_name(), None);
        guard.exit(Outcome::Ok);
    }

    static SLOT_COUNTERS: CallCounters = CallCounters::new();
    static SLOT_SITE: CallSite = CallSite::counted(SiteName::Fixed("slot"), &SLOT_COUNTERS);

    #[test]
    fn debug_builds_count_in_the_shared_slot_others_in_the_threads_own() {
        let recorder = Recorder::counted(&SLOT_COUNTERS);
        SyncGuard::<false>::enter(&SLOT_SITE, recorder).exit(Outcome::Ok);
        drop(SyncGuard::<false>::enter_in_place(&SLOT_SITE, recorder));
        let guard = AsyncGuard::<false>::enter(recorder);
        guard.exit(Outcome::Ok);
        let shared = SLOT_COUNTERS.cell(Slot::SHARED).atomic(Field::Ok as usize);
        let expected = if PER_THREAD_SLOTS { 0 } else { 3 };
        assert_eq!(shared.load(crate::sync::Ordering::Relaxed), expected);
        assert_eq!(SLOT_COUNTERS.totals(crate::counter::pool()).ok, 3);
    }

    static DEBUG_COUNTERS: CallCounters = CallCounters::new();
    static DEBUG_TIMED: TimedStatics = TimedStatics::new();

    /// Every way a sync call ends, through the debug guards: each counted once,
    /// in the shared slot, and, timed, with a latency.
    #[test]
    fn debug_guards_count_every_outcome_in_the_shared_slot() {
        struct EntersWhileUnwinding;
        impl Drop for EntersWhileUnwinding {
            fn drop(&mut self) {
                let _counted = DebugGuard::enter_in_place(&DEBUG_COUNTERS);
                let _timed = DebugTimedGuard::enter_in_place(&DEBUG_TIMED);
            }
        }
        let (counters, statics) = (&DEBUG_COUNTERS, &DEBUG_TIMED);
        DebugGuard::enter(counters).exit(Outcome::Ok);
        DebugTimedGuard::enter(statics).exit(Outcome::Ok);
        DebugGuard::enter(counters).exit(Outcome::Err);
        DebugTimedGuard::enter(statics).exit(Outcome::Err);
        drop(DebugGuard::enter_in_place(counters));
        drop(DebugTimedGuard::enter_in_place(statics));
        let unwound = std::panic::catch_unwind(|| {
            let _counted = DebugGuard::enter(counters);
            let _timed = DebugTimedGuard::enter(statics);
            std::panic::resume_unwind(Box::new("unwinding through the guards"));
        });
        assert!(unwound.is_err());
        let unwound = std::panic::catch_unwind(|| {
            let _counted = DebugGuard::enter_in_place(counters);
            let _timed = DebugTimedGuard::enter_in_place(statics);
            let _enters_later = EntersWhileUnwinding;
            std::panic::resume_unwind(Box::new("unwinding through the guards"));
        });
        assert!(unwound.is_err());

        let pool = crate::counter::pool();
        let (timed, histogram) = (&statics.counters, &statics.histogram);
        for totals in [counters.totals(pool), timed.totals(pool)] {
            let counts = (totals.started, totals.ok, totals.err, totals.panics);
            // The call entered while unwinding returns: `ok`.
            assert_eq!(counts, (6, 3, 1, 2));
            assert_eq!(totals.cancelled, 0);
        }
        let shared = |counters: &CallCounters, field: Field| {
            counters
                .cell(Slot::SHARED)
                .atomic(field as usize)
                .load(crate::sync::Ordering::Relaxed)
        };
        assert_eq!(shared(counters, Field::Started), 6);
        assert_eq!(shared(timed, Field::Started), 6);
        assert_eq!(counters.totals(pool).min_ticks, None);
        assert!(timed.totals(pool).min_ticks.is_some());
        assert_eq!(histogram.read(pool.cells_in_use()).count(), 6);
    }
}
