use telemetry::timed;

#[timed(
    nmae = "x",
    name = 3,
    skip = true,
    result,
    no_result,
    crate = "not a path!"
)]
fn query() {}

fn main() {
    query();
}
