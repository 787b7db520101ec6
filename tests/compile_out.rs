//! With the `compile-out` feature the attributes emit fns unchanged: nothing is
//! registered or recorded, and the fns behave as before.
//!
//! Run with `cargo test --features compile-out --test compile_out`; without the
//! feature this file holds no test (every other test needs instrumentation on).
#![cfg(feature = "compile-out")]

use telemetry::{counted, timed};

#[timed(name = "still.checked")]
fn doubled(x: u32) -> Result<u32, String> {
    x.checked_mul(2).ok_or_else(|| "overflow".to_owned())
}

struct Counter(u32);

#[counted]
impl Counter {
    fn bump(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

#[test]
fn instrumentation_disappears_and_behaviour_stays() {
    assert_eq!(doubled(21), Ok(42));
    assert!(doubled(u32::MAX).is_err());
    let mut counter = Counter(0);
    assert_eq!(counter.bump(), 1);
    let snapshot = telemetry::snapshot();
    assert!(
        snapshot.functions.is_empty(),
        "{:?}",
        snapshot.functions.keys()
    );
    assert_eq!(snapshot.schema_version, 2);
}
