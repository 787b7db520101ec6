//! OpenTelemetry: the snapshot as OTLP metrics, and a push exporter to an
//! OpenTelemetry Collector (or any OTLP/HTTP receiver). Feature `otlp`, off by
//! default.
//!
//! ```no_run
//! // Configured by the standard OTEL_* variables, like the OpenTelemetry SDKs.
//! let exporter = telemetry::otlp::Exporter::from_env()?.start()?;
//! // … the service runs …
//! exporter.shutdown();
//! # Ok::<(), telemetry::otlp::ExporterError>(())
//! ```
//!
//! # What is exported
//!
//! [`encode`] writes a snapshot as an OTLP `ExportMetricsServiceRequest`, in
//! binary protobuf or OTLP JSON, with the official message definitions (the
//! `opentelemetry-proto` crate). One resource (`service.name`,
//! `service.version`, `service.instance.id`, `telemetry.sdk.*`), one scope
//! (`telemetry`), and per instrumented fn that has been called:
//!
//! | OTLP metric                 | kind                                            | attributes             | as Prometheus                     |
//! |-----------------------------|-------------------------------------------------|------------------------|-----------------------------------|
//! | `telemetry.calls`           | cumulative monotonic Sum                        | `function`, `result`   | `telemetry_calls_total`           |
//! | `telemetry.calls.in_flight` | cumulative non-monotonic Sum                    | `function`             | `telemetry_calls_in_flight`       |
//! | `telemetry.call.duration`   | cumulative Histogram (or ExponentialHistogram), in seconds | `function`  | `telemetry_call_duration_seconds` |
//!
//! `result` is `ok`, `err`, `panic` or `cancelled`, as in
//! [`Snapshot::to_prometheus`](crate::Snapshot::to_prometheus), and the
//! histogram has the same bounds ([`LATENCY_BUCKETS_NS`](crate::export::LATENCY_BUCKETS_NS)),
//! so a collector's Prometheus exporter yields the families `/metrics` serves
//! and dashboards carry over. [`HistogramKind::Exponential`] writes an
//! exponential histogram at scale [`EXPONENTIAL_SCALE`] instead, as fine as
//! the snapshot's own buckets. Points start at the process start
//! (`startTimeUnixNano`) and are stamped with the snapshot's time.
//!
//! # The exporter
//!
//! [`Exporter`] runs on its own thread (`telemetry-otlp`): every interval it
//! takes a snapshot and POSTs it to `{endpoint}/v1/metrics`. Instrumented calls
//! never wait for it (a snapshot never blocks them), it holds one encoded
//! export at a time and reads at most 64 KiB of an answer, and
//! [`Exporter::shutdown`] sends one last export and returns within its timeout
//! (5 seconds by default) whatever the collector does.
//!
//! As the OTLP specification says, a failed export is retried only on HTTP
//! 429, 502, 503 and 504 or a failed connection, after the `Retry-After` the
//! collector gave, else after an exponential backoff with jitter (1 s doubling
//! to 30 s), and never past the next export: the data is cumulative, so the
//! next export carries every count of a lost one. A 400 or any other status
//! is not retried, and is logged once (at warn level, through `log`) with the
//! collector's message; so is a partial success.
//!
//! # Configuration
//!
//! In code with [`Exporter::builder`], or from the standard variables with
//! [`Exporter::from_env`] (builder methods called after it override them).
//! An empty variable counts as unset; a value that is not understood is an
//! [`ExporterError`] naming the variable and what it accepts.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL; `/v1/metrics` is appended | `http://localhost:4318` |
//! | `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` | full URL, used as it is | |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]HEADERS` | `key=value,…`, percent-decoded | |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT` | milliseconds per try | `10000` |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]PROTOCOL` | `http/protobuf` or `http/json` (`grpc` is refused) | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_[METRICS_]COMPRESSION` | `gzip` or `none` | `none` |
//! | `OTEL_METRIC_EXPORT_INTERVAL` | milliseconds between exports | `60000` |
//! | `OTEL_SERVICE_NAME` | `service.name` | the app name |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,…`, percent-decoded | |
//! | `OTEL_SDK_DISABLED` | `true` starts nothing | `false` |
//!
//! The `METRICS_` variables override the generic ones.
//!
//! # Consent
//!
//! The exporter is the operator's own monitoring, sent where the operator
//! points it, with names and numbers as they are: it does **not** depend on
//! usage-statistics consent ([`consent::current()`](crate::consent::current())), and `DO_NOT_TRACK`
//! does not stop it (`OTEL_SDK_DISABLED=true` does). The usage-statistics
//! reporter (feature `reporter`) can also send OTLP
//! (`ReportFormat::Otlp`), and then sends the anonymized snapshot under
//! consent, exactly as its JSON report.

mod config;
mod encode;
mod exporter;
mod transport;

pub use config::{Compression, ExporterError, Protocol};
pub use encode::{encode, HistogramKind, Options, EXPONENTIAL_SCALE};
pub use exporter::{Exporter, ExporterBuilder, ExporterStatus, ShutdownOutcome};
