//! A snapshot as an OTLP `ExportMetricsServiceRequest`, built with the official
//! message definitions (the `opentelemetry-proto` crate's prost types) and
//! written as binary protobuf or as OTLP JSON. The metrics and their names are
//! listed in [the module docs](crate::otlp).

use std::sync::OnceLock;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::export::{latency_sum_ns, per_bound_counts, LATENCY_BUCKETS_NS};
use crate::instance::{instance_id, uptime};
use crate::snapshot::{FunctionStats, Latency, Snapshot};

use super::Protocol;

/// The metric names.
const CALLS: &str = "telemetry.calls";
const IN_FLIGHT: &str = "telemetry.calls.in_flight";
const DURATION: &str = "telemetry.call.duration";

/// The exponential histogram's scale: buckets `(2^(i/64), 2^((i+1)/64)]`
/// seconds, 1.09 % wide, as fine as the snapshot's own buckets (at most 1/64 of
/// their lower bound wide), so quantiles keep their precision.
pub const EXPONENTIAL_SCALE: i32 = 6;

/// How latency histograms are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HistogramKind {
    /// A Histogram with the fixed bounds of the Prometheus exposition
    /// ([`LATENCY_BUCKETS_NS`], 100 ns to 10 s, in seconds), so series line
    /// up across processes and with `/metrics`.
    #[default]
    Explicit,
    /// An ExponentialHistogram at scale [`EXPONENTIAL_SCALE`], built from the
    /// snapshot's own buckets: finer, and quantiles within about 1 %.
    Exponential,
}

/// What [`encode`] writes besides the snapshot itself.
///
/// ```
/// use telemetry::otlp::{HistogramKind, Options};
///
/// let options = Options::default()
///     .histogram(HistogramKind::Exponential)
///     .idle_functions(true)
///     .resource_attribute("deployment.environment.name", "staging");
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    histogram: HistogramKind,
    idle_functions: bool,
    resource: Vec<(String, String)>,
}

impl Options {
    /// How latency is written. Default: [`HistogramKind::Explicit`].
    pub fn histogram(mut self, kind: HistogramKind) -> Self {
        self.histogram = kind;
        self
    }

    /// Whether fns never called (no call started yet) get data points, all
    /// zero. Default: no, so idle code costs the collector nothing.
    pub fn idle_functions(mut self, include: bool) -> Self {
        self.idle_functions = include;
        self
    }

    /// Adds a resource attribute, or replaces one of the same key (the
    /// defaults `service.name`, `service.version`, … included).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.resource.retain(|(k, _)| *k != key);
        self.resource.push((key, value.into()));
        self
    }
}

/// The snapshot as the body of an OTLP/HTTP metrics export, in `protocol`'s
/// encoding (protobuf or OTLP JSON).
///
/// The resource has `service.name` and `service.version` (the snapshot's app
/// name and version), `service.instance.id` (its instance id) and
/// `telemetry.sdk.name` / `.language` / `.version` naming this library, then
/// the [`Options::resource_attribute`]s. Each point's `startTimeUnixNano` is
/// the process start, `timeUnixNano` the snapshot's time. See [the
/// module](crate::otlp) for the metrics.
///
/// ```
/// use telemetry::otlp::{encode, Options, Protocol};
///
/// #[telemetry::timed]
/// fn work() {}
///
/// work();
/// let json = encode(&telemetry::snapshot(), &Options::default(), Protocol::HttpJson);
/// let text = String::from_utf8(json).unwrap();
/// assert!(text.contains(r#""name":"telemetry.calls""#));
/// ```
pub fn encode(snapshot: &Snapshot, options: &Options, protocol: Protocol) -> Vec<u8> {
    let request = request(snapshot, options);
    match protocol {
        Protocol::HttpProtobuf => request.encode_to_vec(),
        // The generated types' serde implementation follows the OTLP JSON
        // rules (lowerCamelCase keys, enums as numbers, 64-bit integers as
        // decimal strings); the Python checker of the test suite parses it
        // with the official definitions to keep it that way.
        Protocol::HttpJson => serde_json::to_vec(&request).expect("OTLP messages always serialize"),
    }
}

/// The request [`encode`] writes.
pub(crate) fn request(snapshot: &Snapshot, options: &Options) -> ExportMetricsServiceRequest {
    let times = Times::of(snapshot);
    let functions: Vec<(&str, &FunctionStats)> = snapshot
        .functions
        .iter()
        .filter(|(_, stats)| options.idle_functions || stats.calls > 0 || stats.in_flight > 0)
        .map(|(name, stats)| (name.as_str(), stats))
        .collect();

    let mut metrics = Vec::new();
    if !functions.is_empty() {
        let calls = functions
            .iter()
            .flat_map(|&(name, stats)| {
                [
                    ("ok", stats.ok),
                    ("err", stats.err),
                    ("panic", stats.panics),
                    ("cancelled", stats.cancelled),
                ]
                .map(|(result, count)| {
                    number(
                        times,
                        vec![text("function", name), text("result", result)],
                        count,
                    )
                })
            })
            .collect();
        metrics.push(metric(
            CALLS,
            "Finished calls of an instrumented fn by result: ok (returned a non-error \
             value), err (returned an error value), panic (unwound), cancelled (an async \
             call dropped before completing).",
            "{call}",
            sum(calls, true),
        ));
        let in_flight = functions
            .iter()
            .map(|&(name, stats)| number(times, vec![text("function", name)], stats.in_flight))
            .collect();
        metrics.push(metric(
            IN_FLIGHT,
            "Calls of an instrumented fn that started and have not finished.",
            "{call}",
            sum(in_flight, false),
        ));
    }

    let timed: Vec<(&str, &Latency)> = functions
        .iter()
        .filter_map(|&(name, stats)| Some((name, stats.latency_ns.as_ref()?)))
        .collect();
    if !timed.is_empty() {
        let temporality = AggregationTemporality::Cumulative as i32;
        let data = match options.histogram {
            HistogramKind::Explicit => Data::Histogram(Histogram {
                data_points: timed
                    .iter()
                    .map(|&(name, latency)| explicit(times, name, latency))
                    .collect(),
                aggregation_temporality: temporality,
            }),
            HistogramKind::Exponential => Data::ExponentialHistogram(ExponentialHistogram {
                data_points: timed
                    .iter()
                    .map(|&(name, latency)| exponential(times, name, latency))
                    .collect(),
                aggregation_temporality: temporality,
            }),
        };
        metrics.push(metric(
            DURATION,
            "Latency of the finished calls (ok, err and panic) of a #[timed] fn; of a random one in about N of them for #[timed(sample = N)].",
            "s",
            data,
        ));
    }

    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource(snapshot, options),
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "telemetry".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..InstrumentationScope::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn resource(snapshot: &Snapshot, options: &Options) -> Vec<KeyValue> {
    let mut attributes = vec![
        text("service.name", &snapshot.app.name),
        text("service.version", &snapshot.app.version),
        text("service.instance.id", &snapshot.instance_id.to_string()),
        text("telemetry.sdk.name", "telemetry"),
        text("telemetry.sdk.language", "rust"),
        text("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    for (key, value) in &options.resource {
        match attributes
            .iter_mut()
            .find(|attribute| attribute.key == *key)
        {
            Some(attribute) => *attribute = text(key, value),
            None => attributes.push(text(key, value)),
        }
    }
    attributes
}

/// `startTimeUnixNano` and `timeUnixNano` of every point of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Times {
    start: u64,
    now: u64,
}

impl Times {
    fn of(snapshot: &Snapshot) -> Times {
        const NS_PER_MS: u64 = 1_000_000;
        let now = snapshot.taken_at_unix_ms.saturating_mul(NS_PER_MS);
        // A cumulative series whose start time moves reads as a reset, so this
        // process's live snapshots share one start time, fixed at first use;
        // any other snapshot (another process's, or an anonymized one, whose
        // times are coarsened) states its own.
        let start = if !snapshot.anonymized && snapshot.instance_id == instance_id() {
            process_start_unix_ns()
        } else {
            snapshot
                .taken_at_unix_ms
                .saturating_sub(snapshot.uptime_ms)
                .saturating_mul(NS_PER_MS)
        };
        Times {
            start: start.min(now),
            now,
        }
    }
}

fn process_start_unix_ns() -> u64 {
    static START: OnceLock<u64> = OnceLock::new();
    *START.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        now.saturating_sub(uptime()).as_nanos() as u64
    })
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

fn metric(name: &str, description: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

fn sum(data_points: Vec<NumberDataPoint>, is_monotonic: bool) -> Data {
    Data::Sum(Sum {
        data_points,
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
        is_monotonic,
    })
}

fn number(times: Times, attributes: Vec<KeyValue>, value: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: times.start,
        time_unix_nano: times.now,
        // Counts beyond i64 (9.2e18 calls) are not reached in practice;
        // saturate rather than wrap if a hand-made snapshot holds one.
        value: Some(number_data_point::Value::AsInt(
            i64::try_from(value).unwrap_or(i64::MAX),
        )),
        ..NumberDataPoint::default()
    }
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// min and max exist only for a non-empty population.
fn min_max(latency: &Latency) -> (Option<f64>, Option<f64>) {
    if latency.count == 0 {
        (None, None)
    } else {
        (Some(seconds(latency.min)), Some(seconds(latency.max)))
    }
}

fn explicit(times: Times, function: &str, latency: &Latency) -> HistogramDataPoint {
    let (min, max) = min_max(latency);
    // Without the snapshot's buckets (a snapshot below details level 3) only
    // count and sum are known, which OTLP writes as no buckets and no bounds.
    let (bucket_counts, explicit_bounds) = match &latency.buckets {
        Some(buckets) => (
            per_bound_counts(buckets, latency.count).to_vec(),
            LATENCY_BUCKETS_NS.iter().map(|&ns| seconds(ns)).collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    HistogramDataPoint {
        attributes: vec![text("function", function)],
        start_time_unix_nano: times.start,
        time_unix_nano: times.now,
        count: latency.count,
        sum: Some(seconds(latency_sum_ns(latency))),
        bucket_counts,
        explicit_bounds,
        min,
        max,
        ..HistogramDataPoint::default()
    }
}

/// The index of the exponential bucket `(base^i, base^(i+1)]` holding `ns`
/// (in seconds), base `2^(2^-scale)`.
pub(crate) fn exponential_index(ns: u64) -> i32 {
    let scale = f64::from(1u32 << EXPONENTIAL_SCALE);
    (seconds(ns).log2() * scale).ceil() as i32 - 1
}

fn exponential(times: Times, function: &str, latency: &Latency) -> ExponentialHistogramDataPoint {
    let (min, max) = min_max(latency);
    let mut zero_count = 0;
    let mut positive: Option<Buckets> = None;
    // Each of the snapshot's buckets counts where its upper bound falls: as
    // fine as the snapshot's buckets, a bound is within about 1 % of every
    // latency it counts.
    for &(upper_ns, count) in latency.buckets.iter().flatten() {
        if upper_ns == 0 {
            zero_count += count;
            continue;
        }
        let index = exponential_index(upper_ns);
        let buckets = positive.get_or_insert_with(|| Buckets {
            offset: index,
            bucket_counts: Vec::new(),
        });
        // Upper bounds ascend, so indexes never go below the first one.
        let at = (index - buckets.offset) as usize;
        if buckets.bucket_counts.len() <= at {
            buckets.bucket_counts.resize(at + 1, 0);
        }
        buckets.bucket_counts[at] += count;
    }
    ExponentialHistogramDataPoint {
        attributes: vec![text("function", function)],
        start_time_unix_nano: times.start,
        time_unix_nano: times.now,
        count: latency.count,
        sum: Some(seconds(latency_sum_ns(latency))),
        scale: EXPONENTIAL_SCALE,
        zero_count,
        positive,
        min,
        max,
        zero_threshold: 0.0,
        ..ExponentialHistogramDataPoint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Kind;
    use crate::snapshot::DetailsLevel;

    #[test]
    fn exponential_indexes_hold_their_value() {
        let base = 2f64.powf(2f64.powi(-EXPONENTIAL_SCALE));
        for ns in [
            1,
            2,
            99,
            100,
            1_000,
            1_023,
            65_535,
            1_000_000_000,
            3_600_000_000_000,
        ] {
            let index = exponential_index(ns);
            let (low, high) = (base.powi(index), base.powi(index + 1));
            let value = seconds(ns);
            // Within float rounding of the bounds.
            assert!(
                value > low * (1.0 - 1e-12) && value <= high * (1.0 + 1e-12),
                "{ns}"
            );
        }
        assert_eq!(
            exponential_index(1_000_000_000),
            -1,
            "1 s is base^0's upper bound"
        );
    }

    #[test]
    fn a_snapshot_of_another_process_states_its_own_start() {
        let mut snapshot = Snapshot::take(DetailsLevel::Instance);
        snapshot.instance_id = uuid::Uuid::nil();
        snapshot.taken_at_unix_ms = 10_000;
        snapshot.uptime_ms = 4_000;
        let times = Times::of(&snapshot);
        assert_eq!((times.start, times.now), (6_000_000_000, 10_000_000_000));
        snapshot.uptime_ms = 20_000;
        assert_eq!(Times::of(&snapshot).start, 0);
    }

    #[test]
    fn this_process_keeps_one_start_time() {
        let first = Times::of(&Snapshot::take(DetailsLevel::Instance));
        let second = Times::of(&Snapshot::take(DetailsLevel::Instance));
        assert_eq!(first.start, second.start);
        assert!(first.start <= first.now);
    }

    #[test]
    fn idle_functions_are_left_out_unless_asked_for() {
        let mut snapshot = Snapshot::take(DetailsLevel::Instance);
        snapshot.details_level = DetailsLevel::Full;
        snapshot
            .functions
            .insert("idle".into(), FunctionStats::none_counted(Kind::Counted));
        let metrics = |options: &Options| {
            request(&snapshot, options).resource_metrics[0].scope_metrics[0]
                .metrics
                .len()
        };
        assert_eq!(metrics(&Options::default()), 0);
        assert_eq!(metrics(&Options::default().idle_functions(true)), 2);
    }

    #[test]
    fn resource_attributes_replace_the_defaults() {
        let snapshot = Snapshot::take(DetailsLevel::Instance);
        let options = Options::default()
            .resource_attribute("service.name", "checkout")
            .resource_attribute("region", "eu")
            .resource_attribute("region", "us");
        let attributes = resource(&snapshot, &options);
        let value = |key: &str| {
            let found: Vec<_> = attributes.iter().filter(|a| a.key == key).collect();
            assert_eq!(found.len(), 1, "{key}");
            match &found[0].value.as_ref().unwrap().value {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(value("service.name"), "checkout");
        assert_eq!(value("region"), "us");
        assert_eq!(value("service.instance.id"), instance_id().to_string());
        assert_eq!(value("telemetry.sdk.language"), "rust");
    }
}
