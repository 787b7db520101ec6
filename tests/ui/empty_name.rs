use telemetry::timed;

#[timed(name = "")]
fn empty() {}

#[timed(name = "  ")]
fn blank() {}

fn main() {
    empty();
    blank();
}
