use telemetry::timed;

#[timed(name = foo)]
fn by_ident() {}

#[timed(name = 3)]
fn by_number() {}

fn main() {
    by_ident();
    by_number();
}
