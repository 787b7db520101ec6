use telemetry::timed;

#[timed(crate = "not a path!")]
fn query() {}

fn main() {
    query();
}
