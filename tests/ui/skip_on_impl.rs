use telemetry::timed;

struct Store;

#[timed(skip)]
impl Store {
    fn get(&self) {}
}

fn main() {
    Store.get();
}
