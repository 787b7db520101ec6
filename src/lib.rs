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
//! To serve it, [`http::respond`] answers `GET /telemetry?details_level=N` (the
//! snapshot as JSON) and `GET /metrics` ([`Snapshot::to_prometheus`], for a
//! Prometheus server) with a status, a content type and a body, whatever the
//! web framework.
//!
//! Each instrumented fn owns a `static` call site, registered at link time, so it
//! is in every snapshot from process start. A call costs a few plain stores into
//! a cache line that only the calling thread writes (and, for `#[timed]`, two
//! reads of the CPU's time-stamp counter and a bucket increment, also in memory
//! only that thread writes); nothing is looked up or locked, and nothing is
//! allocated but a 512-byte bucket group the first time a thread's latency
//! lands in a new power of two.
//!
//! # Memory
//!
//! Per instrumented fn: 4.2 KiB of counters (32 thread slots × one 128-byte
//! cell, and pointers to chunks for more) and, for `#[timed]` fns, 504 B of
//! histogram slot pointers, all in
//! zero-initialized statics that are resident only where touched. Threads past
//! the 32nd alive at once get their cells in 4 KiB chunks of 32, allocated per fn
//! the first time such a thread calls it; up to 1,023 threads alive at once each
//! write cells of their own, and threads beyond that share one
//! atomically-updated slot. A `#[timed]` fn's buckets are allocated per thread
//! slot that calls it, one power of two at a time: 1 KiB of index + 512 B for
//! each power of two its latencies span, at most 23 KiB. Slots of exited threads
//! are reused with their counts, so memory follows the number of threads alive
//! at once, not the number ever started: 32 threads × 1,000 timed fns whose
//! latencies span three powers of two take about 88 MiB (`BENCHMARKS.md`).
//!
//! # Features
//!
//! - `compile-out`: the attributes emit every fn unchanged; snapshots still work
//!   and list no fns.
//! - `reporter`: `Reporter`, a background thread that sends the anonymized
//!   snapshot to the app owner's collector when consent allows, with a dry-run
//!   mode; it brings a small blocking HTTP client (`ureq` with `rustls`). Off by
//!   default. Through `ureq`, the `http` crate makes `u16` comparable with its
//!   status codes, so an untyped comparison with `u16`s (`assert_eq!(&*v, &[])`
//!   on a `Vec<u16>`) needs its type written out in crates whose graph has it.
//! - `otlp`: the module `telemetry::otlp`, the snapshot as OpenTelemetry
//!   metrics (OTLP protobuf and JSON) and a push exporter to an OpenTelemetry
//!   Collector, configured by the standard `OTEL_*` variables; it is the
//!   operator's own monitoring and does not depend on usage-statistics consent.
//!   Off by default. It brings `serde_json` (for the OTLP JSON encoding), whose
//!   `Value` compares with every primitive: with it, an untyped comparison such
//!   as `assert_eq!(&*v, &[])` needs its type written out.
//!
//! With default features the crate graph holds no crate whose trait impls change
//! type inference in your code (such as `serde_json`, whose `Value` compares with
//! every primitive): the JSON of [`Snapshot::to_json`] is written by this library.
#![warn(missing_docs)]

/// Counts calls of a fn: `calls`, `ok`, `err`, `panics`, `cancelled`, `in_flight`.
///
/// Goes on a fn (free, method, associated, trait impl or default method, generic,
/// `async`, `unsafe`), on an `impl` block (every fn in it) or on a trait (every
/// default method). Arguments:
///
/// - `name = "..."`: the name in snapshots (default: `module::fn`, or
///   `module::Type::method` where the type is known, `Type` being a word: the
///   trait for a blanket impl over a type parameter, `u8_slice` for `[u8]`).
///   Sites sharing a name are one entry adding them up; if some are
///   `#[counted]` and some `#[timed]`, the entry is `counted`, without latency,
///   so that its latency count always equals `ok + err + panics`;
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
/// Takes the same arguments, and `sample = N`. Latency is measured from entry
/// (an async fn's first poll) to return, and for unwinding panics too; cancelled
/// futures are counted but their latency is not recorded. A fn with both
/// attributes gets one entry.
///
/// # Sampling
///
/// `sample = N` (an integer from 1 to 4294967295; 1, the default, times every
/// call) counts every call exactly but reads the clock for about one call in
/// `N`, chosen at random per thread, for hot fns where two clock reads cost more
/// than the rest. On an `impl` block or a trait it applies to every fn in it; a
/// fn's own `sample` overrides it. The fn's [`Latency`] then has `sample:
/// Some(N)` and describes the timed calls only:
///
/// - `count` (and the buckets, and the Prometheus / OTLP histogram count) is
///   the number of timed calls, `<= ok + err + panics`; the call counters stay
///   exact;
/// - `mean` estimates the mean of all calls without bias; `sum` is the timed
///   calls' sum (`sum * N` estimates the total);
/// - `min` and `max` bound the timed calls only: a single slow call is missed
///   with probability about `1 - 1/N`;
/// - quantiles are the sample's: with `n` timed calls, the rank of the `q`
///   quantile is off by about `sqrt(q (1 - q) / n)`, so p50 and p90 need a few
///   thousand timed calls (`N` times as many calls) to be within 1 to 2 %, p99
///   tens of thousands, p999 millions.
///
/// Sites of one name that time at different rates become one `counted` entry,
/// as mixed `#[counted]` and `#[timed]` sites do.
///
/// The fn is otherwise unchanged: it infers (closures returned through
/// `impl Fn*` included), drops its parameters and locals, and reports errors as
/// without the attribute; the README's "Known limits" lists the exceptions.
///
/// ```
/// #[telemetry::timed(name = "db.query")]
/// async fn query(sql: &str) -> std::io::Result<usize> {
///     Ok(sql.len())
/// }
/// # let _ = query("select 1");
///
/// // Every call counted, about one in 16 timed.
/// #[telemetry::timed(sample = 16)]
/// fn lookup(key: u64) -> Option<u64> {
///     key.checked_mul(2)
/// }
/// for key in 0..1_600 {
///     lookup(key);
/// }
/// let snapshot = telemetry::snapshot();
/// let stats = &snapshot.functions[concat!(module_path!(), "::lookup")];
/// let latency = stats.latency_ns.as_ref().unwrap();
/// assert_eq!((stats.calls, latency.sample), (1_600, Some(16)));
/// assert!(latency.count < stats.calls);
/// ```
pub use telemetry_macros::timed;

pub use telemetry_runtime::{
    anonymizer, consent, keep_leading_digits, name_table, remove_fact, set_anonymizer, set_consent,
    set_data_dir, set_fact, use_installation_id, Anonymizer, Consent, ConsentDecision,
    ConsentError, ConsentLocked, ConsentResolver, ConsentSource, DiskKind, Fact, FactValue,
    InstallationIdError, InvalidConsent, InvalidDigits, InvalidNameKey, NameKey,
};

pub use telemetry_runtime::{
    app_info, install_panic_hook, instance_id, set_app_info, snapshot, AppInfo, CallOutcome,
    CriticalError, DetailsLevel, FunctionStats, InvalidDetailsLevel, Kind, Latency, PanicCategory,
    PanicHook, Snapshot, SystemInfo, LATENCY_BUCKETS_NS, SCHEMA_VERSION,
};

pub use telemetry_runtime::http;

#[cfg(feature = "otlp")]
pub use telemetry_runtime::otlp;

#[cfg(feature = "reporter")]
pub use telemetry_runtime::reporter::{
    report_payload, DryRun, ReportFormat, Reporter, ReporterBuilder, ReporterError, ReporterStatus,
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
