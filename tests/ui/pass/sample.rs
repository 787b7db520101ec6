//! `sample` on a fn, an async fn, an `impl` and a trait, overridden by a
//! method's own attribute; `sample = 1` and `sample = 4294967295` are accepted.
use telemetry::timed;

#[timed(sample = 16)]
fn hot(x: u64) -> Result<u64, String> {
    Ok(x)
}

#[timed(sample = 1)]
fn every_call() {}

#[timed(sample = 4294967295, name = "rare")]
async fn rarely() {}

struct Store;

#[timed(sample = 8)]
impl Store {
    fn get(&self) {}

    #[timed(sample = 2)]
    fn put(&self) {}

    #[telemetry::counted]
    fn stays_sampled(&self) {}
}

#[timed(sample = 8)]
trait Reader {
    fn read(&self) -> u8 {
        0
    }
}

impl Reader for Store {}

fn main() {
    let _ = hot(1);
    every_call();
    let _ = rarely();
    Store.get();
    Store.put();
    Store.stays_sampled();
    let _ = Store.read();
}
