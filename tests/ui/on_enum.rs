use telemetry::timed;

#[timed]
enum Mode {
    Read,
    Write,
}

fn main() {
    let _ = [Mode::Read, Mode::Write];
}
