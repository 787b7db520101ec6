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
//! allocated but a 264-byte bucket group the first time a thread's latency
//! lands in a new power of two.
//!
//! # API
//!
//! The root holds what every program uses: the two attributes, [`snapshot()`]
//! and the parts of a [`Snapshot`], the app's name and version
//! ([`set_app_info`], [`app_info!`]), the [`instance_id()`], the panic hook
//! ([`install_panic_hook`], [`PanicHook`]) and [`CallOutcome`]. The rest is
//! grouped by job:
//!
//! - [`consent`]: whether reports may leave the machine, and who decided;
//! - [`anonymize`]: the form of a snapshot that may leave, its key and precision;
//! - [`facts`]: facts the app states about itself;
//! - [`instance`]: settings of an installation (a persistent id, the data
//!   directory);
//! - [`export`] and [`http`]: Prometheus text and answers to debug requests;
//! - `reporter` (feature `reporter`): the usage-statistics reporter;
//! - `otlp` (feature `otlp`): the snapshot as OpenTelemetry metrics, and a push
//!   exporter.
//!
//! Process-wide settings follow one convention: each is a fn `set` in its
//! module (or `set_…` where a module has several); one that can be refused
//! returns a `Result` whose error hands the refused value back, a setting made
//! once per process refuses a second value with [`AlreadySet`], and one that
//! cannot be refused returns what it replaced.
//!
//! # Memory
//!
#![doc = include_str!("../docs/memory.md")]
//!
//! # Features
//!
//! - `compile-out`: the attributes emit every fn unchanged; snapshots still work
//!   and list no fns.
//! - `reporter`: `reporter::Reporter`, a background thread that sends the anonymized
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
///   `#[counted]` and some `#[timed]`, or they are timed at different
///   `sample` rates, the entry is `counted`, without latency, since a histogram
///   of only some of its calls would describe none of them;
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

// Everything else: the runtime's root is this crate's API, re-exported whole,
// so the two never differ.
pub use telemetry_runtime::*;
