//! Benchmarking your own instrumented hot path with criterion: a template to copy.
//!
//! ```text
//! cargo bench --bench hot_path -- --save-baseline instrumented
//! cargo bench --bench hot_path --features compile-out -- --baseline instrumented
//! ```
//!
//! The first run measures `parse_order` with `#[timed]` on, as it runs in
//! production, and saves criterion's estimates as the `instrumented` baseline. The
//! second compiles the attribute out and compares against that baseline: the
//! change criterion prints is what the instrumentation costs on this path.
//!
//! Criterion times batches of calls and reports their mean per call; it cannot
//! see single slow calls. `#[timed]` recorded every call of the same run, so after
//! measuring, the bench reads the tail (p99, p999, max) from `snapshot()`. The
//! counts include criterion's warm-up and every sample: billions of calls are fine
//! (the counters are `u64` and a call costs the same at any count).
//!
//! See `docs/criterion.md` for the walk-through.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use telemetry::timed;

/// An order line such as `id=42;sku=A-7;qty=3;price=1999`.
#[derive(Debug, PartialEq)]
struct Order {
    id: u64,
    quantity: u32,
    price_cents: u64,
}

#[derive(Debug)]
enum ParseError {
    MissingField(&'static str),
    BadNumber,
}

/// The hot path under test: parses one order line.
#[timed]
fn parse_order(line: &str) -> Result<Order, ParseError> {
    let (mut id, mut quantity, mut price_cents) = (None, None, None);
    for field in line.split(';') {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        let number = || value.parse::<u64>().map_err(|_| ParseError::BadNumber);
        match key {
            "id" => id = Some(number()?),
            "qty" => quantity = Some(number()? as u32),
            "price" => price_cents = Some(number()?),
            _ => {}
        }
    }
    Ok(Order {
        id: id.ok_or(ParseError::MissingField("id"))?,
        quantity: quantity.ok_or(ParseError::MissingField("qty"))?,
        price_cents: price_cents.ok_or(ParseError::MissingField("price"))?,
    })
}

/// Typical input: mostly short lines, one in 64 with a long note (the tail).
fn inputs() -> Vec<String> {
    (0..64)
        .map(|i| {
            let note = if i == 63 {
                "x".repeat(4000)
            } else {
                String::new()
            };
            format!(
                "id={i};sku=A-{i};note={note};qty={};price={}",
                i % 5 + 1,
                100 * i
            )
        })
        .collect()
}

fn hot_path(c: &mut Criterion) {
    let order = parse_order("id=7;qty=2;price=350").unwrap();
    assert_eq!((order.id, order.quantity, order.price_cents), (7, 2, 350));
    assert!(matches!(
        parse_order("id=7;qty=2"),
        Err(ParseError::MissingField("price"))
    ));
    assert!(matches!(parse_order("id=x"), Err(ParseError::BadNumber)));

    let inputs = inputs();
    let mut next = inputs.iter().cycle();
    c.bench_function("parse_order", |b| {
        b.iter(|| parse_order(black_box(next.next().unwrap())))
    });

    // The same run, seen by `#[timed]`: every call, tail included.
    let snapshot = telemetry::snapshot();
    match snapshot
        .functions
        .get(concat!(module_path!(), "::parse_order"))
    {
        Some(stats) => {
            let latency = stats.latency_ns.as_ref().expect("a timed fn");
            println!(
                "parse_order per #[timed]: {} calls ({} ok, {} err); latency ns: \
                 p50 {}, p90 {}, p99 {}, p999 {}, max {}, mean {}",
                stats.calls,
                stats.ok,
                stats.err,
                latency.p50,
                latency.p90,
                latency.p99,
                latency.p999,
                latency.max,
                latency.mean,
            );
        }
        None => println!("parse_order: instrumentation compiled out, no latencies recorded"),
    }
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
