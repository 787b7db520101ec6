//! The demo: a few instrumented fns (sync, async, fallible, methods), a short
//! workload on four threads, and the snapshot as JSON.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::collections::HashMap;

use telemetry::{counted, timed};

// The tests' executor: the examples use two of its parts.
#[allow(dead_code)]
#[path = "../tests/support/executor.rs"]
mod executor;
use executor::{block_on, YieldOnce};

/// A small in-memory store whose every method is counted and timed.
#[derive(Default)]
struct Store {
    items: HashMap<u64, String>,
}

#[timed]
impl Store {
    fn upsert(&mut self, id: u64, value: String) -> Result<(), StoreError> {
        if value.is_empty() {
            return Err(StoreError::Empty(id));
        }
        self.items.insert(id, value);
        Ok(())
    }

    fn get(&self, id: u64) -> Option<&str> {
        self.items.get(&id).map(String::as_str)
    }
}

#[derive(Debug)]
enum StoreError {
    Empty(u64),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Empty(id) => write!(f, "item {id} has an empty value"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Parses a query; `?` and early returns are counted like any other return.
#[timed(name = "quickstart::parse_query")]
fn parse_query(text: &str) -> Result<u64, std::num::ParseIntError> {
    let id = text.trim().parse::<u64>()?;
    Ok(id)
}

#[counted]
fn log_line(line: &str) -> usize {
    line.len()
}

/// An async fn: its latency runs from the first poll to completion.
#[timed]
async fn search(store_size: usize, needle: u64) -> Vec<u64> {
    YieldOnce::default().await;
    (0..store_size as u64).filter(|i| i % needle == 0).collect()
}

fn main() {
    telemetry::set_app_info(telemetry::app_info!()).expect("set once");

    let workers: Vec<_> = (0..4u64)
        .map(|worker| {
            std::thread::spawn(move || {
                let mut store = Store::default();
                for i in 0..2_500u64 {
                    let value = if i % 100 == 0 {
                        String::new()
                    } else {
                        format!("item {i}")
                    };
                    let _ = store.upsert(i, value);
                    let _ = store.get(i / 2);
                    let _ = parse_query(if i % 50 == 0 { "not a number" } else { "42" });
                    log_line("request served");
                }
                block_on(search(1_000 + worker as usize, 7)).len()
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker finished");
    }

    println!("{}", telemetry::snapshot().to_json_pretty());
}
