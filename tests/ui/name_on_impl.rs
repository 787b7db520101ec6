use telemetry::timed;

struct Store;

#[timed(name = "store")]
impl Store {
    fn get(&self) {}
}

fn main() {
    Store.get();
}
