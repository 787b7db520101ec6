use telemetry::timed;

fn main() {
    let answer = #[timed] || 42;
    let _ = answer();
}
