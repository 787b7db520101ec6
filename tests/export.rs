//! The exports of a real instrumented program: Prometheus text that matches the
//! snapshot and that `promtool check metrics` accepts, and the answers of
//! `telemetry::http` to debug requests.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Once;

use support::counts::{expect_panic, named};
use support::executor::{block_on, poll_once, yield_once};
use telemetry::{counted, timed};

#[timed]
fn checkout(cart: u32) -> Result<u32, String> {
    match cart {
        0 => Err("empty cart".to_owned()),
        13 => panic!("unlucky cart"),
        n => Ok(n * 2),
    }
}

#[timed]
async fn fetch_price(item: u32) -> u32 {
    yield_once().await;
    item + 1
}

#[counted(name = "odd \"name\" with \\ and\na newline")]
fn oddly_named() {}

// Never called, so dead code, as it would be without the attribute.
#[timed]
#[allow(dead_code)]
fn never_called() {}

#[counted]
fn served() {}

const CHECKOUT: &str = named!("checkout");
const FETCH_PRICE: &str = named!("fetch_price");
const NEVER_CALLED: &str = named!("never_called");
const SERVED: &str = named!("served");

/// One call of each outcome, so every series has something to show; once per
/// process, as the tests that need it run in parallel.
fn exercise() {
    static ONCE: Once = Once::new();
    ONCE.call_once(exercise_once);
}

fn exercise_once() {
    checkout(1).unwrap();
    checkout(2).unwrap();
    checkout(0).unwrap_err();
    expect_panic(|| checkout(13));
    block_on(fetch_price(1));
    // Polled once, then dropped: cancelled.
    let mut cancelled = Box::pin(fetch_price(2));
    assert!(poll_once(cancelled.as_mut()).is_pending());
    drop(cancelled);
    oddly_named();
}

/// The value of the sample line `series` (name and labels as written).
fn value_of(text: &str, series: &str) -> String {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .to_owned()
}

#[test]
fn prometheus_text_matches_the_snapshot() {
    exercise();
    let snapshot = telemetry::snapshot();
    let text = snapshot.to_prometheus();

    let calls = |function: &str, result: &str| {
        let series =
            format!("telemetry_calls_total{{function=\"{function}\",result=\"{result}\"}}");
        value_of(&text, &series)
    };
    let checkout = &snapshot.functions[CHECKOUT];
    assert_eq!(
        (
            checkout.ok,
            checkout.err,
            checkout.panics,
            checkout.cancelled
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(calls(CHECKOUT, "ok"), "2");
    assert_eq!(calls(CHECKOUT, "err"), "1");
    assert_eq!(calls(CHECKOUT, "panic"), "1");
    assert_eq!(calls(CHECKOUT, "cancelled"), "0");
    assert_eq!(calls(FETCH_PRICE, "ok"), "1");
    assert_eq!(calls(FETCH_PRICE, "cancelled"), "1");
    assert_eq!(calls(r#"odd \"name\" with \\ and\na newline"#, "ok"), "1");
    for result in ["ok", "err", "panic", "cancelled"] {
        assert_eq!(calls(NEVER_CALLED, result), "0");
    }

    // The histogram of a timed fn: its count, cumulative buckets up to +Inf, the
    // snapshot's exact sum, between count × min and count × max.
    let latency = checkout.latency_ns.as_ref().unwrap();
    let histogram = |suffix: &str, labels: &str| {
        value_of(
            &text,
            &format!("telemetry_call_duration_seconds{suffix}{{function=\"{CHECKOUT}\"{labels}}}"),
        )
    };
    assert_eq!(histogram("_count", ""), "4");
    assert_eq!(histogram("_bucket", ",le=\"+Inf\""), "4");
    let sum_ns = latency.sum.unwrap();
    let sum_s: f64 = histogram("_sum", "").parse().unwrap();
    assert!(
        (sum_s * 1e9 - sum_ns as f64).abs() < 1.0,
        "{sum_s} s for {sum_ns} ns"
    );
    // Each figure is rounded to the ns on its own: allow 1 ns per call.
    assert!(
        4 * latency.min <= sum_ns + 4 && sum_ns <= 4 * latency.max + 4,
        "{latency:?}"
    );
    let buckets: Vec<u64> = text
        .lines()
        .filter(|l| {
            l.starts_with(&format!(
                "telemetry_call_duration_seconds_bucket{{function=\"{CHECKOUT}\""
            ))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        buckets.len(),
        telemetry::export::LATENCY_BUCKETS_NS.len() + 1
    );
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    // Every call took at least `min`, so none is counted under a smaller bound.
    let below_min = telemetry::export::LATENCY_BUCKETS_NS
        .iter()
        .take_while(|&&le| le < latency.min)
        .count();
    assert!(buckets[..below_min].iter().all(|&n| n == 0), "{buckets:?}");
    assert_eq!(
        value_of(
            &text,
            &format!("telemetry_call_duration_seconds_count{{function=\"{NEVER_CALLED}\"}}")
        ),
        "0"
    );
}

/// `promtool check metrics` (Debian's `prometheus` package) on this program's
/// metrics; skipped, saying so, where it is not installed.
#[test]
fn promtool_accepts_the_metrics() {
    exercise();
    telemetry::set_app_info(telemetry::AppInfo::new("export \"test\"", "0.0.0-dev")).ok();
    let text = telemetry::snapshot().to_prometheus();
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // Straight to stderr: the test harness would swallow eprintln!.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED promtool_accepts_the_metrics: promtool is not on PATH \
                 (apt-get install prometheus)"
            );
            return;
        }
        Err(error) => panic!("cannot run promtool: {error}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool check metrics: {}\n{said}\non:\n{text}",
        output.status
    );
}

#[test]
fn http_answers_with_the_instrumented_fns() {
    served();
    served();

    let answer = telemetry::http::respond("/telemetry?details_level=1");
    assert_eq!(
        (answer.status, answer.content_type),
        (200, "application/json")
    );
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(json["details_level"], 1);
    let served = &json["functions"][SERVED];
    assert_eq!(
        (served["calls"].as_u64(), served["ok"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(json["functions"][NEVER_CALLED]["latency_ns"].is_null());

    let answer = telemetry::http::respond("/telemetry");
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let latency = &json["functions"][NEVER_CALLED]["latency_ns"];
    assert_eq!(
        (latency["count"].as_u64(), latency["sum"].as_u64()),
        (Some(0), Some(0))
    );

    let answer = telemetry::http::respond("/metrics");
    assert_eq!(
        (answer.status, answer.content_type),
        (200, "text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(
        value_of(
            &answer.body,
            &format!("telemetry_calls_total{{function=\"{SERVED}\",result=\"ok\"}}")
        ),
        "2"
    );

    let answer = telemetry::http::respond("/telemetry?details_level=4");
    assert_eq!(answer.status, 400);
    assert!(
        answer.body.contains("expected 0 (instance)"),
        "{}",
        answer.body
    );
    let anonymized = telemetry::http::respond("/telemetry?anonymize=true");
    assert_eq!(anonymized.status, 200);
    assert!(
        !anonymized.body.contains(SERVED),
        "fn names are hashed: {}",
        anonymized.body
    );
}
