use telemetry::timed;

#[timed(nmae = "x")]
fn lookup() {}

fn main() {
    lookup();
}
