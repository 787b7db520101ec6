use telemetry::timed;

#[timed]
struct Store {
    len: usize,
}

fn main() {
    let _ = Store { len: 0 }.len;
}
