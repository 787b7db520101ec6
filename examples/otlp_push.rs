//! Pushes this program's telemetry to an OpenTelemetry Collector over OTLP/HTTP,
//! configured by the standard environment variables.
//!
//! ```text
//! # a collector on this machine (docs/otel-collector.yaml), then:
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_METRIC_EXPORT_INTERVAL=1000 \
//!     cargo run --example otlp_push --features otlp -- 5
//! ```
//!
//! Arguments: the number of one-second rounds of work (default 10), and
//! `--exponential` for exponential latency histograms. At the end it shuts the
//! exporter down (one last export) and prints the final snapshot as JSON on
//! stdout, so what the collector received can be compared with it.

use std::process::ExitCode;
use std::time::Duration;

use telemetry::otlp::{Exporter, HistogramKind};
use telemetry::{counted, timed};

/// A lookup that fails for ids divisible by 10.
#[timed]
fn lookup(id: u64) -> Result<u64, String> {
    if id % 10 == 0 {
        return Err(format!("no item {id}"));
    }
    // A little work, so latencies spread over a few buckets.
    Ok((0..id % 500).fold(id, |acc, n| acc.wrapping_mul(31).wrapping_add(n)))
}

#[counted]
fn audit(id: u64) {
    std::hint::black_box(id);
}

/// Never called: left out of exports unless idle fns are asked for.
#[timed]
#[allow(dead_code)]
fn never_called() {}

fn main() -> ExitCode {
    let mut rounds = 10u64;
    let mut histogram = HistogramKind::Explicit;
    for argument in std::env::args().skip(1) {
        match argument.as_str() {
            "--exponential" => histogram = HistogramKind::Exponential,
            number => match number.parse() {
                Ok(n) => rounds = n,
                Err(_) => {
                    eprintln!("usage: otlp_push [ROUNDS] [--exponential]; got {number:?}");
                    return ExitCode::FAILURE;
                }
            },
        }
    }
    let _ = telemetry::set_app_info(telemetry::app_info!());

    // The environment first; the histogram kind from the command line.
    let exporter = match Exporter::from_env() {
        Ok(builder) => builder.histogram(histogram),
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let exporter = match exporter.start() {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };

    for round in 0..rounds {
        for id in round * 100..(round + 1) * 100 {
            let _ = lookup(id);
            if id % 4 == 0 {
                audit(id);
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }

    let outcome = exporter.shutdown();
    eprintln!("otlp_push: shut down: {outcome:?}");
    // The app's own view, for comparison with what the collector received.
    println!("{}", telemetry::snapshot().to_json());
    ExitCode::SUCCESS
}
