//! The anonymizer over arbitrary snapshot JSON: it never panics, its output
//! holds no input string longer than 3 characters, only hashes, short numbers
//! and values of fixed sets, and it holds no hash of any text that exists only
//! at run time (panic messages, thread names, fact values outside their
//! declared set; see `tests/support/leaks.rs`), nor of any candidate made by
//! putting the numbers 0 to 1,000 into the messages' digit runs: a message
//! `account 48213 not found` gives `account 0 not found`, … as an attacker
//! with the key would enumerate them.
//!
//! Run from the repository root (`RUSTC_BOOTSTRAP=1` lets a stable toolchain
//! take cargo-fuzz's nightly flags):
//!
//! ```sh
//! mkdir -p fuzz/corpus/anonymize
//! cargo fuzz run anonymize fuzz/corpus/anonymize fuzz/seeds/anonymize -- \
//!     -dict=fuzz/anonymize.dict -max_total_time=60
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[path = "../../tests/support/leaks.rs"]
mod leaks;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(snapshot) = serde_json::from_value::<telemetry::Snapshot>(input.clone()) else {
        return;
    };
    let anonymizer = telemetry::anonymize::current();
    let report = anonymizer.anonymize(&snapshot);
    let output = serde_json::to_value(&report).expect("a snapshot always serializes");
    if let Err(leak) = leaks::check_no_leak(&input, &output, &[]) {
        panic!("{leak}");
    }
    let hash = |text: &str| anonymizer.hash(text);
    if let Err(leak) = leaks::check_no_hash_of_run_time_text(&input, &output, hash) {
        panic!("{leak}");
    }
    let mut candidates = Vec::new();
    for error in &snapshot.critical_errors {
        if let Some(message) = &error.message {
            candidates.extend(templates_filled(message, 0..=1_000));
        }
    }
    if let Err(leak) = leaks::check_no_hash_of(&candidates, &output, hash) {
        panic!("{leak}");
    }
});

/// `message` with its first run of digits replaced by each of `numbers`: the
/// candidates of a template with one number in it.
fn templates_filled(message: &str, numbers: std::ops::RangeInclusive<u32>) -> Vec<String> {
    let Some(start) = message.find(|c: char| c.is_ascii_digit()) else {
        return Vec::new();
    };
    let end = message[start..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(message.len(), |len| start + len);
    numbers
        .map(|n| format!("{}{n}{}", &message[..start], &message[end..]))
        .collect()
}
