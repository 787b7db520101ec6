//! The usage-statistics reporter: a background thread that sends the anonymized
//! snapshot to the app owner's collector, only with consent.
//!
//! Compiled with the `reporter` feature of `telemetry` (off by default: without
//! it, no HTTP client is built into the app).
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use telemetry::consent::{self, ConsentResolver};
//! use telemetry::reporter::Reporter;
//!
//! // Consent first: the reporter reads `consent::current()` before every report.
//! let decision = ConsentResolver::new("my-service").resolve_lenient();
//! if let Err(locked) = consent::set(decision) {
//!     eprintln!("{locked}");
//! }
//! let reporter = Reporter::builder("https://telemetry.example.com/v1/report")
//!     .interval(Duration::from_secs(6 * 3600))
//!     .start()
//!     .expect("the collector URL is valid");
//! // … the service runs …
//! reporter.shutdown();
//! ```
//!
//! What it does:
//!
//! - **What is sent**: the body of a `POST` with `content-type: application/json`
//!   is exactly [`report_payload`]: the snapshot at the configured details level
//!   (default 2: counters and latency summaries), anonymized by
//!   [`Snapshot::anonymize`], as compact JSON. The request carries no other data
//!   (its `user-agent` is `telemetry/<version of this library>`). Failed reports
//!   are not kept for later: the next report is a fresh snapshot. With the
//!   `otlp` feature, [`ReporterBuilder::format`] sends the same anonymized
//!   snapshot as OTLP metrics instead, for a collector that speaks
//!   OpenTelemetry.
//! - **When**: consent is read at every wake-up, so a change at run time takes
//!   effect at the next report. `Enabled`: the first report goes after a short
//!   random delay (up to 1 minute by default), then one per interval (1 hour).
//!   `Undecided`: nothing is sent before the undecided delay (1 hour) has passed
//!   since the reporter started, and the log says so once. `Disabled` (and so
//!   `DO_NOT_TRACK`, which locks it): nothing is sent and no socket is opened.
//!   The reporter has no setting of its own that could override consent.
//! - **Failures** (no connection, timeout, a non-2xx answer): retried after a
//!   capped exponential backoff with jitter, logged at debug level only. A
//!   collector cannot make the reporter hold more than a fixed amount of memory:
//!   at most 64 KiB of its answer is read, and 64 KiB of headers.
//! - **The app is never slowed**: the reporter runs on its own thread
//!   (`telemetry-reporter`), and taking a snapshot never blocks instrumented
//!   calls. [`Reporter::shutdown`] returns within its timeout (1 second) even if
//!   a request hangs.
//! - **Deletion**: the instance id is logged once when the reporter starts, so
//!   a user can ask the collector's owner to delete what was sent.
//! - **Dry run**: [`ReporterBuilder::dry_run`] writes the exact bytes it would
//!   send to a file or the log instead, on the same schedule and under the same
//!   consent.
//!
//! Logging goes through the [`log`](https://docs.rs/log) facade, like the rest
//! of this crate: the app's logger (`env_logger`, `tracing`'s log bridge, …)
//! shows it under `telemetry_runtime::…` targets, and an app without a logger
//! gets no output, rather than text on stderr it did not ask for.

mod schedule;
mod transport;
mod update;
mod worker;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::consent::ConsentDecision;
use crate::snapshot::{DetailsLevel, Snapshot};

pub use update::UpdateInfo;

use schedule::Backoff;
use transport::{Collector, Transport};
use worker::{Settings, Shared, Worker};

/// The bytes a report sends: the snapshot at `level`, anonymized, as compact
/// JSON. The reporter sends exactly this, and a debug endpoint can serve it to
/// show users what leaves the machine (it does not depend on consent).
///
/// ```
/// let payload = telemetry::reporter::report_payload(telemetry::DetailsLevel::Summaries);
/// let report: telemetry::Snapshot = serde_json::from_slice(&payload).unwrap();
/// assert!(report.anonymized);
/// ```
pub fn report_payload(level: DetailsLevel) -> Vec<u8> {
    ReportFormat::Json.payload(level)
}

/// How a report is encoded. Every format carries the same anonymized snapshot
/// ([`Snapshot::anonymize`]) under the same consent rules; only the encoding
/// differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportFormat {
    /// The snapshot's own JSON (`application/json`): [`report_payload`].
    #[default]
    Json,
    /// An OTLP `ExportMetricsServiceRequest` (feature `otlp`), for a collector
    /// that speaks OpenTelemetry: the reporter's URL is then the full OTLP
    /// metrics URL (such as `https://collector.example.com/v1/metrics`). See
    /// [`otlp::encode`](crate::otlp::encode) for what it holds: from an
    /// anonymized snapshot, the resource has only the (anonymized) app name
    /// and version, the instance id and this library's name; no environment
    /// variable is read into it.
    #[cfg(feature = "otlp")]
    Otlp(crate::otlp::Protocol),
}

impl ReportFormat {
    /// The bytes a report in this format sends: the snapshot at `level`,
    /// anonymized, encoded.
    ///
    /// ```
    /// use telemetry::{reporter::ReportFormat, DetailsLevel};
    ///
    /// let json = ReportFormat::Json.payload(DetailsLevel::Counters);
    /// let report: telemetry::Snapshot = serde_json::from_slice(&json).unwrap();
    /// assert!(report.anonymized);
    /// ```
    pub fn payload(self, level: DetailsLevel) -> Vec<u8> {
        let report = Snapshot::take(level).anonymize();
        match self {
            ReportFormat::Json => report.to_json().into_bytes(),
            #[cfg(feature = "otlp")]
            ReportFormat::Otlp(protocol) => {
                crate::otlp::encode(&report, &crate::otlp::Options::default(), protocol)
            }
        }
    }

    /// The `content-type` of a report in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Json => "application/json",
            #[cfg(feature = "otlp")]
            ReportFormat::Otlp(protocol) => protocol.content_type(),
        }
    }
}

/// Where a dry run writes each report instead of sending it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DryRun {
    /// Replaces this file with each report's bytes, exactly (no newline
    /// added), so the file always holds the latest report.
    File(PathBuf),
    /// Logs each report at info level: `telemetry dry run: would POST these N
    /// bytes to URL: ` followed by the bytes.
    Log,
}

type UpdateCallback = Arc<dyn Fn(&UpdateInfo) + Send + Sync>;

/// Settings of a [`Reporter`]; [`start`](ReporterBuilder::start) checks them and
/// starts its thread.
///
/// ```
/// use std::time::Duration;
/// use telemetry::reporter::{DryRun, Reporter};
/// use telemetry::DetailsLevel;
///
/// let reporter = Reporter::builder("https://telemetry.example.com/v1/report")
///     .details_level(DetailsLevel::Counters)
///     .interval(Duration::from_secs(24 * 3600))
///     .undecided_delay(Duration::from_secs(2 * 3600))
///     .dry_run(DryRun::Log)
///     .on_update(|update| {
///         if update.update_available {
///             eprintln!("version {} is available", update.latest_version);
///         }
///     })
///     .start()
///     .unwrap();
/// reporter.shutdown();
/// ```
#[derive(Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct ReporterBuilder {
    url: String,
    settings: Settings,
    shutdown_timeout: Duration,
    final_report: bool,
    dry_run: Option<DryRun>,
    on_update: Option<UpdateCallback>,
}

impl fmt::Debug for ReporterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReporterBuilder")
            .field("url", &self.url)
            .field("settings", &self.settings)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("final_report", &self.final_report)
            .field("dry_run", &self.dry_run)
            .field("on_update", &self.on_update.is_some())
            .finish()
    }
}

impl ReporterBuilder {
    /// Time between reports. Default: 1 hour.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.settings.interval = interval;
        self
    }

    /// The first report (with consent) goes after a random delay of up to this,
    /// so a fleet restarted at once does not report at once. Default: 1 minute.
    pub fn first_report_jitter(mut self, max: Duration) -> Self {
        self.settings.first_report_jitter = max;
        self
    }

    /// While consent is undecided, nothing is sent before this much time has
    /// passed since the reporter started. Default: 1 hour.
    pub fn undecided_delay(mut self, delay: Duration) -> Self {
        self.settings.undecided_delay = delay;
        self
    }

    /// How much each report contains. Default: [`DetailsLevel::Summaries`] (2).
    pub fn details_level(mut self, level: DetailsLevel) -> Self {
        self.settings.details_level = level;
        self
    }

    /// How each report is encoded. Default: [`ReportFormat::Json`]. A dry run
    /// shows the bytes of this format.
    pub fn format(mut self, format: ReportFormat) -> Self {
        self.settings.format = format;
        self
    }

    /// The longest wait for a connection to the collector. Default: 5 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// The longest a report may take, from name lookup to the end of the answer.
    /// Default: 15 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// After a failed report, the next try waits `initial`, doubled after each
    /// further failure up to `max`; each wait is a random point of its upper
    /// half. A success returns to the interval. Default: 1 minute, 1 hour.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.settings.backoff = Backoff { initial, max };
        self
    }

    /// The longest [`Reporter::shutdown`] takes, final report included.
    /// Default: 1 second.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether [`Reporter::shutdown`] sends a last report, if consent is
    /// `Enabled` at that moment (never when undecided) and it fits in the
    /// shutdown timeout. Default: no.
    pub fn final_report(mut self, send: bool) -> Self {
        self.final_report = send;
        self
    }

    /// Writes each report's exact bytes to a file or the log instead of sending
    /// them; the schedule and consent apply as in a real run, and nothing is
    /// sent. Default: off.
    pub fn dry_run(mut self, to: DryRun) -> Self {
        self.dry_run = Some(to);
        self
    }

    /// Called on the reporter's thread when the collector's answer carries an
    /// update notice that differs from the last one. Keep it short: the next
    /// report waits for it. [`Reporter::update_info`] returns the latest notice
    /// at any time.
    pub fn on_update(mut self, callback: impl Fn(&UpdateInfo) + Send + Sync + 'static) -> Self {
        self.on_update = Some(Arc::new(callback));
        self
    }

    /// Checks the settings and starts the reporter's thread. Nothing is sent,
    /// and no socket opened, until consent allows it.
    ///
    /// The reporter logs the instance id: name the installation id file
    /// ([`use_installation_id`](crate::instance::use_installation_id)) before this, if the
    /// app uses one.
    pub fn start(self) -> Result<Reporter, ReporterError> {
        let collector = Collector::parse(&self.url).map_err(ReporterError::InvalidUrl)?;
        self.settings.check()?;
        let transport = match self.dry_run {
            Some(to) => Transport::DryRun { to, collector },
            None => Transport::http(
                collector,
                self.settings.connect_timeout,
                self.settings.timeout,
            ),
        };
        let shared = Arc::new(Shared::new());
        let worker = Worker::new(
            Arc::clone(&shared),
            transport,
            self.settings.clone(),
            self.on_update,
        );
        let thread = std::thread::Builder::new()
            .name("telemetry-reporter".into())
            .spawn(move || worker.run())
            .map_err(ReporterError::Spawn)?;
        Ok(Reporter {
            shared,
            thread: Some(thread),
            details_level: self.settings.details_level,
            format: self.settings.format,
            shutdown_timeout: self.shutdown_timeout,
            final_report: self.final_report,
        })
    }
}

/// A running usage-statistics reporter.
///
/// Keep it for as long as reports should go: dropping it stops the reporter
/// (without waiting, and without a final report); [`shutdown`](Self::shutdown)
/// stops it within a bounded time. See [the module](self) for what it sends
/// and when.
#[must_use = "dropping the reporter stops it: keep it while the app runs"]
pub struct Reporter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    details_level: DetailsLevel,
    format: ReportFormat,
    shutdown_timeout: Duration,
    final_report: bool,
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporter")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// Settings for a reporter that sends to `url`, an `http://` or `https://`
    /// URL (plain `http://` is meant for a collector on the same host or in
    /// tests: reports cross networks encrypted).
    pub fn builder(url: impl Into<String>) -> ReporterBuilder {
        ReporterBuilder {
            url: url.into(),
            settings: Settings::default(),
            shutdown_timeout: Duration::from_secs(1),
            final_report: false,
            dry_run: None,
            on_update: None,
        }
    }

    /// The bytes the next report would send now, at this reporter's details
    /// level: what a debug endpoint shows as "what leaves this machine".
    pub fn preview(&self) -> Vec<u8> {
        self.format.payload(self.details_level)
    }

    /// What the reporter has done so far, for logs and a debug endpoint.
    pub fn status(&self) -> ReporterStatus {
        self.shared.status()
    }

    /// The latest update notice from the collector, if any answer carried one.
    pub fn update_info(&self) -> Option<UpdateInfo> {
        self.shared.status().update
    }

    /// Stops the reporter and returns within the shutdown timeout (1 second by
    /// default), whatever the collector does: a report still in flight then is
    /// left to end on its own timeout in the background, and sends nothing
    /// after. With [`final_report`](ReporterBuilder::final_report), a last
    /// report is sent first if consent is `Enabled` and it fits in the time.
    pub fn shutdown(mut self) -> ShutdownOutcome {
        let deadline = Instant::now()
            .checked_add(self.shutdown_timeout)
            .unwrap_or_else(worker::far_future);
        self.shared.stop(deadline, self.final_report);
        let outcome = self.shared.wait_finished(deadline);
        if let Some(thread) = self.thread.take() {
            if outcome.stopped {
                // It has finished its work; joining only reaps it.
                let _ = thread.join();
            }
        }
        outcome
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shared.stop(Instant::now(), false);
        }
    }
}

/// How [`Reporter::shutdown`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ShutdownOutcome {
    /// The reporter's thread finished in time. If not, it was stuck in a report
    /// and ends when that report's own timeout expires, sending nothing more.
    pub stopped: bool,
    /// A final report was sent (or written, in a dry run).
    pub final_report_sent: bool,
}

/// What a [`Reporter`] has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReporterStatus {
    /// Whether its thread is running.
    pub running: bool,
    /// The consent read at the last wake-up.
    pub consent: Option<ConsentDecision>,
    /// Reports the collector accepted (or a dry run wrote).
    pub reports_sent: u64,
    /// Reports that failed.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Wake-ups that sent nothing because consent did not allow it.
    pub skipped: u64,
    /// What went wrong last, if the last report failed.
    pub last_error: Option<String>,
    /// When the last report was accepted, ms since the Unix epoch.
    pub last_report_unix_ms: Option<u64>,
    /// The collector's latest update notice.
    pub update: Option<UpdateInfo>,
}

/// Settings a reporter cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum ReporterError {
    /// The collector URL; the message says what is accepted.
    #[error("{0}")]
    InvalidUrl(String),
    /// A duration out of range.
    #[error("invalid reporter setting {setting}({value:?}): accepted: {accepted}")]
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// The value given.
        value: Duration,
        /// What is accepted.
        accepted: &'static str,
    },
    /// The reporter's thread could not be started.
    #[error("cannot start the telemetry reporter's thread: {0}")]
    Spawn(#[source] io::Error),
}
