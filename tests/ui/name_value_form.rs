use telemetry::timed;

#[timed = "x"]
fn query() {}

#[timed("y")]
fn read() {}

fn main() {
    query();
    read();
}
