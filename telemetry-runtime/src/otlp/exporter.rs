//! The push exporter: a thread that, every interval, takes a snapshot, encodes
//! it and POSTs it to the collector, retrying where the OTLP specification
//! says, and sends one last export when shut down.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::backoff::{random, Backoff};
use crate::http_client::Collector;
use crate::instance::unix_ms;
use crate::snapshot::snapshot;

use super::config::{self, Env};
use super::transport::{Outcome, Sender};
use super::{encode, Compression, ExporterError, HistogramKind, Options, Protocol};

const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/metrics";
const ACCEPTED_HEADERS: &str =
    "header names of letters, digits and -, values of visible characters";
const ACCEPTED_DURATION: &str = "a duration longer than zero (milliseconds are fine)";

/// Waits between tries of one export: from 1 s, doubled up to 30 s, and never
/// past the next export (which carries every count of this one, as the data
/// is cumulative).
const RETRY: Backoff = Backoff {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(30),
};

/// Settings of an [`Exporter`]; [`start`](Self::start) checks them and starts
/// its thread.
///
/// ```
/// use std::time::Duration;
/// use telemetry::otlp::{Compression, Exporter, HistogramKind, Protocol};
///
/// let exporter = Exporter::builder()
///     .endpoint("http://127.0.0.1:4318")
///     .header("x-tenant", "shop")
///     .protocol(Protocol::HttpJson)
///     .compression(Compression::Gzip)
///     .interval(Duration::from_secs(15))
///     .histogram(HistogramKind::Exponential)
///     .start()
///     .unwrap();
/// exporter.shutdown();
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct ExporterBuilder {
    /// The full metrics URL, and where it came from (for errors).
    url: (String, &'static str),
    headers: Vec<(String, String)>,
    timeout: Duration,
    protocol: Protocol,
    compression: Compression,
    interval: Duration,
    options: Options,
    shutdown_timeout: Duration,
    disabled: bool,
}

impl Default for ExporterBuilder {
    fn default() -> Self {
        ExporterBuilder {
            url: (DEFAULT_ENDPOINT.into(), "the default endpoint"),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            protocol: Protocol::HttpProtobuf,
            compression: Compression::None,
            interval: Duration::from_secs(60),
            options: Options::default(),
            shutdown_timeout: Duration::from_secs(5),
            disabled: false,
        }
    }
}

impl ExporterBuilder {
    /// The collector's base URL: `/v1/metrics` is appended, as for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`. Default: `http://localhost:4318`.
    pub fn endpoint(mut self, base_url: &str) -> Self {
        self.url = (config::metrics_url_from_base(base_url), "endpoint()");
        self
    }

    /// The full URL exports are POSTed to, used as it is, as for
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`.
    pub fn metrics_endpoint(mut self, url: &str) -> Self {
        self.url = (url.trim().to_owned(), "metrics_endpoint()");
        self
    }

    /// A header sent with every export (an API key, a tenant), replacing one
    /// of the same name.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// The longest one try of an export may take. Default: 10 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Protobuf (the default) or JSON.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Whether bodies are gzipped. Default: no.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Time between exports. Default: 60 seconds, the OpenTelemetry SDKs'.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How latency is written; see [`Options::histogram`].
    pub fn histogram(mut self, kind: HistogramKind) -> Self {
        self.options = self.options.histogram(kind);
        self
    }

    /// Whether never-called fns are exported; see [`Options::idle_functions`].
    pub fn idle_functions(mut self, include: bool) -> Self {
        self.options = self.options.idle_functions(include);
        self
    }

    /// A resource attribute; see [`Options::resource_attribute`].
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options = self.options.resource_attribute(key, value);
        self
    }

    /// The longest [`Exporter::shutdown`] takes, last export included.
    /// Default: 5 seconds.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Whether the exporter is off (as with `OTEL_SDK_DISABLED=true`): it then
    /// starts no thread and sends nothing. Default: no.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }

    /// These settings, overridden by the standard environment variables that
    /// are set (see [the module](crate::otlp)).
    pub fn with_env(self) -> Result<Self, ExporterError> {
        self.apply_env(&Env::new(|name| {
            std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
        }))
    }

    pub(crate) fn apply_env<F: Fn(&str) -> Option<String>>(
        mut self,
        env: &Env<F>,
    ) -> Result<Self, ExporterError> {
        if let Some(set) = env.get(config::SDK_DISABLED) {
            self.disabled = set.boolean()?;
        }
        if let Some(set) = env.get(config::ENDPOINT[1]) {
            self.url = (set.value.trim().to_owned(), set.variable);
        } else if let Some(set) = env.get(config::ENDPOINT[0]) {
            self.url = (config::metrics_url_from_base(&set.value), set.variable);
        }
        if let Some(set) = env.get_either(config::HEADERS) {
            for (name, value) in set.key_values()? {
                if !is_header(&name, &value) {
                    return Err(ExporterError::InvalidVariable {
                        variable: set.variable,
                        value: set.value.clone(),
                        problem: format!("{name:?}: {value:?} is not a valid HTTP header"),
                        accepted: ACCEPTED_HEADERS,
                    });
                }
                self = self.header(name, value);
            }
        }
        if let Some(set) = env.get_either(config::TIMEOUT) {
            self.timeout = set.millis()?;
        }
        if let Some(set) = env.get_either(config::PROTOCOL) {
            self.protocol = set.parse(config::ACCEPTED_PROTOCOLS)?;
        }
        if let Some(set) = env.get_either(config::COMPRESSION) {
            self.compression = set.parse(config::ACCEPTED_COMPRESSIONS)?;
        }
        if let Some(set) = env.get(config::EXPORT_INTERVAL) {
            self.interval = set.millis()?;
        }
        if let Some(set) = env.get(config::RESOURCE_ATTRIBUTES) {
            for (key, value) in set.key_values()? {
                self.options = self.options.resource_attribute(key, value);
            }
        }
        // It wins over a `service.name` in OTEL_RESOURCE_ATTRIBUTES.
        if let Some(set) = env.get(config::SERVICE_NAME) {
            self.options = self
                .options
                .resource_attribute("service.name", set.value.trim());
        }
        Ok(self)
    }

    /// Checks the settings and starts the exporter's thread; the first export
    /// goes one interval from now. Disabled, it starts nothing and says so in
    /// the log.
    pub fn start(self) -> Result<Exporter, ExporterError> {
        let (url, origin) = &self.url;
        let collector = Collector::parse(url)
            .map_err(|message| ExporterError::InvalidEndpoint { origin, message })?;
        for (setting, value) in [("timeout", self.timeout), ("interval", self.interval)] {
            if value.is_zero() {
                return Err(ExporterError::InvalidSetting {
                    setting,
                    problem: format!("{value:?}"),
                    accepted: ACCEPTED_DURATION,
                });
            }
        }
        for (name, value) in &self.headers {
            if !is_header(name, value) {
                return Err(ExporterError::InvalidSetting {
                    setting: "header",
                    problem: format!("{name:?}: {value:?} is not a valid HTTP header"),
                    accepted: ACCEPTED_HEADERS,
                });
            }
        }
        let status = Arc::new(Mutex::new(ExporterStatus::default()));
        if self.disabled {
            log::info!("telemetry: OTLP export is disabled (OTEL_SDK_DISABLED): nothing is sent");
            return Ok(Exporter {
                status,
                control: None,
                shutdown_timeout: self.shutdown_timeout,
            });
        }
        let sender = Sender::new(
            collector,
            self.headers,
            self.protocol,
            self.compression,
            self.timeout,
        );
        log::info!(
            "telemetry: exporting OTLP metrics to {} every {:?} ({:?})",
            sender.collector().authority(),
            self.interval,
            self.protocol,
        );
        lock(&status).running = true;
        let (stop_tx, stop_rx) = mpsc::sync_channel(1);
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let worker = Worker {
            sender,
            protocol: self.protocol,
            options: self.options,
            interval: self.interval,
            timeout: self.timeout,
            stop: stop_rx,
            status: Arc::clone(&status),
            last_logged: None,
        };
        let thread = std::thread::Builder::new()
            .name("telemetry-otlp".into())
            .spawn(move || {
                let final_export_sent = worker.run();
                let _ = done_tx.send(final_export_sent);
            })
            .map_err(ExporterError::Spawn)?;
        Ok(Exporter {
            status,
            control: Some(Control {
                stop: stop_tx,
                done: done_rx,
                thread,
            }),
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}

/// What an [`Exporter`] has done so far, for logs and a debug endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ExporterStatus {
    /// Whether its thread is running.
    pub running: bool,
    /// Exports the collector accepted (in full or in part).
    pub exports: u64,
    /// Exports given up (a final status, or no success before the next one).
    pub failures: u64,
    /// Tries after a retryable failure.
    pub retries: u64,
    /// What went wrong last, until the next accepted export.
    pub last_error: Option<String>,
    /// When the last export was accepted, ms since the Unix epoch.
    pub last_export_unix_ms: Option<u64>,
}

/// How [`Exporter::shutdown`] went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownOutcome {
    /// The thread finished in time. If not, it was stuck in an export, and
    /// ends when that export's own timeout expires, sending nothing more.
    pub stopped: bool,
    /// The last export was accepted.
    pub final_export_sent: bool,
}

struct Control {
    /// Carries the shutdown deadline; dropping it stops the thread.
    stop: SyncSender<Instant>,
    /// Says the thread has ended, and whether its last export was accepted.
    done: Receiver<bool>,
    thread: JoinHandle<()>,
}

/// A running OTLP push exporter.
///
/// Keep it for as long as exports should go: dropping it stops the thread
/// without a last export; [`shutdown`](Self::shutdown) sends one last export
/// and returns within the shutdown timeout.
#[must_use = "dropping the exporter stops it: keep it while the app runs"]
pub struct Exporter {
    status: Arc<Mutex<ExporterStatus>>,
    control: Option<Control>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// Settings with the defaults, to change in code. Environment variables
    /// apply only through [`from_env`](Self::from_env) or
    /// [`ExporterBuilder::with_env`].
    pub fn builder() -> ExporterBuilder {
        ExporterBuilder::default()
    }

    /// The defaults overridden by the standard environment variables, as the
    /// OpenTelemetry SDKs read them; builder methods called after this
    /// override both.
    ///
    /// ```
    /// # std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    /// let exporter = telemetry::otlp::Exporter::from_env()?.start()?;
    /// exporter.shutdown();
    /// # Ok::<(), telemetry::otlp::ExporterError>(())
    /// ```
    pub fn from_env() -> Result<ExporterBuilder, ExporterError> {
        ExporterBuilder::default().with_env()
    }

    /// What the exporter has done so far.
    pub fn status(&self) -> ExporterStatus {
        lock(&self.status).clone()
    }

    /// Sends one last export and stops, within the shutdown timeout whatever
    /// the collector does: an export still in flight then is left to end on
    /// its own timeout, in the background.
    pub fn shutdown(mut self) -> ShutdownOutcome {
        let Some(control) = self.control.take() else {
            return ShutdownOutcome {
                stopped: true,
                final_export_sent: false,
            };
        };
        let deadline = after(self.shutdown_timeout);
        // The channel holds one deadline, and only this call sends one.
        let _ = control.stop.try_send(deadline);
        let left = deadline.saturating_duration_since(Instant::now());
        match control.done.recv_timeout(left) {
            Ok(final_export_sent) => {
                let _ = control.thread.join();
                ShutdownOutcome {
                    stopped: true,
                    final_export_sent,
                }
            }
            Err(_) => ShutdownOutcome {
                stopped: false,
                final_export_sent: false,
            },
        }
    }
}

fn is_header(name: &str, value: &str) -> bool {
    ureq::http::HeaderName::try_from(name).is_ok()
        && ureq::http::HeaderValue::try_from(value).is_ok()
}

fn lock(status: &Mutex<ExporterStatus>) -> MutexGuard<'_, ExporterStatus> {
    // Never held across an export, and consistent if a holder panicked.
    status
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Worker {
    sender: Sender,
    protocol: Protocol,
    options: Options,
    interval: Duration,
    timeout: Duration,
    stop: Receiver<Instant>,
    status: Arc<Mutex<ExporterStatus>>,
    /// The last failure logged at warn level, so a collector that keeps
    /// refusing is logged once, not at every export.
    last_logged: Option<String>,
}

/// Why the thread stops: a shutdown by this deadline, or the handle dropped.
enum Stop {
    Shutdown(Instant),
    Dropped,
}

fn after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

impl Worker {
    /// Exports until stopped; whether a last export was accepted.
    fn run(mut self) -> bool {
        let mut next = after(self.interval);
        let stop = loop {
            if let Some(stop) = self.sleep_until(next) {
                break stop;
            }
            let due = after(self.interval);
            match self.export(due) {
                // A Retry-After past the next export moves it.
                Ok(not_before) => next = due.max(not_before),
                Err(stop) => break stop,
            }
        };
        let final_export_sent = match stop {
            Stop::Shutdown(deadline) => self.final_export(deadline),
            Stop::Dropped => false,
        };
        lock(&self.status).running = false;
        final_export_sent
    }

    /// Sleeps until `until`; `Some` if a stop came first.
    fn sleep_until(&self, until: Instant) -> Option<Stop> {
        let left = until.saturating_duration_since(Instant::now());
        match self.stop.recv_timeout(left) {
            Ok(deadline) => Some(Stop::Shutdown(deadline)),
            Err(RecvTimeoutError::Disconnected) => Some(Stop::Dropped),
            Err(RecvTimeoutError::Timeout) => None,
        }
    }

    fn body(&self) -> Vec<u8> {
        self.sender
            .wire_body(encode(&snapshot(), &self.options, self.protocol))
    }

    /// One export, retried until accepted, refused, or `give_up_at`.
    /// Returns the earliest time the collector accepts another, or the stop
    /// that came while waiting to retry.
    fn export(&mut self, give_up_at: Instant) -> Result<Instant, Stop> {
        let body = self.body();
        let mut failures = 0;
        loop {
            let outcome = self.sender.send(&body, self.timeout);
            let (wait, error) = match outcome {
                Outcome::Retry { after: wait, error } => (wait, error),
                done => {
                    self.settle(done);
                    return Ok(Instant::now());
                }
            };
            failures += 1;
            let wait = wait.unwrap_or_else(|| RETRY.delay(failures, random()));
            let retry_at = after(wait);
            if retry_at >= give_up_at {
                self.settle(Outcome::Rejected(format!(
                    "{error} (not retried: the next export is due first)"
                )));
                return Ok(retry_at);
            }
            log::debug!("telemetry: OTLP export failed, retrying in {wait:.1?}: {error}");
            {
                let mut status = lock(&self.status);
                status.retries += 1;
                status.last_error = Some(error);
            }
            if let Some(stop) = self.sleep_until(retry_at) {
                return Err(stop);
            }
        }
    }

    /// The last export: one try, within what is left of the shutdown time.
    /// Whether it was accepted.
    fn final_export(&mut self, deadline: Instant) -> bool {
        // Leave a tenth of the time for the thread to end and be noticed.
        let left = deadline.saturating_duration_since(Instant::now());
        let budget = (left - left / 10).min(self.timeout);
        if budget.is_zero() {
            return false;
        }
        let body = self.body();
        let outcome = self.sender.send(&body, budget);
        let accepted = matches!(outcome, Outcome::Accepted { .. });
        self.settle(outcome);
        accepted
    }

    /// Records how an export ended, and logs what the operator must know.
    fn settle(&mut self, outcome: Outcome) {
        let mut status = lock(&self.status);
        match outcome {
            Outcome::Accepted { rejected } => {
                status.exports += 1;
                status.last_error = None;
                status.last_export_unix_ms = Some(unix_ms(SystemTime::now()));
                drop(status);
                match rejected {
                    Some(rejected) => {
                        self.warn_once(format!("OTLP export accepted in part: {rejected}"))
                    }
                    // A later failure is news again.
                    None => self.last_logged = None,
                }
            }
            Outcome::Rejected(error) | Outcome::Retry { error, .. } => {
                status.failures += 1;
                status.last_error = Some(error.clone());
                drop(status);
                self.warn_once(format!("OTLP export failed: {error}"));
            }
        }
    }

    fn warn_once(&mut self, message: String) {
        if self.last_logged.as_ref() != Some(&message) {
            log::warn!("telemetry: {message}");
            self.last_logged = Some(message);
        } else {
            log::debug!("telemetry: {message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn from(vars: &[(&str, &str)]) -> Result<ExporterBuilder, ExporterError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ExporterBuilder::default().apply_env(&Env::new(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        }))
    }

    #[test]
    fn every_variable_is_read() {
        let builder = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=k%2C1,x-b=2"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-only=metrics"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "15000"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=a,deployment.environment.name=prod%201",
            ),
            ("OTEL_SERVICE_NAME", "checkout"),
            ("OTEL_SDK_DISABLED", "false"),
        ])
        .unwrap();
        assert_eq!(builder.url.0, "http://collector:4318/v1/metrics");
        assert_eq!(builder.url.1, "OTEL_EXPORTER_OTLP_ENDPOINT");
        assert_eq!(
            builder.headers,
            [("x-only".to_owned(), "metrics".to_owned())]
        );
        assert_eq!(builder.timeout, Duration::from_millis(2500));
        assert_eq!(builder.protocol, Protocol::HttpJson);
        assert_eq!(builder.compression, Compression::Gzip);
        assert_eq!(builder.interval, Duration::from_secs(15));
        assert!(!builder.disabled);
        let expected = Options::default()
            .resource_attribute("deployment.environment.name", "prod 1")
            .resource_attribute("service.name", "checkout");
        assert_eq!(builder.options, expected);
    }

    #[test]
    fn the_metrics_endpoint_is_used_as_it_is() {
        let builder = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "https://gw.example.com/custom",
            ),
        ])
        .unwrap();
        assert_eq!(builder.url.0, "https://gw.example.com/custom");
        let defaults = from(&[]).unwrap();
        assert_eq!(defaults.url.0, "http://localhost:4318/v1/metrics");
        assert_eq!(defaults.interval, Duration::from_secs(60));
        assert_eq!(
            defaults.options.clone().histogram(HistogramKind::Explicit),
            defaults.options
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_what_it_accepts() {
        for (variable, value, accepted) in [
            (
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
                "grpc",
                "http/protobuf",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http", "http/json"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "gzip or none"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "5s", "milliseconds"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "0", "milliseconds"),
            ("OTEL_SDK_DISABLED", "yes", "true or false"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue", "key=value"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad%20name=1", "header names"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a", "key=value"),
        ] {
            let error = from(&[(variable, value)]).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("{variable}={value:?} is not valid"))
                    && error.contains("accepted: ")
                    && error.contains(accepted),
                "{error}"
            );
        }
        let error = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")])
            .unwrap()
            .start()
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("OTEL_EXPORTER_OTLP_ENDPOINT: invalid collector URL")
                && error.contains("accepted: an absolute http://"),
            "{error}"
        );
    }

    #[test]
    fn disabled_starts_nothing() {
        let exporter = from(&[("OTEL_SDK_DISABLED", "TRUE")])
            .unwrap()
            .start()
            .unwrap();
        assert!(!exporter.status().running);
        let outcome = exporter.shutdown();
        assert!(outcome.stopped && !outcome.final_export_sent);
    }

    #[test]
    fn zero_durations_in_code_are_refused() {
        let error = Exporter::builder()
            .interval(Duration::ZERO)
            .start()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("interval") && error.contains("longer than zero"),
            "{error}"
        );
    }
}
