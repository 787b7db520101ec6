//! Critical errors: a panic hook that records every distinct panic for snapshots.
//!
//! [`install_panic_hook`] (or [`PanicHook::install`], to change the bounds) puts a
//! hook in front of the one already set, which still runs afterwards: the default
//! message still prints. Snapshots list what the hook recorded under
//! `critical_errors`:
//!
//! ```
//! telemetry::install_panic_hook();
//!
//! let _ = std::thread::Builder::new()
//!     .name("worker-3".into())
//!     .spawn(|| -> u32 { "forty-two".parse().expect("a number") })
//!     .unwrap()
//!     .join();
//!
//! let snapshot = telemetry::snapshot();
//! let error = &snapshot.critical_errors[0];
//! assert!(error.message.as_ref().unwrap().starts_with("a number: "));
//! assert_eq!(error.category, telemetry::PanicCategory::Expect);
//! // `src/main.rs:7:44` in a binary: the path cargo gave the compiler.
//! assert!(error.location.ends_with("mod.rs:7:44"), "{}", error.location);
//! assert_eq!(error.thread.as_deref(), Some("worker-3"));
//! assert_eq!(error.count, 1);
//! ```
//!
//! # What is recorded
//!
//! One entry per panic location (`file:line:col`): the message, its
//! [`PanicCategory`] (what kind of panic, from the standard library's message
//! forms: the only trace of the message that the anonymized form keeps), the
//! location, the name of the thread that panicked there last, how often and
//! when (first and last), and a backtrace of the application's own frames,
//! innermost first.
//! Snapshots show the entries from details level 1 and their backtraces at
//! level 3. Once [`PanicHook::max_errors`] locations are recorded, panics at
//! new locations only add to `critical_errors_dropped`; panics at known ones
//! keep being counted.
//!
//! Paths are reduced by one fixed rule (the `source_path` module, which the
//! anonymizer applies too): a location in the workspace keeps the path that
//! cargo gave the compiler (`src/db.rs:42:17`, or `crates/db/src/lib.rs:42:17`
//! in a workspace of several crates); any other path is cut to start at its
//! crate's `src` (or `tests`, …) directory, or to the standard library's or a
//! downloaded crate's directory (`core/src/option.rs`,
//! `serde-1.0.219/src/de.rs`). Never an absolute path, a home directory or a
//! user name. A frame reads
//! `my_service::db::flush at src/db.rs:42:17`, or just the fn in a build without
//! debug info. It is the app's own unless it belongs to the standard library or
//! this library, or its source is a dependency's (a registry download, a git
//! checkout, a `vendor` directory); without debug info, only the frames of
//! crates that have instrumented fns or are named by [`PanicHook::app_crate`]
//! are kept. Where no frame is left (a binary stripped of symbols), the backtrace
//! names the innermost instrumented sync fn that was running, which the
//! `#[counted]` / `#[timed]` guards mark for this (see the `guard` module).
//!
//! # Safety of the hook
//!
//! The hook never panics (a panic inside a panic hook aborts the process), and
//! never deadlocks: its lock is held only to update a few fields or to copy the
//! entries for a snapshot, never while capturing a backtrace, and a thread that
//! panics while it holds the lock (which only a bug could do) counts the panic
//! as dropped instead of waiting for itself. Memory is bounded: at most
//! `max_errors` entries of at most `max_message_len` bytes of message and
//! `max_frames` frames of at most 512 bytes, so about 1.1 MiB with the
//! defaults; the backtrace is captured only for the first panic at a location.
//! That capture is the slow part: the first one in a process loads the debug
//! info to resolve symbols (milliseconds, more for a large binary). It takes
//! memory in proportion to the depth of the stack while it is read, frame by
//! frame, and gives it back before the hook returns.
//!
//! # `panic = "abort"`
//!
//! With `panic = "abort"` in the profile the hook still runs, before the process
//! aborts: it records the panic in memory, where nothing outlives the process.
//! Critical errors are then only seen for panics that happen while the process
//! keeps running, which with `abort` is none; keep the default `unwind` to see
//! panics of request handlers, tasks and threads that the service survives.

//!
//! # The parts
//!
//! This module installs the hook and reads each panic; `category` names the
//! kind of panic, `backtrace` reads the app's frames out of a captured
//! backtrace, `store` keeps the bounded set of entries, and `error` is the
//! entry type that snapshots list.

mod backtrace;
mod category;
mod error;
mod store;

use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use crate::guard::innermost;
use crate::instance::unix_ms;
use crate::text::truncate;

pub use category::PanicCategory;
pub use error::CriticalError;
pub(crate) use store::critical_errors;
use store::{record, Place};

/// Longest thread name kept, in bytes.
const MAX_THREAD_NAME: usize = 64;

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the panic hook with the default bounds; see [`PanicHook`].
///
/// Returns whether this call installed it: `false` if a hook of this library
/// was installed before (the bounds given then stay), or if the calling thread
/// is panicking (the standard library forbids changing the hook then).
///
/// ```
/// telemetry::install_panic_hook();
/// assert!(!telemetry::install_panic_hook(), "once is enough");
/// ```
pub fn install_panic_hook() -> bool {
    PanicHook::new().install()
}

/// The panic hook's bounds, to install it with other values than the defaults.
///
/// ```
/// telemetry::PanicHook::new()
///     .max_errors(16)
///     .max_message_len(256)
///     .app_crate("my_service_core")
///     .install();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicHook {
    max_errors: usize,
    max_message_len: usize,
    max_frames: usize,
    app_crates: Vec<String>,
}

impl PanicHook {
    /// Distinct panic locations kept by default.
    pub const DEFAULT_MAX_ERRORS: usize = 64;
    /// Bytes of a panic message kept by default.
    pub const DEFAULT_MAX_MESSAGE_LEN: usize = 1024;
    /// Backtrace frames kept by default.
    pub const DEFAULT_MAX_FRAMES: usize = 32;

    /// The defaults.
    pub fn new() -> PanicHook {
        PanicHook {
            max_errors: Self::DEFAULT_MAX_ERRORS,
            max_message_len: Self::DEFAULT_MAX_MESSAGE_LEN,
            max_frames: Self::DEFAULT_MAX_FRAMES,
            app_crates: Vec::new(),
        }
    }

    /// Keeps at most `count` distinct panic locations; panics at further ones
    /// are counted in `critical_errors_dropped`.
    pub fn max_errors(mut self, count: usize) -> PanicHook {
        self.max_errors = count;
        self
    }

    /// Cuts messages longer than `bytes` (at a character boundary) and ends them
    /// with `…`.
    pub fn max_message_len(mut self, bytes: usize) -> PanicHook {
        self.max_message_len = bytes;
        self
    }

    /// Keeps at most `count` frames of each backtrace, the innermost.
    pub fn max_frames(mut self, count: usize) -> PanicHook {
        self.max_frames = count;
        self
    }

    /// Counts the frames of crate `name` (as in paths: `my_service`, not
    /// `my-service`) as the app's own in builds without debug info. Crates with
    /// an instrumented fn count without being named.
    pub fn app_crate(mut self, name: impl Into<String>) -> PanicHook {
        self.app_crates.push(name.into());
        self
    }

    /// Installs the hook in front of the current one, once per process; see
    /// [`install_panic_hook`] for what it returns.
    pub fn install(self) -> bool {
        if std::thread::panicking() || INSTALLED.swap(true, Ordering::AcqRel) {
            return false;
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            self.on_panic(info);
            previous(info);
        }));
        true
    }

    fn on_panic(&self, info: &PanicHookInfo<'_>) {
        let now = unix_ms(SystemTime::now());
        let place = info.location().map_or(
            Place {
                file: "<unknown>",
                line: 0,
                column: 0,
            },
            |location| Place {
                file: location.file(),
                line: location.line(),
                column: location.column(),
            },
        );
        let message = payload_text(info.payload());
        // `current` works on every thread and in the thread-local destructors
        // of Rust code; only a panic in a foreign (C) thread-local destructor
        // would find it gone, and that aborts the process anyway.
        let thread = std::thread::current()
            .name()
            .map(|name| truncate(name, MAX_THREAD_NAME));
        // Read before anything else can run: the guards restore the mark as
        // they unwind, after the hook.
        let innermost = innermost();
        record(self, message, place, thread, now, || {
            backtrace::capture(self.max_frames, &self.app_crates, innermost)
        });
    }
}

/// The text of a `panic!` payload: a `&str` or, if formatted, a `String`.
fn payload_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl Default for PanicHook {
    fn default() -> PanicHook {
        PanicHook::new()
    }
}
