use telemetry::timed;

struct Store;

#[timed]
impl Store {
    // Left alone: an instrumented impl may hold const fns.
    const fn capacity() -> usize {
        10
    }

    #[timed(name = "store.limit")]
    const fn limit() -> usize {
        10
    }

    fn get(&self) {}
}

fn main() {
    let _ = Store::capacity() + Store::limit();
    Store.get();
}
