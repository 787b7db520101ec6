use telemetry::timed;

trait Store {
    #[timed]
    fn get(&self, key: u64) -> Option<u64>;
}

#[timed]
trait Cache {
    #[timed(name = "cache.get")]
    fn get(&self, key: u64) -> Option<u64>;

    fn len(&self) -> usize {
        0
    }
}

fn main() {}
