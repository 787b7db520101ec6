//! The snapshot as OTLP, decoded with the official OpenTelemetry definitions
//! (the `opentelemetry-proto` crate's generated types), not with this
//! library's code: every count, bucket, sum and bound equals the snapshot's,
//! the JSON follows the OTLP JSON rules, exponential buckets reproduce the
//! snapshot's quantiles, and the usage report over OTLP is the anonymized
//! snapshot. Run with `cargo test --features otlp,reporter --test otlp_encoding`.

mod support;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, ExponentialHistogramDataPoint,
    HistogramDataPoint, Metric, NumberDataPoint,
};
use prost::Message;
use serde_json::Value;
use support::isolated::isolated;
use telemetry::consent::{Consent, ConsentDecision, ConsentSource};
use telemetry::export::LATENCY_BUCKETS_NS;
use telemetry::otlp::{encode, HistogramKind, Options, Protocol, EXPONENTIAL_SCALE};
use telemetry::reporter::{DryRun, ReportFormat, Reporter};
use telemetry::{DetailsLevel, Snapshot};

/// Spins `spins` times: latencies from well under a microsecond to about a
/// millisecond, over many of the snapshot's buckets.
#[telemetry::timed]
fn spin(spins: u64) -> Result<u64, String> {
    let mut acc = 0u64;
    for i in 0..spins {
        acc = std::hint::black_box(acc.wrapping_add(i));
    }
    if spins % 7 == 0 {
        Err("a multiple of seven".into())
    } else {
        Ok(acc)
    }
}

#[telemetry::timed]
fn sometimes_panics(panic: bool) {
    assert!(!panic, "asked to");
}

#[telemetry::counted]
fn counted_only() {}

#[telemetry::timed]
#[allow(dead_code)]
fn never_called() {}

const SPIN: &str = concat!(module_path!(), "::spin");
const NEVER: &str = concat!(module_path!(), "::never_called");

/// A fixed workload, then a snapshot at rest (nothing in flight).
fn workload() -> Snapshot {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for i in 0..3_000u64 {
            let _ = spin((1 << (i % 15)) + i % 97);
        }
        for panic in [false, true, false] {
            let _ = std::panic::catch_unwind(|| sometimes_panics(panic));
        }
        for _ in 0..5 {
            counted_only();
        }
    });
    telemetry::snapshot()
}

fn protobuf(snapshot: &Snapshot, options: &Options) -> ExportMetricsServiceRequest {
    let bytes = encode(snapshot, options, Protocol::HttpProtobuf);
    ExportMetricsServiceRequest::decode(&bytes[..]).expect("official protobuf definitions")
}

fn json(snapshot: &Snapshot, options: &Options) -> (ExportMetricsServiceRequest, Value) {
    let bytes = encode(snapshot, options, Protocol::HttpJson);
    let request = serde_json::from_slice(&bytes).expect("official OTLP JSON definitions");
    (request, serde_json::from_slice(&bytes).unwrap())
}

fn text<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    let value = attributes.iter().find(|a| a.key == key)?.value.as_ref()?;
    match &value.value {
        Some(any_value::Value::StringValue(text)) => Some(text),
        _ => None,
    }
}

fn metrics(request: &ExportMetricsServiceRequest) -> &[Metric] {
    assert_eq!(request.resource_metrics.len(), 1);
    let scopes = &request.resource_metrics[0].scope_metrics;
    assert_eq!(scopes.len(), 1);
    assert_eq!(scopes[0].scope.as_ref().unwrap().name, "telemetry");
    &scopes[0].metrics
}

fn metric<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    metrics(request)
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// The one point of `points` whose `function` attribute is `function`.
fn of_function<'a, P>(
    points: &'a [P],
    attributes: impl Fn(&P) -> &[KeyValue],
    function: &str,
) -> &'a P {
    let mut found = points
        .iter()
        .filter(|&p| text(attributes(p), "function") == Some(function));
    let point = found
        .next()
        .unwrap_or_else(|| panic!("no point of {function}"));
    assert!(found.next().is_none(), "two points of {function}");
    point
}

fn int(point: &NumberDataPoint) -> u64 {
    match point.value {
        Some(number_data_point::Value::AsInt(n)) => u64::try_from(n).unwrap(),
        other => panic!("not an integer: {other:?}"),
    }
}

/// Every point's times: the snapshot's, and the process start.
fn check_times(snapshot: &Snapshot, start: u64, time: u64) {
    assert_eq!(time, snapshot.taken_at_unix_ms * 1_000_000);
    let start_ms = (start / 1_000_000) as i64;
    let expected = (snapshot.taken_at_unix_ms - snapshot.uptime_ms) as i64;
    assert!((start_ms - expected).abs() <= 2, "{start_ms} vs {expected}");
    assert!(start <= time);
}

/// Compares a decoded request with the snapshot it was made from, number by
/// number. The explicit bucket each snapshot bucket belongs to is computed
/// here again, from the bounds as they were decoded.
fn check_against(snapshot: &Snapshot, request: &ExportMetricsServiceRequest) {
    let resource = request.resource_metrics[0].resource.as_ref().unwrap();
    let instance = snapshot.instance_id.to_string();
    assert_eq!(
        text(&resource.attributes, "service.name"),
        Some(snapshot.app.name.as_str())
    );
    assert_eq!(
        text(&resource.attributes, "service.version"),
        Some(snapshot.app.version.as_str())
    );
    assert_eq!(
        text(&resource.attributes, "service.instance.id"),
        Some(instance.as_str())
    );
    assert_eq!(
        text(&resource.attributes, "telemetry.sdk.name"),
        Some("telemetry")
    );
    assert_eq!(
        text(&resource.attributes, "telemetry.sdk.language"),
        Some("rust")
    );

    let called: Vec<_> = snapshot
        .functions
        .iter()
        .filter(|(_, stats)| stats.calls > 0)
        .collect();
    assert!(called.len() >= 3);

    let Some(Data::Sum(calls)) = &metric(request, "telemetry.calls").data else {
        panic!("telemetry.calls is a Sum");
    };
    assert!(calls.is_monotonic);
    assert_eq!(
        calls.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    assert_eq!(calls.data_points.len(), called.len() * 4);
    for (name, stats) in &called {
        for (result, expected) in [
            ("ok", stats.ok),
            ("err", stats.err),
            ("panic", stats.panics),
            ("cancelled", stats.cancelled),
        ] {
            let points: Vec<_> = calls
                .data_points
                .iter()
                .filter(|p| {
                    text(&p.attributes, "function") == Some(name.as_str())
                        && text(&p.attributes, "result") == Some(result)
                })
                .collect();
            assert_eq!(points.len(), 1, "{name} {result}");
            assert_eq!(int(points[0]), expected, "{name} {result}");
            check_times(
                snapshot,
                points[0].start_time_unix_nano,
                points[0].time_unix_nano,
            );
        }
    }

    let Some(Data::Sum(in_flight)) = &metric(request, "telemetry.calls.in_flight").data else {
        panic!("telemetry.calls.in_flight is a Sum");
    };
    assert!(!in_flight.is_monotonic);
    for (name, stats) in &called {
        let point = of_function(&in_flight.data_points, |p| &p.attributes, name);
        assert_eq!(int(point), stats.in_flight);
    }

    let duration = metric(request, "telemetry.call.duration");
    assert_eq!(duration.unit, "s");
    let timed: Vec<_> = called
        .iter()
        .filter_map(|(name, stats)| Some((name, stats.latency_ns.as_ref()?)))
        .collect();
    match &duration.data {
        Some(Data::Histogram(histogram)) => {
            assert_eq!(
                histogram.aggregation_temporality,
                AggregationTemporality::Cumulative as i32
            );
            assert_eq!(histogram.data_points.len(), timed.len());
            for (name, latency) in timed {
                let point = of_function(&histogram.data_points, |p| &p.attributes, name);
                check_explicit(point, latency);
                check_times(snapshot, point.start_time_unix_nano, point.time_unix_nano);
            }
        }
        Some(Data::ExponentialHistogram(histogram)) => {
            assert_eq!(
                histogram.aggregation_temporality,
                AggregationTemporality::Cumulative as i32
            );
            assert_eq!(histogram.data_points.len(), timed.len());
            for (name, latency) in timed {
                let point = of_function(&histogram.data_points, |p| &p.attributes, name);
                check_exponential(point, latency);
                check_times(snapshot, point.start_time_unix_nano, point.time_unix_nano);
            }
        }
        other => panic!("telemetry.call.duration is {other:?}"),
    }
}

fn check_explicit(point: &HistogramDataPoint, latency: &telemetry::Latency) {
    let bounds = &point.explicit_bounds;
    let expected: Vec<f64> = LATENCY_BUCKETS_NS
        .iter()
        .map(|&ns| ns as f64 / 1e9)
        .collect();
    assert_eq!(bounds, &expected);
    assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
    assert_eq!(point.bucket_counts.len(), bounds.len() + 1);
    assert_eq!(point.count, latency.count);
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), point.count);
    let sum_s = latency.sum.unwrap() as f64 / 1e9;
    assert!((point.sum.unwrap() - sum_s).abs() <= sum_s * 1e-12);
    assert_eq!(point.min, Some(latency.min as f64 / 1e9));
    assert_eq!(point.max, Some(latency.max as f64 / 1e9));
    // Each snapshot bucket in the first bucket whose bound is at or above its
    // upper bound (OTLP buckets include their upper bound), else the last.
    let mut expected = vec![0u64; bounds.len() + 1];
    for &(upper_ns, count) in latency.buckets.as_ref().unwrap() {
        let upper = upper_ns as f64 / 1e9;
        let at = bounds
            .iter()
            .position(|&b| upper <= b)
            .unwrap_or(bounds.len());
        expected[at] += count;
    }
    assert_eq!(point.bucket_counts, expected);
}

/// The value at quantile `q` of an exponential histogram: the geometric
/// middle of the bucket where the rank falls.
fn exponential_quantile(point: &ExponentialHistogramDataPoint, q: f64) -> f64 {
    let base = 2f64.powf(2f64.powi(-point.scale));
    let rank = ((q * point.count as f64).ceil() as u64).max(1);
    let mut seen = point.zero_count;
    if seen >= rank {
        return 0.0;
    }
    let positive = point.positive.as_ref().unwrap();
    for (i, &count) in positive.bucket_counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let index = positive.offset + i as i32;
            return base.powf(f64::from(index) + 0.5);
        }
    }
    panic!("rank {rank} beyond the buckets");
}

fn check_exponential(point: &ExponentialHistogramDataPoint, latency: &telemetry::Latency) {
    assert_eq!(point.scale, EXPONENTIAL_SCALE);
    assert_eq!(point.count, latency.count);
    let positive = point.positive.as_ref().unwrap();
    assert_eq!(
        point.zero_count + positive.bucket_counts.iter().sum::<u64>(),
        point.count
    );
    assert!(point
        .negative
        .as_ref()
        .is_none_or(|n| n.bucket_counts.is_empty()));
    for (q, expected_ns) in [
        (0.5, latency.p50),
        (0.9, latency.p90),
        (0.99, latency.p99),
        (0.999, latency.p999),
    ] {
        let got = exponential_quantile(point, q);
        let expected = expected_ns as f64 / 1e9;
        let error = (got / expected - 1.0).abs();
        assert!(
            error <= 0.02,
            "p{q}: {got} s vs the snapshot's {expected} s ({error:.4})"
        );
    }
}

#[test]
fn protobuf_decodes_to_the_snapshot_s_numbers() {
    let snapshot = workload();
    let request = protobuf(&snapshot, &Options::default());
    check_against(&snapshot, &request);
    // Never called: no points unless asked for, then zeros.
    let has_never = |request: &ExportMetricsServiceRequest| {
        metrics(request).iter().any(|m| match &m.data {
            Some(Data::Sum(sum)) => sum
                .data_points
                .iter()
                .any(|p| text(&p.attributes, "function") == Some(NEVER)),
            _ => false,
        })
    };
    assert!(!has_never(&request));
    let with_idle = protobuf(&snapshot, &Options::default().idle_functions(true));
    assert!(has_never(&with_idle));
}

#[test]
fn json_decodes_to_the_same_request_and_follows_the_otlp_json_rules() {
    let snapshot = workload();
    for kind in [HistogramKind::Explicit, HistogramKind::Exponential] {
        let options = Options::default().histogram(kind);
        let (from_json, raw) = json(&snapshot, &options);
        assert_eq!(from_json, protobuf(&snapshot, &options));
        check_json_rules(&raw);
    }
}

/// The OTLP JSON rules beyond what a lenient parser checks: lowerCamelCase
/// keys, enums as integers, 64-bit integers as decimal strings.
fn check_json_rules(value: &Value) {
    const INT64: [&str; 6] = [
        "startTimeUnixNano",
        "timeUnixNano",
        "count",
        "asInt",
        "zeroCount",
        "bucketCounts",
    ];
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    assert!(
                        key.chars().next().unwrap().is_ascii_lowercase()
                            && key.chars().all(|c| c.is_ascii_alphanumeric()),
                        "key {key:?} is not lowerCamelCase"
                    );
                    if INT64.contains(&key.as_str()) {
                        seen.insert(key.clone());
                        let digits = |v: &Value| {
                            v.as_str().is_some_and(|s| {
                                !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
                            })
                        };
                        match inner {
                            Value::Array(items) => assert!(items.iter().all(digits), "{key}"),
                            other => assert!(digits(other), "{key}: {other}"),
                        }
                    }
                    if key == "aggregationTemporality" {
                        assert_eq!(inner, &Value::from(2), "cumulative, as a number");
                    }
                    stack.push(inner);
                }
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(seen.contains("timeUnixNano") && seen.contains("asInt") && seen.contains("count"));
}

#[test]
fn exponential_buckets_reproduce_the_snapshot_s_quantiles() {
    let snapshot = workload();
    let options = Options::default().histogram(HistogramKind::Exponential);
    let request = protobuf(&snapshot, &options);
    check_against(&snapshot, &request);
    // The spread workload really spans many buckets.
    let Some(Data::ExponentialHistogram(histogram)) =
        &metric(&request, "telemetry.call.duration").data
    else {
        panic!("an exponential histogram");
    };
    let point = of_function(&histogram.data_points, |p| &p.attributes, SPIN);
    let used = point
        .positive
        .as_ref()
        .unwrap()
        .bucket_counts
        .iter()
        .filter(|&&c| c > 0);
    assert!(used.count() > 50);
}

/// Sets the process's consent as an app's configuration would.
fn enable_reports() {
    telemetry::consent::set(ConsentDecision::new(
        Consent::Enabled,
        ConsentSource::Config,
    ))
    .expect("an isolated test runs without DO_NOT_TRACK");
}

/// An anonymized report over OTLP: its function attributes are the anonymized
/// snapshot's keyed hashes, and no name of the program nor anything from the
/// environment is in it.
fn check_anonymized_report(request: &ExportMetricsServiceRequest, bytes: &[u8]) {
    let anonymized = telemetry::snapshot().anonymize();
    assert!(!String::from_utf8_lossy(bytes).contains("spin"));
    assert!(!String::from_utf8_lossy(bytes).contains("db-host-17"));
    let resource = request.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(text(&resource.attributes, "host.name"), None);
    assert_eq!(
        text(&resource.attributes, "service.name"),
        Some(anonymized.app.name.as_str())
    );
    let Some(Data::Sum(calls)) = &metric(request, "telemetry.calls").data else {
        panic!("a Sum");
    };
    for point in &calls.data_points {
        let function = text(&point.attributes, "function").unwrap();
        assert!(
            function.len() == 16 && function.bytes().all(|b| b.is_ascii_hexdigit()),
            "{function}"
        );
        let stats = &anonymized.functions[function];
        let expected = match text(&point.attributes, "result").unwrap() {
            "ok" => stats.ok,
            "err" => stats.err,
            "panic" => stats.panics,
            _ => stats.cancelled,
        };
        assert_eq!(int(point), expected);
    }
}

#[test]
fn the_usage_report_over_otlp_is_the_anonymized_snapshot() {
    isolated(
        "the_usage_report_over_otlp_is_the_anonymized_snapshot",
        &[
            ("OTEL_RESOURCE_ATTRIBUTES", "host.name=db-host-17"),
            ("OTEL_SERVICE_NAME", "db-host-17"),
        ],
        || {
            workload();
            let level = DetailsLevel::Summaries;
            let bytes = ReportFormat::Otlp(Protocol::HttpProtobuf).payload(level);
            let request = ExportMetricsServiceRequest::decode(&bytes[..]).unwrap();
            check_anonymized_report(&request, &bytes);
            let bytes = ReportFormat::Otlp(Protocol::HttpJson).payload(level);
            let request: ExportMetricsServiceRequest = serde_json::from_slice(&bytes).unwrap();
            check_anonymized_report(&request, &bytes);
            assert_eq!(
                ReportFormat::Otlp(Protocol::HttpProtobuf).content_type(),
                "application/x-protobuf"
            );

            // The dry run writes exactly the bytes a report would send.
            enable_reports();
            let dir = std::env::temp_dir().join(format!("otlp-dry-run-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("report.pb");
            let reporter = Reporter::builder("https://collector.example.com/v1/metrics")
                .format(ReportFormat::Otlp(Protocol::HttpProtobuf))
                .first_report_jitter(Duration::ZERO)
                .dry_run(DryRun::File(path.clone()))
                .start()
                .unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while reporter.status().reports_sent == 0 {
                assert!(std::time::Instant::now() < deadline, "no dry run report");
                std::thread::sleep(Duration::from_millis(10));
            }
            reporter.shutdown();
            let written = std::fs::read(&path).unwrap();
            let request = ExportMetricsServiceRequest::decode(&written[..]).unwrap();
            check_anonymized_report(&request, &written);
            let _ = std::fs::remove_dir_all(dir);
        },
    );
}
