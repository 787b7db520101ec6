//! The Prometheus text exposition format (version 0.0.4) of a snapshot, for a
//! `/metrics` endpoint.

use crate::snapshot::{FunctionStats, Latency, Snapshot};

/// Metric names, one family each.
const CALLS: &str = "telemetry_calls_total";
const IN_FLIGHT: &str = "telemetry_calls_in_flight";
const DURATION: &str = "telemetry_call_duration_seconds";
const BUILD_INFO: &str = "telemetry_build_info";

/// Upper bounds of the latency histogram's `le` buckets, in nanoseconds: 1, 2.5
/// and 5 per decade from 100 ns to 10 s.
///
/// Fixed rather than taken from the snapshot's own buckets, which are the
/// non-empty ones of the moment: a series must keep its `le` set from one scrape
/// to the next and across processes, or `histogram_quantile` over a `sum by (le)`
/// mixes buckets that do not line up.
pub const LATENCY_BUCKETS_NS: [u64; 25] = [
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

impl Snapshot {
    /// The snapshot in the Prometheus text exposition format 0.0.4, the body of
    /// a `/metrics` response (content type `text/plain; version=0.0.4;
    /// charset=utf-8`).
    ///
    /// Families, each with one `# HELP` and one `# TYPE` line:
    ///
    /// - `telemetry_calls_total{function, result}` (counter): finished calls by
    ///   `result`, one of `ok`, `err`, `panic`, `cancelled`. Every fn has all four
    ///   series, zeros included, so dashboards see no gaps.
    /// - `telemetry_calls_in_flight{function}` (gauge): calls running now, so
    ///   calls started = the sum over `result` + in flight.
    /// - `telemetry_call_duration_seconds{function, le}` (histogram) for
    ///   `#[timed]` fns from [`DetailsLevel::Summaries`](crate::DetailsLevel) on:
    ///   the `le` buckets of [`LATENCY_BUCKETS_NS`] (from 100 ns to 10 s) and
    ///   `+Inf`, `_sum` and `_count`. The buckets need a snapshot at
    ///   [`DetailsLevel::Full`](crate::DetailsLevel) (what
    ///   [`snapshot()`](crate::snapshot()) takes); from a level 2 snapshot only
    ///   `+Inf` is written. Each of the snapshot's ~1 %-wide buckets counts in the
    ///   smallest `le` at or above its upper bound, so a latency within 1 % under
    ///   a bound may count in the next one up; none ever counts under a bound it
    ///   exceeds.
    ///   For a sampled fn (`#[timed(sample = N)]`, [`Latency::sample`]) the
    ///   histogram holds its timed calls only: `_count` is their number, about
    ///   `1/N` of the calls in `telemetry_calls_total`, and `rate(_sum) /
    ///   rate(_count)` is still the mean latency.
    /// - `telemetry_build_info{app, version}` (gauge, always 1): the app's name
    ///   and version from [`set_app_info`](crate::set_app_info).
    ///
    /// Label values are escaped (`\\`, `\"`, `\n`), so any fn name is safe.
    ///
    /// ```
    /// #[telemetry::timed(name = "db.query")]
    /// fn query(sql: &str) -> Result<usize, String> {
    ///     if sql.is_empty() { Err("empty query".into()) } else { Ok(sql.len()) }
    /// }
    ///
    /// query("select 1").unwrap();
    /// let text = telemetry::snapshot().to_prometheus();
    /// assert!(text.contains("# TYPE telemetry_calls_total counter\n"));
    /// assert!(text.contains("telemetry_calls_total{function=\"db.query\",result=\"ok\"} 1\n"));
    /// assert!(text.contains("telemetry_calls_total{function=\"db.query\",result=\"err\"} 0\n"));
    /// assert!(text.contains("telemetry_call_duration_seconds_count{function=\"db.query\"} 1\n"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = Exposition::default();
        // About 30 lines of 80 bytes per timed fn.
        out.text.reserve(256 + self.functions.len() * 2400);

        if !self.functions.is_empty() {
            out.family(
                CALLS,
                "counter",
                "Finished calls of an instrumented fn by result: ok (returned a \
                 non-error value), err (returned an error value), panic (unwound), \
                 cancelled (an async call dropped before completing).",
            );
            for (name, stats) in &self.functions {
                let FunctionStats {
                    ok,
                    err,
                    panics,
                    cancelled,
                    ..
                } = *stats;
                for (result, count) in [
                    ("ok", ok),
                    ("err", err),
                    ("panic", panics),
                    ("cancelled", cancelled),
                ] {
                    out.sample(CALLS, &[("function", name), ("result", result)], count);
                }
            }

            out.family(
                IN_FLIGHT,
                "gauge",
                "Calls of an instrumented fn that started and have not finished.",
            );
            for (name, stats) in &self.functions {
                out.sample(IN_FLIGHT, &[("function", name)], stats.in_flight);
            }
        }

        let mut timed = self
            .functions
            .iter()
            .filter_map(|(name, stats)| Some((name, stats.latency_ns.as_ref()?)))
            .peekable();
        if timed.peek().is_some() {
            out.family(
                DURATION,
                "histogram",
                "Latency of the finished calls (ok, err and panic) of a #[timed] fn; of a random one in about N of them for #[timed(sample = N)].",
            );
            for (name, latency) in timed {
                out.histogram(name, latency);
            }
        }

        out.family(
            BUILD_INFO,
            "gauge",
            "The application's name and version, as labels; the value is always 1.",
        );
        out.sample(
            BUILD_INFO,
            &[("app", &self.app.name), ("version", &self.app.version)],
            1,
        );
        out.text
    }
}

/// A text exposition being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.text.push_str("# HELP ");
        self.text.push_str(name);
        self.text.push(' ');
        push_escaped(&mut self.text, help, false);
        self.text.push_str("\n# TYPE ");
        self.text.push_str(name);
        self.text.push(' ');
        self.text.push_str(kind);
        self.text.push('\n');
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        use std::fmt::Write;
        self.text.push_str(name);
        self.text.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.text.push_str(label);
            self.text.push_str("=\"");
            push_escaped(&mut self.text, value, true);
            self.text.push('"');
        }
        // Writing into a `String` cannot fail.
        let _ = writeln!(self.text, "}} {value}");
    }

    fn histogram(&mut self, function: &str, latency: &Latency) {
        let name = |suffix: &str| format!("{DURATION}{suffix}");
        let bucket = name("_bucket");
        if let Some(buckets) = &latency.buckets {
            let per_bound = per_bound_counts(buckets, latency.count);
            let mut cumulative = 0u64;
            for (&le, count) in LATENCY_BUCKETS_NS.iter().zip(per_bound) {
                cumulative += count;
                let le = seconds(le);
                self.sample(&bucket, &[("function", function), ("le", &le)], cumulative);
            }
        }
        self.sample(
            &bucket,
            &[("function", function), ("le", "+Inf")],
            latency.count,
        );
        let sum_ns = latency_sum_ns(latency);
        self.sample(&name("_sum"), &[("function", function)], seconds(sum_ns));
        self.sample(&name("_count"), &[("function", function)], latency.count);
    }
}

/// The snapshot's latency buckets counted per bound of [`LATENCY_BUCKETS_NS`]
/// (each in the smallest bound at or above its upper bound), then past the last
/// bound; not cumulative. They add up to `count` exactly, whatever a hand-made
/// snapshot holds: never more in the bounds than `count`, the rest past them.
/// Prometheus and OTLP histograms share it, so their buckets agree.
pub(crate) fn per_bound_counts(
    buckets: &[(u64, u64)],
    count: u64,
) -> [u64; LATENCY_BUCKETS_NS.len() + 1] {
    let mut counts = [0u64; LATENCY_BUCKETS_NS.len() + 1];
    for &(upper_ns, n) in buckets {
        let bound = LATENCY_BUCKETS_NS
            .iter()
            .position(|&le| le >= upper_ns)
            .unwrap_or(LATENCY_BUCKETS_NS.len());
        counts[bound] = counts[bound].saturating_add(n);
    }
    let mut left = count;
    for counted in &mut counts[..LATENCY_BUCKETS_NS.len()] {
        *counted = (*counted).min(left);
        left -= *counted;
    }
    counts[LATENCY_BUCKETS_NS.len()] = left;
    counts
}

/// The exact sum of the latencies; snapshots of versions without `sum` have
/// only the rounded mean.
pub(crate) fn latency_sum_ns(latency: &Latency) -> u64 {
    latency
        .sum
        .unwrap_or_else(|| latency.mean.saturating_mul(latency.count))
}

/// Escapes `\` and newlines (HELP text), and `"` too in label values, as the
/// format requires; everything else, any UTF-8, is written as it is.
fn push_escaped(out: &mut String, text: &str, label_value: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if label_value => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Nanoseconds as an exact decimal number of seconds: `2500` is `0.0000025`,
/// `1_000_000_000` is `1`. Exact where a float would print `2.5e-6` or round.
fn seconds(ns: u64) -> String {
    let (whole, fraction) = (ns / 1_000_000_000, ns % 1_000_000_000);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Kind;
    use crate::snapshot::DetailsLevel;
    use crate::AppInfo;

    fn stats(kind: Kind, latency: Option<Latency>) -> FunctionStats {
        FunctionStats {
            latency_ns: latency,
            ..FunctionStats::none_counted(kind)
        }
    }

    fn latency(count: u64, sum: u64, buckets: Option<Vec<(u64, u64)>>) -> Latency {
        Latency {
            count,
            sample: None,
            min: 0,
            max: 0,
            mean: sum.checked_div(count).unwrap_or(0),
            sum: Some(sum),
            p50: 0,
            p90: 0,
            p99: 0,
            p999: 0,
            buckets,
        }
    }

    /// A snapshot holding just `functions`, as the registry of this test binary
    /// has no instrumented fn.
    fn snapshot_of(functions: Vec<(&str, FunctionStats)>) -> Snapshot {
        let mut snapshot = Snapshot::take(DetailsLevel::Instance);
        snapshot.details_level = DetailsLevel::Full;
        snapshot.app = AppInfo::new("shop", "1.2.3");
        snapshot.functions = functions
            .into_iter()
            .map(|(name, stats)| (name.to_owned(), stats))
            .collect();
        snapshot
    }

    fn lines_starting<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(100), "0.0000001");
        assert_eq!(seconds(2_500), "0.0000025");
        assert_eq!(seconds(1_000_000_000), "1");
        assert_eq!(seconds(12_345_678_901), "12.345678901");
        assert_eq!(seconds(u64::MAX), "18446744073.709551615");
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let name = "we\\ird \"name\"\nline two ✓";
        let text = snapshot_of(vec![(name, stats(Kind::Counted, None))]).to_prometheus();
        let expected = r#"telemetry_calls_in_flight{function="we\\ird \"name\"\nline two ✓"} 0"#;
        assert!(text.lines().any(|l| l == expected), "{text}");
        // The raw newline never reaches the output: every line is a comment or a sample.
        for line in text.lines() {
            assert!(
                line.starts_with("# ") || line.starts_with("telemetry_"),
                "{line:?}"
            );
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn app_labels_are_escaped_too() {
        let mut snapshot = snapshot_of(vec![]);
        snapshot.app = AppInfo::new("a\"b", "1\\2");
        let text = snapshot.to_prometheus();
        assert!(
            text.contains(r#"telemetry_build_info{app="a\"b",version="1\\2"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn help_and_type_once_per_family_before_its_samples() {
        let text = snapshot_of(vec![
            (
                "a::timed",
                stats(Kind::Timed, Some(latency(0, 0, Some(vec![])))),
            ),
            ("b::counted", stats(Kind::Counted, None)),
            (
                "c::timed",
                stats(Kind::Timed, Some(latency(0, 0, Some(vec![])))),
            ),
        ])
        .to_prometheus();
        let families = [
            (CALLS, "counter"),
            (IN_FLIGHT, "gauge"),
            (DURATION, "histogram"),
            (BUILD_INFO, "gauge"),
        ];
        for (name, kind) in families {
            let help = lines_starting(&text, &format!("# HELP {name} "));
            let types = lines_starting(&text, &format!("# TYPE {name} "));
            assert_eq!(help.len(), 1, "{name}: {text}");
            assert_eq!(types, [format!("# TYPE {name} {kind}")], "{text}");
        }
        // Each family's lines are contiguous, in the order above.
        let mut seen = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let family = families
                .iter()
                .position(|(name, _)| line.starts_with(name))
                .unwrap();
            if seen.last() != Some(&family) {
                assert!(!seen.contains(&family), "{text}");
                seen.push(family);
            }
        }
        assert_eq!(seen, [0, 1, 2, 3]);
    }

    #[test]
    fn every_fn_has_every_series_with_zeros() {
        let text = snapshot_of(vec![
            (
                "idle::timed",
                stats(Kind::Timed, Some(latency(0, 0, Some(vec![])))),
            ),
            ("idle::counted", stats(Kind::Counted, None)),
        ])
        .to_prometheus();
        for function in ["idle::timed", "idle::counted"] {
            for result in ["ok", "err", "panic", "cancelled"] {
                let line = format!("{CALLS}{{function=\"{function}\",result=\"{result}\"}} 0");
                assert!(text.lines().any(|l| l == line), "{line} in {text}");
            }
            let line = format!("{IN_FLIGHT}{{function=\"{function}\"}} 0");
            assert!(text.lines().any(|l| l == line), "{text}");
        }
        let buckets = lines_starting(
            &text,
            "telemetry_call_duration_seconds_bucket{function=\"idle::timed\"",
        );
        assert_eq!(buckets.len(), LATENCY_BUCKETS_NS.len() + 1);
        assert!(buckets.iter().all(|l| l.ends_with(" 0")), "{buckets:?}");
        assert!(text.contains("telemetry_call_duration_seconds_sum{function=\"idle::timed\"} 0\n"));
        assert!(
            text.contains("telemetry_call_duration_seconds_count{function=\"idle::timed\"} 0\n")
        );
        // A counted fn has no histogram.
        assert!(!text.contains("_bucket{function=\"idle::counted\""));
    }

    #[test]
    fn counters_by_result() {
        let mut counted = stats(Kind::Counted, None);
        (counted.calls, counted.ok, counted.err) = (12, 7, 2);
        (counted.panics, counted.cancelled, counted.in_flight) = (1, 1, 1);
        let text = snapshot_of(vec![("shop::pay", counted)]).to_prometheus();
        let samples = lines_starting(&text, "telemetry_calls");
        assert_eq!(
            samples,
            [
                r#"telemetry_calls_total{function="shop::pay",result="ok"} 7"#,
                r#"telemetry_calls_total{function="shop::pay",result="err"} 2"#,
                r#"telemetry_calls_total{function="shop::pay",result="panic"} 1"#,
                r#"telemetry_calls_total{function="shop::pay",result="cancelled"} 1"#,
                r#"telemetry_calls_in_flight{function="shop::pay"} 1"#,
            ]
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_in_fixed_bounds() {
        // 3 calls of ~150 ns, 2 of ~1 µs (bucket bound 1007 ns: above 1 µs, so
        // in 2.5 µs), 1 of exactly 5 µs, 1 of 20 s (past the last bound).
        let buckets = vec![(151, 3), (1007, 2), (5_000, 1), (20_000_000_000, 1)];
        let sum = 3 * 150 + 2 * 1_000 + 5_000 + 20_000_000_000;
        let timed = stats(Kind::Timed, Some(latency(7, sum, Some(buckets))));
        let text = snapshot_of(vec![("shop::get", timed)]).to_prometheus();
        let values: Vec<(String, u64)> =
            lines_starting(&text, "telemetry_call_duration_seconds_bucket")
                .iter()
                .map(|line| {
                    let le = line
                        .split("le=\"")
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap();
                    let value = line.rsplit(' ').next().unwrap().parse().unwrap();
                    (le.to_owned(), value)
                })
                .collect();
        let at = |le: &str| values.iter().find(|(l, _)| l == le).unwrap().1;
        assert_eq!(values.len(), LATENCY_BUCKETS_NS.len() + 1);
        assert_eq!(values.last().unwrap(), &("+Inf".to_owned(), 7));
        assert_eq!(at("0.0000001"), 0);
        assert_eq!(at("0.00000025"), 3);
        assert_eq!(at("0.000001"), 3);
        assert_eq!(at("0.0000025"), 5);
        assert_eq!(at("0.000005"), 6);
        assert_eq!(at("10"), 6);
        assert!(values.windows(2).all(|w| w[0].1 <= w[1].1), "{values:?}");
        assert!(text
            .contains("telemetry_call_duration_seconds_sum{function=\"shop::get\"} 20.00000745\n"));
        assert!(text.contains("telemetry_call_duration_seconds_count{function=\"shop::get\"} 7\n"));
    }

    #[test]
    fn without_buckets_or_sum_the_histogram_keeps_what_it_can() {
        let mut summary = latency(4, 4_000, None);
        summary.sum = None;
        let text =
            snapshot_of(vec![("shop::get", stats(Kind::Timed, Some(summary)))]).to_prometheus();
        assert_eq!(
            lines_starting(&text, "telemetry_call_duration_seconds"),
            [
                r#"telemetry_call_duration_seconds_bucket{function="shop::get",le="+Inf"} 4"#,
                r#"telemetry_call_duration_seconds_sum{function="shop::get"} 0.000004"#,
                r#"telemetry_call_duration_seconds_count{function="shop::get"} 4"#,
            ]
        );
    }

    #[test]
    fn a_level_0_snapshot_has_only_the_build_info() {
        let mut snapshot = snapshot_of(vec![]);
        snapshot.details_level = DetailsLevel::Instance;
        assert_eq!(
            snapshot.to_prometheus(),
            "# HELP telemetry_build_info The application's name and version, as labels; \
             the value is always 1.\n\
             # TYPE telemetry_build_info gauge\n\
             telemetry_build_info{app=\"shop\",version=\"1.2.3\"} 1\n"
        );
    }

    #[test]
    fn latency_without_sum_still_deserializes() {
        let json = r#"{"count":2,"min":1,"max":3,"mean":2,"p50":1,"p90":3,"p99":3,"p999":3}"#;
        let latency: Latency = serde_json::from_str(json).unwrap();
        assert_eq!((latency.sum, latency.buckets), (None, None));
    }
}
