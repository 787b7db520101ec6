//! The anonymizer over arbitrary snapshot JSON: it never panics, and its output
//! holds no input string longer than 3 characters, only hashes, short numbers
//! and values of fixed sets (see `tests/support/leaks.rs`).
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
    let report = snapshot.anonymize();
    let output = serde_json::to_value(&report).expect("a snapshot always serializes");
    if let Err(leak) = leaks::check_no_leak(&input, &output, &[]) {
        panic!("{leak}");
    }
});
