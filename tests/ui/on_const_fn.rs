use telemetry::timed;

#[timed]
const fn limit() -> usize {
    10
}

fn main() {
    let _ = limit();
}
