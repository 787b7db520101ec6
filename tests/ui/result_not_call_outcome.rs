use telemetry::timed;

#[timed(result)]
fn len(input: &str) -> usize {
    input.len()
}

fn main() {
    let _ = len("abc");
}
