use telemetry::{counted, timed};

#[counted(sample = 16)]
fn counted_fn() {}

struct Store;

#[counted(sample = 16)]
impl Store {
    fn get(&self) {}
}

struct Cache;

#[timed]
impl Cache {
    #[counted(sample = 4)]
    fn get(&self) {}
}

fn main() {
    counted_fn();
    Store.get();
    Cache.get();
}
