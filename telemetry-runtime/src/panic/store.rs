//! The bounded store of recorded panics, one entry per panic location.
//!
//! It is written from inside panic hooks, where waiting can deadlock and a
//! panic aborts the process: the lock is held only for a few field writes or
//! a copy, never while a backtrace is captured, and a thread that already
//! holds it (a panic while it copies, which only a bug could cause) drops the
//! panic instead of waiting for itself. At most `max_errors` entries are kept;
//! panics at new places beyond that are only counted.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::backtrace::Trace;
use super::category::classify;
use super::{CriticalError, PanicHook};
use crate::source_path::reduce_location;
use crate::text::truncate;

/// Longest location kept, in bytes.
const MAX_LOCATION: usize = 512;

/// Where a panic happened, as the compiler spelled it: the key that dedupes.
pub(super) struct Place<'a> {
    pub(super) file: &'a str,
    pub(super) line: u32,
    pub(super) column: u32,
}

/// One distinct panic location.
struct Recorded {
    file: String,
    line: u32,
    column: u32,
    error: CriticalError,
}

impl Recorded {
    fn is_at(&self, place: &Place<'_>) -> bool {
        self.line == place.line && self.column == place.column && self.file == place.file
    }

    fn count_again(&mut self, thread: &Option<String>, now: u64) {
        let error = &mut self.error;
        error.count = error.count.saturating_add(1);
        error.last_seen_unix_ms = error.last_seen_unix_ms.max(now);
        error.thread.clone_from(thread);
    }
}

static STORE: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());
static DROPPED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const, without a destructor: usable from any hook, even during thread exit.
    static HOLDS_STORE: Cell<bool> = const { Cell::new(false) };
}

/// The locked store, and the mark that this thread holds it.
struct StoreLock(MutexGuard<'static, Vec<Recorded>>);

impl Deref for StoreLock {
    type Target = Vec<Recorded>;

    fn deref(&self) -> &Vec<Recorded> {
        &self.0
    }
}

impl DerefMut for StoreLock {
    fn deref_mut(&mut self) -> &mut Vec<Recorded> {
        &mut self.0
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        HOLDS_STORE.set(false);
    }
}

/// Locks the store, or returns `None` if this thread holds it already: waiting
/// would never end, and `Mutex::lock` may panic instead.
fn lock_store() -> Option<StoreLock> {
    if HOLDS_STORE.replace(true) {
        return None;
    }
    // A poisoned store is still consistent: every update is a few field writes.
    Some(StoreLock(crate::lock::lock(&STORE)))
}

fn drop_one() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

/// Counts a panic at `place`, capturing its backtrace if the place is new.
/// `message` is `None` for a payload that is not text.
pub(super) fn record(
    hook: &PanicHook,
    message: Option<&str>,
    place: Place<'_>,
    thread: Option<String>,
    now: u64,
    capture: impl FnOnce() -> Trace,
) {
    let Some(mut store) = lock_store() else {
        return drop_one();
    };
    if let Some(known) = store.iter_mut().find(|known| known.is_at(&place)) {
        return known.count_again(&thread, now);
    }
    if store.len() >= hook.max_errors {
        return drop_one();
    }
    drop(store);

    // Unlocked: the capture may take long (the first one loads debug info), and
    // takes the standard library's backtrace lock, which must never be waited
    // for while holding ours.
    let trace = capture();
    let error = CriticalError {
        message: Some(truncate(
            message.unwrap_or("Box<dyn Any>"),
            hook.max_message_len,
        )),
        category: classify(message, trace.origin),
        location: truncate(
            &reduce_location(&format!("{}:{}:{}", place.file, place.line, place.column)),
            MAX_LOCATION,
        ),
        thread,
        count: 1,
        first_seen_unix_ms: now,
        last_seen_unix_ms: now,
        backtrace: Some(trace.frames),
    };

    let Some(mut store) = lock_store() else {
        return drop_one();
    };
    // Another thread may have recorded the place, or filled the store, meanwhile.
    if let Some(known) = store.iter_mut().find(|known| known.is_at(&place)) {
        known.error.first_seen_unix_ms = known.error.first_seen_unix_ms.min(now);
        return known.count_again(&error.thread, now);
    }
    if store.len() >= hook.max_errors {
        return drop_one();
    }
    store.push(Recorded {
        file: place.file.to_owned(),
        line: place.line,
        column: place.column,
        error,
    });
}

/// The recorded critical errors, in the order of their first panic, and the
/// number of panics dropped; backtraces only if asked.
pub(crate) fn critical_errors(backtraces: bool) -> (Vec<CriticalError>, u64) {
    let errors = lock_store().map_or_else(Vec::new, |store| {
        store
            .iter()
            .map(|recorded| {
                let error = &recorded.error;
                CriticalError {
                    message: error.message.clone(),
                    category: error.category,
                    location: error.location.clone(),
                    thread: error.thread.clone(),
                    count: error.count,
                    first_seen_unix_ms: error.first_seen_unix_ms,
                    last_seen_unix_ms: error.last_seen_unix_ms,
                    backtrace: if backtraces {
                        error.backtrace.clone()
                    } else {
                        None
                    },
                }
            })
            .collect()
    });
    (errors, DROPPED.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::super::category::{Origin, PanicCategory};
    use super::*;

    fn trace(frames: &[&str]) -> Trace {
        Trace {
            frames: frames.iter().map(|frame| (*frame).to_owned()).collect(),
            origin: Origin::Code,
        }
    }

    fn no_trace() -> Trace {
        trace(&[])
    }

    fn place(file: &str, line: u32) -> Place<'_> {
        Place {
            file,
            line,
            column: 1,
        }
    }

    fn recorded(file: &str) -> Option<CriticalError> {
        let (errors, _) = critical_errors(true);
        let location = reduce_location(file);
        errors
            .into_iter()
            .find(|error| error.location.starts_with(&location))
    }

    #[test]
    fn a_place_is_counted_once_and_its_backtrace_captured_once() {
        let hook = PanicHook::new();
        let file = "/x/unit/src/counted_once.rs";
        let mut captures = 0;
        for (now, thread) in [(10, Some("a")), (30, None), (20, Some("c"))] {
            let thread = thread.map(str::to_owned);
            record(&hook, Some("boom"), place(file, 1), thread, now, || {
                captures += 1;
                trace(&["unit::f"])
            });
        }
        assert_eq!(captures, 1);
        let error = recorded(file).unwrap();
        assert_eq!(error.location, "src/counted_once.rs:1:1");
        assert_eq!(error.count, 3);
        assert_eq!(
            (error.first_seen_unix_ms, error.last_seen_unix_ms),
            (10, 30)
        );
        assert_eq!(error.thread.as_deref(), Some("c"), "the last one's");
        assert_eq!(error.category, PanicCategory::ExplicitPanic);
        assert_eq!(error.backtrace.unwrap(), ["unit::f"]);
        assert_eq!(
            critical_errors(false)
                .0
                .iter()
                .filter(|e| e.backtrace.is_some())
                .count(),
            0
        );
    }

    #[test]
    fn a_panic_while_this_thread_holds_the_store_is_dropped_not_waited_for() {
        let hook = PanicHook::new();
        let file = "/x/unit/src/reentrant.rs";
        let store = lock_store().unwrap();
        let before = DROPPED.load(Ordering::Relaxed);
        record(&hook, Some("boom"), place(file, 1), None, 0, no_trace);
        assert!(DROPPED.load(Ordering::Relaxed) > before);
        drop(store);
        assert!(recorded(file).is_none());
    }

    #[test]
    fn messages_are_cut_to_the_bound() {
        let hook = PanicHook::new().max_message_len(4);
        let file = "/x/unit/src/long_message.rs";
        record(&hook, Some("0123456789"), place(file, 1), None, 0, no_trace);
        assert_eq!(recorded(file).unwrap().message.as_deref(), Some("0123…"));
    }

    #[test]
    fn a_payload_that_is_not_text_is_named_and_of_no_category() {
        let hook = PanicHook::new();
        let file = "/x/unit/src/not_text.rs";
        record(&hook, None, place(file, 1), None, 0, no_trace);
        let error = recorded(file).unwrap();
        assert_eq!(error.message.as_deref(), Some("Box<dyn Any>"));
        assert_eq!(error.category, PanicCategory::Other);
    }
}
