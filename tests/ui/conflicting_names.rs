use telemetry::{counted, timed};

#[timed(name = "a")]
#[counted(name = "b")]
fn query() {}

fn main() {
    query();
}
