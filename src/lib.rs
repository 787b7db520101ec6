//! Function-level telemetry for Rust services.
//!
//! Put `#[counted]` or `#[timed]` on a fn, an `impl` block or a trait, and call
//! [`snapshot()`] from a debug endpoint:
//!
//! ```
//! use telemetry::{counted, timed};
//!
//! #[timed]
//! fn parse(input: &str) -> Result<u32, std::num::ParseIntError> {
//!     input.trim().parse()
//! }
//!
//! #[counted]
//! fn greet(name: &str) -> String {
//!     format!("hello {name}")
//! }
//!
//! parse("42").unwrap();
//! parse("forty-two").unwrap_err();
//! greet("you");
//!
//! let snapshot = telemetry::snapshot();
//! let parse_stats = &snapshot.functions[concat!(module_path!(), "::parse")];
//! assert_eq!((parse_stats.calls, parse_stats.ok, parse_stats.err), (2, 1, 1));
//! assert_eq!(parse_stats.latency_ns.as_ref().unwrap().count, 2);
//! ```
//!
//! Each instrumented fn owns a `static` call site, registered at link time, so it
//! is in every snapshot from process start. A call costs a few plain stores into
//! a cache line that only the calling thread writes (and, for `#[timed]`, two
//! reads of the CPU's time-stamp counter and one histogram increment); nothing
//! is looked up, locked or allocated.
//!
//! # Memory
//!
//! Per instrumented fn: 4 KiB of counters (64 thread slots × one 64-byte cache
//! line), plus 22 KiB of histogram buckets for `#[timed]` fns. All of it is
//! zero-initialized static memory: pages are resident only once a thread or a
//! latency range touches them, and nothing grows with the number of threads
//! (threads beyond 63 alive at once share one atomically-updated slot).
//! 1,000 timed fns take at most 26 MiB, whatever the number of threads.
//!
//! # Features
//!
//! - `compile-out`: the attributes emit every fn unchanged; snapshots still work
//!   and list no fns.
//! - `reporter`: `Reporter`, a background thread that sends the anonymized
//!   snapshot to the app owner's collector when consent allows, with a dry-run
//!   mode; it brings a small blocking HTTP client (`ureq` with `rustls`). Off by
//!   default.
#![warn(missing_docs)]

/// Counts calls of a fn: `calls`, `ok`, `err`, `panics`, `cancelled`, `in_flight`.
///
/// Goes on a fn (free, method, associated, trait impl or default method, generic,
/// `async`, `unsafe`), on an `impl` block (every fn in it) or on a trait (every
/// default method). Arguments:
///
/// - `name = "..."`: the name in snapshots (default: `module::fn`, or
///   `module::Type::method` where the type is known);
/// - `result` / `no_result`: count `Err` returns as `err` (the default for any
///   return type implementing [`CallOutcome`], such as `Result` and its aliases) or
///   count every normal return as `ok`;
/// - `skip`: on a fn inside an instrumented `impl` or trait, leave it alone;
/// - `crate = "path"`: where the `telemetry` crate is, if renamed.
///
/// ```
/// #[telemetry::counted]
/// fn upsert(id: u64) -> Result<(), String> {
///     if id == 0 { Err("id 0 is reserved".into()) } else { Ok(()) }
/// }
/// # upsert(1).unwrap();
/// ```
pub use telemetry_macros::counted;

/// Counts calls like [`counted`] and records their latency in a histogram.
///
/// Takes the same arguments. Latency is measured from entry (an async fn's first
/// poll) to return, and for unwinding panics too; cancelled futures are counted
/// but their latency is not recorded. A fn with both attributes gets one entry.
///
/// ```
/// #[telemetry::timed(name = "db.query")]
/// async fn query(sql: &str) -> std::io::Result<usize> {
///     Ok(sql.len())
/// }
/// # let _ = query("select 1");
/// ```
pub use telemetry_macros::timed;

pub use telemetry_runtime::{
    anonymizer, consent, keep_leading_digits, name_table, remove_fact, set_anonymizer, set_consent,
    set_data_dir, set_fact, use_installation_id, Anonymizer, Consent, ConsentDecision,
    ConsentError, ConsentLocked, ConsentResolver, ConsentSource, DiskKind, Fact, FactValue,
    InstallationIdError, InvalidConsent, InvalidDigits, InvalidNameKey, NameKey,
};

pub use telemetry_runtime::{
    app_info, instance_id, set_app_info, snapshot, AppInfo, CallOutcome, CriticalError,
    DetailsLevel, FunctionStats, InvalidDetailsLevel, Kind, Latency, Snapshot, SystemInfo,
    SCHEMA_VERSION,
};

#[cfg(feature = "reporter")]
pub use telemetry_runtime::reporter::{
    report_payload, DryRun, Reporter, ReporterBuilder, ReporterError, ReporterStatus,
    ShutdownOutcome, UpdateInfo,
};

/// What the macros' expansions use. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use telemetry_runtime::counter::CallCounters;
    pub use telemetry_runtime::guard::{AsyncGuard, SyncGuard};
    pub use telemetry_runtime::histogram::Histogram;
    pub use telemetry_runtime::linkme;
    pub use telemetry_runtime::outcome::{
        outcome_of_result, ErrorAware, Infallible, Outcome, Probe,
    };
    pub use telemetry_runtime::registry::{CallSite, SiteName, CALL_SITES};

    /// Calls `body`, telling the compiler its return type `R` up front, so `?`
    /// and `.into()` in the body infer as they do in the fn itself.
    #[inline(always)]
    pub fn call<R, F: FnOnce() -> R>(body: F) -> R {
        body()
    }

    /// Passes an async block through, telling the compiler its output type `R`.
    #[inline(always)]
    pub fn with_output<R, F: core::future::Future<Output = R>>(body: F) -> F {
        body
    }
}
