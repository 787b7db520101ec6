use telemetry::timed;

struct Store;

#[timed]
impl Store {
    fn get(&self) {}

    #[timed(skip, skip)]
    fn len(&self) -> usize {
        0
    }
}

fn main() {
    Store.get();
    Store.len();
}
