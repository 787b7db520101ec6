use telemetry::timed;

#[timed(name)]
fn query() {}

fn main() {
    query();
}
