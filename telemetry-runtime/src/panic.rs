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
//! assert!(error.message.starts_with("a number: "));
//! // `src/main.rs:7:44` in a binary: the path cargo gave the compiler.
//! assert!(error.location.ends_with("panic.rs:7:44"), "{}", error.location);
//! assert_eq!(error.thread.as_deref(), Some("worker-3"));
//! assert_eq!(error.count, 1);
//! ```
//!
//! # What is recorded
//!
//! One entry per panic location (`file:line:col`): the message, the location,
//! the name of the thread that panicked there last, how often and when (first
//! and last), and a backtrace of the application's own frames, innermost first.
//! Snapshots show the entries from details level 1 and their backtraces at
//! level 3. Once [`PanicHook::max_errors`] locations are recorded, panics at
//! new locations only add to `critical_errors_dropped`; panics at known ones
//! keep being counted.
//!
//! Paths are reduced by [`crate_relative`]: a location in the workspace keeps
//! the path that cargo gave the compiler (`src/db.rs:42:17`, or
//! `crates/db/src/lib.rs:42:17` in a workspace of several crates); any other
//! path is cut to start at its crate's `src` (or `tests`, …) directory. Never an
//! absolute path, a home directory or a user name. A frame reads
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

use std::backtrace::Backtrace;
use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::ops::{Deref, DerefMut};
use std::panic::PanicHookInfo;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::guard::innermost;
use crate::instance::unix_ms;
use crate::registry::{call_sites, CallSite};
use crate::snapshot::CriticalError;

/// Longest thread name kept, in bytes.
const MAX_THREAD_NAME: usize = 64;
/// Longest frame kept, in bytes: symbols of generic code can run to kilobytes.
const MAX_FRAME: usize = 512;
/// Longest location kept, in bytes.
const MAX_LOCATION: usize = 512;
/// Longest backtrace line read; the rest of a longer one is skipped.
const MAX_LINE: usize = 4096;

/// Crates whose frames are never the app's own: the standard library, the test
/// harness, and this library (the macros' wrappers and this hook).
const NOT_APP: &[&str] = &[
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "panic_unwind",
    "panic_abort",
    "unwind",
    "backtrace",
    "telemetry",
    "telemetry_runtime",
    "telemetry_macros",
];

/// Directories at the root of a crate: a path is cut to start at the last one.
const CRATE_ROOT_DIRS: &[&str] = &["src", "tests", "benches", "examples"];

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
        let message = payload_text(info.payload()).unwrap_or("Box<dyn Any>");
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
            self.app_frames(innermost)
        });
    }

    /// The app's frames of the current stack, innermost first.
    fn app_frames(&self, innermost: Option<&'static CallSite>) -> Vec<String> {
        let mut app_crates = self.app_crates.clone();
        for site in call_sites() {
            if let Some(name) = site.name() {
                let krate = crate_of(&name);
                if !app_crates.iter().any(|known| known == krate) {
                    app_crates.push(krate.to_owned());
                }
            }
        }
        let mut filter = FrameFilter::new(self.max_frames, &app_crates);
        // An `Err` only means the filter had enough frames and stopped reading.
        let _ = write!(filter, "{}", Backtrace::force_capture());
        or_innermost(filter.finish(), innermost, self.max_frames)
    }
}

/// The text of a `panic!` payload: a `&str` or, if formatted, a `String`.
fn payload_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// `frames`, or where none was found (no symbols) the innermost instrumented fn.
fn or_innermost(
    mut frames: Vec<String>,
    innermost: Option<&'static CallSite>,
    max_frames: usize,
) -> Vec<String> {
    if frames.is_empty() && max_frames > 0 {
        if let Some(name) = innermost.and_then(CallSite::name) {
            frames.push(truncate(&name, MAX_FRAME));
        }
    }
    frames
}

impl Default for PanicHook {
    fn default() -> PanicHook {
        PanicHook::new()
    }
}

/// Reduces the paths in a location or a backtrace frame to crate-relative ones.
///
/// Takes `path`, `path:line[:col]` or `fn at path:line[:col]`; returns it with
/// the path cut to start at the crate's `src`, `tests`, `benches` or `examples`
/// directory, or to the file name where there is none. The crate's directory
/// stays only where it names a published crate (`serde-1.0.219/src/de.rs`) or a
/// crate of the standard library (`core/src/option.rs`). A relative path without
/// `.` or `..` (what cargo passes for the files of the workspace it builds) is
/// kept, with `/` for separator. Applying it twice changes nothing.
///
/// ```
/// use telemetry_runtime::panic::crate_relative;
///
/// assert_eq!(crate_relative("/home/ann/code/shop/src/db.rs:42:17"), "src/db.rs:42:17");
/// assert_eq!(
///     crate_relative("serde::de::f at /home/ann/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/serde-1.0.219/src/de.rs:9"),
///     "serde::de::f at serde-1.0.219/src/de.rs:9",
/// );
/// assert_eq!(crate_relative("/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/option.rs:2009:5"), "core/src/option.rs:2009:5");
/// assert_eq!(crate_relative("crates/api/src/lib.rs:7:1"), "crates/api/src/lib.rs:7:1");
/// assert_eq!(crate_relative("C:\\Users\\ann\\shop\\build.rs:3:9"), "build.rs:3:9");
/// ```
pub fn crate_relative(text: &str) -> String {
    match text.rsplit_once(" at ") {
        Some((function, place)) => format!("{function} at {}", reduce_place(place)),
        None => reduce_place(text),
    }
}

fn reduce_place(place: &str) -> String {
    let (path, position) = split_position(place);
    let mut reduced = reduce_path(path);
    reduced.push_str(position);
    reduced
}

/// `("src/a.rs", ":3:9")` from `"src/a.rs:3:9"`.
fn split_position(place: &str) -> (&str, &str) {
    let mut cut = place.len();
    for _ in 0..2 {
        match place[..cut].rfind(':') {
            Some(colon)
                if colon + 1 < cut && place[colon + 1..cut].bytes().all(|b| b.is_ascii_digit()) =>
            {
                cut = colon;
            }
            _ => break,
        }
    }
    place.split_at(cut)
}

fn reduce_path(path: &str) -> String {
    if is_clean_relative(path) {
        return path.replace('\\', "/");
    }
    let parts: Vec<&str> = path
        .split(['/', '\\'])
        .filter(|part| !matches!(*part, "" | "." | ".."))
        .collect();
    match parts
        .iter()
        .rposition(|part| CRATE_ROOT_DIRS.contains(part))
    {
        Some(root) => {
            let start = match root.checked_sub(1) {
                Some(dir) if is_public_crate_dir(&parts, dir) => dir,
                _ => root,
            };
            parts[start..].join("/")
        }
        None => parts
            .last()
            .map_or_else(String::new, |file| (*file).to_owned()),
    }
}

/// Whether `path` is relative and stays inside the directory it is relative to:
/// how rustc sees the files of the workspace that cargo builds. The standard
/// library prints paths under the working directory as `./…`, so those are not.
fn is_clean_relative(path: &str) -> bool {
    let bytes = path.as_bytes();
    let rooted = matches!(bytes.first(), Some(b'/' | b'\\' | b'~'))
        || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic());
    !rooted
        && !path
            .split(['/', '\\'])
            .any(|part| matches!(part, "." | ".."))
}

/// `serde-1.0.219` (a registry download) or `core` in `…/library/core` (the
/// standard library): names that say which crate, and nothing about the machine.
fn is_public_crate_dir(parts: &[&str], dir: usize) -> bool {
    let in_std = dir >= 1 && parts[dir - 1] == "library";
    in_std || is_published_dir(parts[dir])
}

/// `name-1.2.3…`: how cargo names the directory of a crate it downloaded.
fn is_published_dir(name: &str) -> bool {
    name.match_indices('-').any(|(dash, _)| {
        let mut numbers = name[dash + 1..].splitn(3, '.');
        let mut number = || {
            numbers
                .next()
                .is_some_and(|part| part.bytes().next().is_some_and(|b| b.is_ascii_digit()))
        };
        number() && number() && number()
    })
}

/// Whether a source file is not the app's: the standard library's (as shipped,
/// or from the `rust-src` component), or a dependency's (downloaded from a
/// registry, checked out from git by cargo, or vendored).
fn is_dependency_path(path: &str) -> bool {
    path.starts_with("/rustc/")
        || path.split(['/', '\\']).any(|part| {
            matches!(part, "rustlib" | "registry" | "checkouts" | "vendor")
                || is_published_dir(part)
        })
}

/// The crate of a demangled symbol or metric name: `my_app` for
/// `my_app::db::flush`, `<my_app::Store as core::fmt::Debug>::fmt` or
/// `<&mut my_app::Store>::get`.
fn crate_of(symbol: &str) -> &str {
    let mut rest = symbol;
    loop {
        let trimmed = rest
            .trim_start_matches(['<', '&', '*', '(', '[', ' '])
            .trim_start_matches("mut ")
            .trim_start_matches("const ")
            .trim_start_matches("dyn ")
            .trim_start_matches("impl ");
        if trimmed.len() == rest.len() {
            break;
        }
        rest = trimmed;
    }
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

fn is_app_frame(symbol: &str, file: Option<&str>, app_crates: &[String]) -> bool {
    let krate = crate_of(symbol);
    if krate.is_empty() || symbol == "<unknown>" || NOT_APP.contains(&krate) {
        return false;
    }
    match file {
        // Debug info holds absolute paths (the compiler's directory joined to
        // the relative one), so the app's files are told from the others by
        // where those are kept. The file decides over the name: the standard
        // library's `<my_app::f::{closure#0} as FnOnce<()>>::call_once` names
        // the app's crate. C libraries with debug info (`pthread_create.c`)
        // are not the app's either.
        Some(file) => file.ends_with(".rs") && !is_dependency_path(file),
        None => app_crates.iter().any(|app| app == krate),
    }
}

/// Reads the standard library's text form of a backtrace, as it is written,
/// and keeps the app's frames:
///
/// ```text
///    4: my_app::db::flush
///              at src/db.rs:42:17
///       my_app::db::inlined_into_flush
///              at src/db.rs:30:5
/// ```
///
/// Frame after frame, without holding the whole text.
struct FrameFilter<'a> {
    max_frames: usize,
    app_crates: &'a [String],
    line: String,
    line_cut: bool,
    /// A symbol whose `at` line may follow.
    symbol: Option<String>,
    frames: Vec<String>,
}

impl<'a> FrameFilter<'a> {
    fn new(max_frames: usize, app_crates: &'a [String]) -> FrameFilter<'a> {
        FrameFilter {
            max_frames,
            app_crates,
            line: String::new(),
            line_cut: false,
            symbol: None,
            frames: Vec::new(),
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.line_cut = false;
        let text = line.trim_start();
        if let Some(place) = text.strip_prefix("at ") {
            if let Some(symbol) = self.symbol.take() {
                self.frame(&symbol, Some(place));
            }
        } else if !text.is_empty() {
            if let Some(symbol) = self.symbol.take() {
                self.frame(&symbol, None);
            }
            // `  12: name` opens a frame; further symbols of an inlined frame
            // come without the number.
            let symbol = match text.split_once(": ") {
                Some((index, name)) if index.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => text,
            };
            self.symbol = Some(truncate(symbol, MAX_FRAME));
        }
        self.line = line;
        self.line.clear();
    }

    fn frame(&mut self, symbol: &str, place: Option<&str>) {
        if self.frames.len() >= self.max_frames {
            return;
        }
        let file = place.map(|place| split_position(place).0);
        if !is_app_frame(symbol, file, self.app_crates) {
            return;
        }
        let frame = match place {
            Some(place) => format!("{symbol} at {}", reduce_place(place)),
            None => symbol.to_owned(),
        };
        self.frames.push(truncate(&frame, MAX_FRAME));
    }

    fn finish(mut self) -> Vec<String> {
        if !self.line.is_empty() {
            self.end_line();
        }
        if let Some(symbol) = self.symbol.take() {
            self.frame(&symbol, None);
        }
        self.frames
    }
}

impl fmt::Write for FrameFilter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for piece in text.split_inclusive('\n') {
            let (content, ends_line) = match piece.strip_suffix('\n') {
                Some(content) => (content, true),
                None => (piece, false),
            };
            if !self.line_cut {
                let room = MAX_LINE - self.line.len();
                if content.len() <= room {
                    self.line.push_str(content);
                } else {
                    let mut end = room;
                    while !content.is_char_boundary(end) {
                        end -= 1;
                    }
                    self.line.push_str(&content[..end]);
                    self.line_cut = true;
                }
            }
            if ends_line {
                self.end_line();
            }
        }
        if self.frames.len() >= self.max_frames {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// `text` if it fits in `max` bytes, else its longest prefix that does, cut at
/// a character boundary, and `…`.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(end + '…'.len_utf8());
    cut.push_str(&text[..end]);
    cut.push('…');
    cut
}

/// Where a panic happened, as the compiler spelled it: the key that dedupes.
struct Place<'a> {
    file: &'a str,
    line: u32,
    column: u32,
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

static INSTALLED: AtomicBool = AtomicBool::new(false);
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
    Some(StoreLock(
        STORE.lock().unwrap_or_else(PoisonError::into_inner),
    ))
}

fn drop_one() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

/// Counts a panic at `place`, capturing its backtrace if the place is new.
fn record(
    hook: &PanicHook,
    message: &str,
    place: Place<'_>,
    thread: Option<String>,
    now: u64,
    backtrace: impl FnOnce() -> Vec<String>,
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
    let error = CriticalError {
        message: truncate(message, hook.max_message_len),
        location: truncate(
            &crate_relative(&format!("{}:{}:{}", place.file, place.line, place.column)),
            MAX_LOCATION,
        ),
        thread,
        count: 1,
        first_seen_unix_ms: now,
        last_seen_unix_ms: now,
        backtrace: Some(backtrace()),
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
    use super::*;

    #[test]
    fn absolute_paths_lose_everything_above_the_crate() {
        for (raw, reduced) in [
            ("/home/ann/shop/src/db.rs:42:17", "src/db.rs:42:17"),
            ("/home/ann/src/shop/src/bin/cli.rs", "src/bin/cli.rs"),
            ("/home/ann/src/shop/tests/it.rs:1:1", "tests/it.rs:1:1"),
            ("/home/ann/shop/examples/demo.rs:3", "examples/demo.rs:3"),
            ("/srv/build/shop/build.rs:3:9", "build.rs:3:9"),
            ("/srv/build/target/debug/build/shop-1f2e/out/gen.rs:8:1", "gen.rs:8:1"),
            ("./src/db.rs:1:2", "src/db.rs:1:2"),
            ("../shared/src/lib.rs:5:5", "src/lib.rs:5:5"),
            ("~/shop/src/main.rs:5:5", "src/main.rs:5:5"),
            ("/a/shop/src/../../etc/passwd.rs:1:1", "src/etc/passwd.rs:1:1"),
            ("C:\\Users\\ann\\shop\\src\\main.rs:5:5", "src/main.rs:5:5"),
            ("\\\\server\\share\\ann\\src\\main.rs", "src/main.rs"),
            (
                "/home/ann/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.40.0/src/runtime/task.rs:9:1",
                "tokio-1.40.0/src/runtime/task.rs:9:1",
            ),
            (
                "/home/ann/.cargo/git/checkouts/shop-3f9a/5d2c1e0/src/lib.rs:2:2",
                "src/lib.rs:2:2",
            ),
            (
                "/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs:697:5",
                "std/src/panicking.rs:697:5",
            ),
        ] {
            assert_eq!(crate_relative(raw), reduced, "{raw}");
        }
    }

    #[test]
    fn workspace_paths_and_non_paths_are_kept() {
        for kept in [
            "src/db.rs:42:17",
            "crates/api/src/lib.rs:7:1",
            "tests/panic_hook.rs:10:5",
            "build.rs",
            "<unknown>:0:0",
            "",
        ] {
            assert_eq!(crate_relative(kept), kept);
        }
        assert_eq!(
            crate_relative("crates\\api\\src\\lib.rs:7:1"),
            "crates/api/src/lib.rs:7:1"
        );
    }

    #[test]
    fn frames_keep_their_symbol_and_reduce_their_path() {
        assert_eq!(
            crate_relative("shop::db::flush at /home/ann/shop/src/db.rs:42:17"),
            "shop::db::flush at src/db.rs:42:17",
        );
        assert_eq!(crate_relative("shop::db::flush"), "shop::db::flush");
    }

    #[test]
    fn reducing_twice_changes_nothing() {
        for raw in [
            "/home/ann/shop/src/db.rs:42:17",
            "/home/ann/~x",
            "x at /home/ann/.cargo/registry/src/i/serde-1.0.219/src/de.rs:1",
            "/rustc/abc/library/core/src/option.rs:1:1",
            "C:\\Users\\ann\\notes.rs",
            "./a/b.rs",
        ] {
            let once = crate_relative(raw);
            assert_eq!(crate_relative(&once), once, "{raw}");
            assert!(!once.contains("ann"), "{once}");
        }
    }

    #[test]
    fn crates_of_symbols() {
        assert_eq!(crate_of("shop::db::flush"), "shop");
        assert_eq!(crate_of("shop::db::flush::{{closure}}"), "shop");
        assert_eq!(crate_of("<shop::Store as core::fmt::Debug>::fmt"), "shop");
        assert_eq!(crate_of("<&mut shop::Store>::get"), "shop");
        assert_eq!(crate_of("<dyn shop::Api>::call"), "shop");
        assert_eq!(crate_of("core::ptr::drop_in_place<shop::Store>"), "core");
        assert_eq!(crate_of("main"), "main");
        assert_eq!(crate_of("<unknown>"), "unknown");
    }

    const TRACE: &str = "   0: std::backtrace::Backtrace::force_capture
             at /rustc/abc/library/std/src/backtrace.rs:312:9
   1: telemetry_runtime::panic::PanicHook::record
             at telemetry-runtime/src/panic.rs:200:9
   2: std::panicking::rust_panic_with_hook
             at /rustc/abc/library/std/src/panicking.rs:841:13
   3: shop::db::flush
             at src/db.rs:42:17
      shop::db::write_page
             at src/db.rs:30:5
   4: serde_json::de::from_str
             at /home/ann/.cargo/registry/src/i/serde_json-1.0.1/src/de.rs:9:1
   5: shop_core::api::upsert
      <shop::main::{closure#0} as core::ops::function::FnOnce<()>>::call_once
             at /rustc/abc/library/core/src/ops/function.rs:250:5
   6: tokio::runtime::task::poll
             at /home/ann/.cargo/git/checkouts/tokio-3f9a/5d2c1e0/tokio/src/task.rs:1:1
   7: shop::main
             at ./src/main.rs:3:5
   8: vendored::f
             at /home/ann/shop/vendor/vendored/src/lib.rs:2:2
   9: start_thread
             at ./nptl/pthread_create.c:442:8
  10: __libc_start_main
  11: <unknown>
";

    #[test]
    fn the_filter_keeps_frames_outside_dependencies_and_of_named_crates() {
        let mut filter = FrameFilter::new(32, &[]);
        filter.write_str(TRACE).unwrap();
        assert_eq!(
            filter.finish(),
            [
                "shop::db::flush at src/db.rs:42:17",
                "shop::db::write_page at src/db.rs:30:5",
                "shop::main at src/main.rs:3:5",
            ],
        );

        let app = ["shop_core".to_owned(), "shop".to_owned()];
        let mut filter = FrameFilter::new(32, &app);
        filter.write_str(TRACE).unwrap();
        assert_eq!(
            filter.finish(),
            [
                "shop::db::flush at src/db.rs:42:17",
                "shop::db::write_page at src/db.rs:30:5",
                "shop_core::api::upsert",
                "shop::main at src/main.rs:3:5",
            ],
        );
    }

    #[test]
    fn the_filter_reads_text_in_any_pieces_and_stops_at_its_bound() {
        let mut filter = FrameFilter::new(32, &[]);
        let mut rest = TRACE;
        while !rest.is_empty() {
            let mut cut = 7.min(rest.len());
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            filter.write_str(&rest[..cut]).unwrap();
            rest = &rest[cut..];
        }
        assert_eq!(filter.finish().len(), 3);

        let mut filter = FrameFilter::new(1, &[]);
        assert!(filter.write_str(TRACE).is_err(), "stops once full");
        assert_eq!(filter.finish(), ["shop::db::flush at src/db.rs:42:17"]);
    }

    #[test]
    fn the_filter_cuts_long_lines_and_frames() {
        let long = format!(
            "   3: shop::{}\n             at src/a.rs:1:1\n",
            "x".repeat(10_000)
        );
        let mut filter = FrameFilter::new(32, &[]);
        filter.write_str(&long).unwrap();
        let frames = filter.finish();
        assert_eq!(frames.len(), 1);
        assert!(frames[0].starts_with("shop::xxx"), "{}", frames[0]);
        assert!(
            frames[0].len() <= MAX_FRAME + '…'.len_utf8(),
            "{}",
            frames[0].len()
        );
    }

    #[test]
    fn without_frames_the_innermost_instrumented_fn_stands_in() {
        use crate::counter::CallCounters;
        use crate::registry::SiteName;
        static COUNTERS: CallCounters = CallCounters::new();
        static SITE: CallSite = CallSite::counted(SiteName::Fixed("shop::db::flush"), &COUNTERS);

        assert_eq!(
            or_innermost(Vec::new(), Some(&SITE), 32),
            ["shop::db::flush"]
        );
        let found = vec!["shop::db::write_page at src/db.rs:30:5".to_owned()];
        assert_eq!(or_innermost(found.clone(), Some(&SITE), 32), found);
        assert!(or_innermost(Vec::new(), None, 32).is_empty());
        assert!(or_innermost(Vec::new(), Some(&SITE), 0).is_empty());
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("short", 5), "short");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("ééé", 3), "é…");
        assert_eq!(truncate("abc", 0), "…");
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
        let location = crate_relative(file);
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
            record(&hook, "boom", place(file, 1), thread, now, || {
                captures += 1;
                vec!["unit::f".to_owned()]
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
        record(&hook, "boom", place(file, 1), None, 0, Vec::new);
        assert!(DROPPED.load(Ordering::Relaxed) > before);
        drop(store);
        assert!(recorded(file).is_none());
    }

    #[test]
    fn messages_are_cut_to_the_bound() {
        let hook = PanicHook::new().max_message_len(4);
        let file = "/x/unit/src/long_message.rs";
        record(&hook, "0123456789", place(file, 1), None, 0, Vec::new);
        assert_eq!(recorded(file).unwrap().message, "0123…");
    }
}
