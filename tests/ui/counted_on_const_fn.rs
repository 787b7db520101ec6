use telemetry::counted;

#[counted]
const fn limit() -> usize {
    10
}

fn main() {
    let _ = limit();
}
