//! The OTLP push exporter against a collector on 127.0.0.1: what it sends
//! (decoded with the official OpenTelemetry definitions), the standard
//! variables, when it retries (only where the OTLP specification says) and
//! how it behaves when the collector refuses, hangs or answers 64 MiB. Run with
//! `cargo test --features otlp --test otlp_export`.
//!
//! Tests that read logs or change the environment run in a process of their
//! own; every wait is bounded.

mod support;

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use prost::Message;
use support::bounded::{ms, peak_rss_bytes, wait_for, PROMPT, WAIT};
use support::collector::{Behaviour, Collector, Reply, Request};
use support::isolated::{isolated, logs};
use telemetry::otlp::{Compression, Exporter, ExporterBuilder, Protocol};

fn item(id: u64) -> Result<u64, String> {
    if id % 10 == 0 {
        Err(format!("no item {id}"))
    } else {
        Ok(id * 2)
    }
}

#[telemetry::timed]
fn lookup(id: u64) -> Result<u64, String> {
    item(id)
}

const LOOKUP: &str = concat!(module_path!(), "::lookup");

/// Called only while the app must not be slowed, from tests that run beside
/// the one that compares `lookup`'s counts exactly.
#[telemetry::timed]
fn background_lookup(id: u64) -> Result<u64, String> {
    item(id)
}

const BACKGROUND_LOOKUP: &str = concat!(module_path!(), "::background_lookup");

/// An exporter with test timings; the first export goes one interval after
/// the start.
fn exporter(collector: &Collector, interval: Duration) -> ExporterBuilder {
    Exporter::builder()
        .metrics_endpoint(&collector.url("/v1/metrics"))
        .interval(interval)
        .timeout(Duration::from_secs(5))
        .shutdown_timeout(Duration::from_secs(3))
}

/// A request's body decoded with the official definitions, whatever its
/// encoding and compression.
fn decode(request: &Request) -> ExportMetricsServiceRequest {
    let mut body = request.body.clone();
    if request.header("content-encoding") == Some("gzip") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .expect("a gzip body");
        body = plain;
    }
    match request.header("content-type") {
        Some("application/x-protobuf") => {
            ExportMetricsServiceRequest::decode(&body[..]).expect("an OTLP protobuf request")
        }
        Some("application/json") => serde_json::from_slice(&body).expect("an OTLP JSON request"),
        other => panic!("content-type {other:?}"),
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    let value = attributes.iter().find(|a| a.key == key)?.value.as_ref()?;
    match &value.value {
        Some(any_value::Value::StringValue(text)) => Some(text),
        _ => None,
    }
}

fn metric<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// The `telemetry.calls` point of `function` and `result`.
fn calls(request: &ExportMetricsServiceRequest, function: &str, result: &str) -> i64 {
    let Some(Data::Sum(sum)) = &metric(request, "telemetry.calls").data else {
        panic!("telemetry.calls is not a Sum");
    };
    let point = sum
        .data_points
        .iter()
        .find(|p| {
            attribute(&p.attributes, "function") == Some(function)
                && attribute(&p.attributes, "result") == Some(result)
        })
        .expect("a point per function and result");
    match point.value {
        Some(number_data_point::Value::AsInt(n)) => n,
        other => panic!("{other:?}"),
    }
}

/// 10,000 instrumented calls and a snapshot on another thread, while the
/// exporter is stuck or failing: they end within seconds (they take
/// milliseconds), so none of them waited on the exporter.
fn app_is_not_slowed(exporter: &Exporter) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        for i in 0..10_000 {
            let _ = background_lookup(i);
        }
        let snapshot = telemetry::snapshot();
        let _ = done.send((start.elapsed(), snapshot));
    });
    let (elapsed, snapshot) = finished
        .recv_timeout(4 * PROMPT)
        .expect("instrumented calls or snapshots blocked while the exporter was busy");
    assert!(elapsed < PROMPT, "10,000 calls took {elapsed:?}");
    assert!(snapshot.functions[BACKGROUND_LOOKUP].calls >= 10_000);
    let start = Instant::now();
    let _ = exporter.status();
    assert!(start.elapsed() < PROMPT, "status() waited on an export");
}

#[test]
fn the_standard_variables_configure_what_is_sent() {
    isolated("the_standard_variables_configure_what_is_sent", &[], || {
        let collector = Collector::start(Behaviour::Status(200));
        for id in 0..20 {
            let _ = lookup(id);
        }
        // This process is the test's own: its environment is ours to set.
        for (name, value) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url("/base/")),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=s%3Dcret, x-tenant=shop".into(),
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json".into()),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".into()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200".into()),
            ("OTEL_SERVICE_NAME", "checkout".into()),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=ignored,region=eu%2Dwest".into(),
            ),
        ] {
            std::env::set_var(name, value);
        }
        let exporter = Exporter::from_env().unwrap().start().unwrap();
        let requests = collector.wait_requests(1, WAIT);
        exporter.shutdown();

        let request = &requests[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/base/v1/metrics");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert_eq!(request.header("x-api-key"), Some("s=cret"));
        assert_eq!(request.header("x-tenant"), Some("shop"));
        assert!(request
            .header("user-agent")
            .is_some_and(|agent| agent.starts_with("telemetry/")));
        let decoded = decode(request);
        let resource = decoded.resource_metrics[0].resource.as_ref().unwrap();
        assert_eq!(
            attribute(&resource.attributes, "service.name"),
            Some("checkout")
        );
        assert_eq!(attribute(&resource.attributes, "region"), Some("eu-west"));
        assert_eq!(
            attribute(&resource.attributes, "service.instance.id"),
            Some(telemetry::instance_id().to_string().as_str())
        );
        assert_eq!(
            (
                calls(&decoded, LOOKUP, "ok"),
                calls(&decoded, LOOKUP, "err")
            ),
            (18, 2)
        );
    });
}

#[test]
fn protobuf_exports_carry_every_count_and_a_last_export_on_shutdown() {
    let collector = Collector::start(Behaviour::Status(200));
    // An hour between exports: the only one is the last, on shutdown.
    let exporter = exporter(&collector, Duration::from_secs(3600))
        .protocol(Protocol::HttpProtobuf)
        .compression(Compression::None)
        .start()
        .unwrap();
    for id in 0..1000 {
        let _ = lookup(id);
    }
    let at_rest = telemetry::snapshot();
    let started = Instant::now();
    let outcome = exporter.shutdown();
    assert!(started.elapsed() < PROMPT);
    assert!(outcome.stopped && outcome.final_export_sent, "{outcome:?}");
    let requests = collector.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(requests[0].header("content-encoding"), None);
    let decoded = decode(&requests[0]);
    let stats = &at_rest.functions[LOOKUP];
    assert_eq!(calls(&decoded, LOOKUP, "ok"), stats.ok as i64);
    assert_eq!(calls(&decoded, LOOKUP, "err"), stats.err as i64);
    let Some(Data::Histogram(histogram)) = &metric(&decoded, "telemetry.call.duration").data else {
        panic!("a histogram");
    };
    let point = histogram
        .data_points
        .iter()
        .find(|p| attribute(&p.attributes, "function") == Some(LOOKUP))
        .expect("a histogram point for lookup");
    assert_eq!(point.count, stats.latency_ns.as_ref().unwrap().count);
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), point.count);
}

/// Statuses the OTLP specification calls retryable, and some it does not.
const RETRYABLE: [u16; 4] = [429, 502, 503, 504];
const FINAL: [u16; 7] = [400, 401, 403, 404, 413, 500, 501];

#[test]
fn only_429_502_503_and_504_are_retried() {
    std::thread::scope(|scope| {
        for status in RETRYABLE.into_iter().chain(FINAL) {
            scope.spawn(move || {
                // Retry-After 0 on every answer: a retry, if any, comes at once.
                let collector = Collector::start(Behaviour::Script(vec![
                    Reply::status(status).header("retry-after", "0"),
                    Reply::status(200),
                ]));
                // Two seconds: no second interval's export may come before
                // the first one's requests are counted, on a busy machine too.
                let exporter = exporter(&collector, Duration::from_secs(2))
                    .start()
                    .unwrap();
                // An export's outcome is recorded after its retries.
                wait_for("the first export to end", || {
                    let status = exporter.status();
                    status.exports + status.failures >= 1
                });
                let status_now = exporter.status();
                let requests = collector.requests().len();
                drop(exporter);
                if RETRYABLE.contains(&status) {
                    assert_eq!(
                        (status_now.exports, status_now.retries, requests),
                        (1, 1, 2),
                        "{status}: {status_now:?}"
                    );
                } else {
                    assert_eq!(
                        (status_now.failures, status_now.retries, requests),
                        (1, 0, 1),
                        "{status}: {status_now:?}"
                    );
                    let error = status_now.last_error.unwrap();
                    assert!(error.contains(&format!("HTTP {status}")), "{error}");
                }
            });
        }
    });
}

#[test]
fn retry_after_is_honoured_and_backoff_applies_without_it() {
    std::thread::scope(|scope| {
        // The first export goes 5 s after the start: a date 9 s ahead (cut to
        // whole seconds) asks for about 3 to 4 s more, longer than the
        // backoff's 1 s at most, so the date was read, with 1.5 s to spare
        // for a slow start; the retry still falls before the next export.
        let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(9));
        for (retry_after, at_least) in [
            (Some("2".to_owned()), ms(2000)),
            (Some(date), ms(1500)),
            (None, ms(500)),
        ] {
            scope.spawn(move || {
                let mut first = Reply::status(503);
                if let Some(value) = &retry_after {
                    first = first.header("retry-after", value.clone());
                }
                let collector =
                    Collector::start(Behaviour::Script(vec![first, Reply::status(200)]));
                // Long enough that the retry falls within the export.
                let exporter = exporter(&collector, Duration::from_secs(5))
                    .start()
                    .unwrap();
                let requests = collector.wait_requests(2, WAIT);
                let gap = requests[1].at - requests[0].at;
                assert!(gap >= at_least, "{retry_after:?}: retried after {gap:?}");
                wait_for("the export to be accepted", || {
                    exporter.status().exports == 1
                });
                assert_eq!(exporter.status().retries, 1);
                drop(exporter);
            });
        }
    });
}

/// A `google.rpc.Status`, as a collector encodes its error answers.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[test]
fn a_refusal_is_logged_once_with_the_collector_s_message() {
    isolated(
        "a_refusal_is_logged_once_with_the_collector_s_message",
        &[],
        || {
            let protobuf = RpcStatus {
                code: 3,
                message: "metric name not allowed (protobuf)".into(),
            }
            .encode_to_vec();
            let json = br#"{"code":3,"message":"metric name not allowed (json)"}"#.to_vec();
            for (protocol, body, message) in [
                (
                    Protocol::HttpProtobuf,
                    protobuf,
                    "metric name not allowed (protobuf)",
                ),
                (Protocol::HttpJson, json, "metric name not allowed (json)"),
            ] {
                let collector =
                    Collector::start(Behaviour::Script(vec![Reply::status(400).body(body)]));
                let exporter = exporter(&collector, ms(100))
                    .protocol(protocol)
                    .start()
                    .unwrap();
                wait_for("three refused exports", || exporter.status().failures >= 3);
                drop(exporter);
                let warnings: Vec<String> = logs()
                    .into_iter()
                    .filter(|line| line.starts_with("WARN") && line.contains(message))
                    .collect();
                assert_eq!(warnings.len(), 1, "{:#?}", logs());
                assert!(warnings[0].contains("HTTP 400"), "{}", warnings[0]);
            }
        },
    );
}

#[test]
fn a_partial_success_is_logged() {
    isolated("a_partial_success_is_logged", &[], || {
        let answer = ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 2,
                error_message: "2 points too old".into(),
            }),
        };
        let collector = Collector::start(Behaviour::Script(vec![
            Reply::status(200).body(answer.encode_to_vec())
        ]));
        let exporter = exporter(&collector, ms(100)).start().unwrap();
        wait_for("an export", || exporter.status().exports >= 1);
        drop(exporter);
        assert!(
            logs().iter().any(|line| line.starts_with("WARN")
                && line.contains("rejected 2 data point(s): 2 points too old")),
            "{:#?}",
            logs()
        );
    });
}

#[test]
fn a_collector_that_never_answers_slows_nothing_and_shutdown_returns_in_time() {
    let collector = Collector::start(Behaviour::Hang);
    // A timeout far longer than the test: the exporter stays stuck.
    let exporter = exporter(&collector, ms(100))
        .timeout(Duration::from_secs(25))
        .shutdown_timeout(Duration::from_secs(1))
        .start()
        .unwrap();
    collector.wait("the export to hang", WAIT, |c| c.hanging() == 1);
    app_is_not_slowed(&exporter);
    assert_eq!(collector.hanging(), 1, "the request ended early");

    let started = Instant::now();
    let outcome = exporter.shutdown();
    let took = started.elapsed();
    assert!(took < PROMPT, "shutdown took {took:?}");
    assert!(
        !outcome.stopped && !outcome.final_export_sent,
        "{outcome:?}"
    );
    assert_eq!(collector.connections(), 1);
    collector.release();
}

#[test]
fn a_slow_collector_is_cut_off_by_the_timeout() {
    let collector = Collector::start(Behaviour::Hang);
    let exporter = exporter(&collector, ms(300))
        .timeout(ms(500))
        .start()
        .unwrap();
    collector.wait("the client to give up", WAIT, |c| {
        !c.given_up_after().is_empty()
    });
    assert!(collector.given_up_after()[0] < PROMPT);
    wait_for("the failure to be recorded", || {
        exporter.status().last_error.is_some()
    });
    let error = exporter.status().last_error.unwrap();
    assert!(
        error.contains("timeout") || error.contains("timed out"),
        "{error}"
    );
    drop(exporter);
    collector.release();
}

#[test]
fn huge_and_hostile_answers_cost_bounded_memory() {
    // In a process of its own: the peak is the whole process's, and the other
    // tests of this binary must not count in it.
    isolated(
        "huge_and_hostile_answers_cost_bounded_memory",
        &[],
        huge_and_hostile_answers,
    );
}

fn huge_and_hostile_answers() {
    const ANSWER: u64 = 64 << 20;
    let peak_before = peak_rss_bytes();
    for behaviour in [
        Behaviour::HugeAnswer {
            status: 200,
            bytes: ANSWER,
        },
        Behaviour::HugeAnswer {
            status: 400,
            bytes: ANSWER,
        },
        Behaviour::HugeAnswer {
            status: 503,
            bytes: ANSWER,
        },
        Behaviour::EndlessHeaders,
        Behaviour::Garbage,
    ] {
        let collector = Collector::start(behaviour.clone());
        let exporter = exporter(&collector, ms(200)).start().unwrap();
        wait_for("an export to end", || {
            let status = exporter.status();
            status.exports + status.failures + status.retries >= 1
        });
        app_is_not_slowed(&exporter);
        let status = exporter.status();
        if let Behaviour::HugeAnswer { status: 200, .. } = behaviour {
            assert!(status.exports >= 1, "a 2xx is an export taken: {status:?}");
        } else {
            assert_eq!(status.exports, 0, "{behaviour:?}: {status:?}");
        }
        if let Behaviour::HugeAnswer { status: 400, .. } = behaviour {
            let error = status.last_error.unwrap();
            assert!(
                error.contains("HTTP 400") && error.contains("not read"),
                "{error}"
            );
        }
        let took = Instant::now();
        exporter.shutdown();
        assert!(took.elapsed() < PROMPT);
        if matches!(
            behaviour,
            Behaviour::HugeAnswer { .. } | Behaviour::EndlessHeaders
        ) {
            // The exporter stopped reading long before the answer ended.
            collector.wait("the answer to end", WAIT, |c| {
                !c.endless_written().is_empty()
            });
            let written = collector.endless_written()[0];
            assert!(
                written < 32 << 20,
                "{behaviour:?}: the collector wrote {written} bytes"
            );
        }
    }
    if let (Some(before), Some(after)) = (peak_before, peak_rss_bytes()) {
        let grown = after.saturating_sub(before);
        assert!(grown < 64 << 20, "peak memory grew by {grown} bytes");
    }
}
