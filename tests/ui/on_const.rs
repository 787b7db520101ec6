use telemetry::timed;

#[timed]
const LIMIT: usize = 10;

fn main() {
    let _ = LIMIT;
}
