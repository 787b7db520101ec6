use telemetry::timed;

struct Store;

#[timed]
impl Store {
    #[timed = "store.get"]
    fn get(&self) {}
}

fn main() {
    Store.get();
}
