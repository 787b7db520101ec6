use telemetry::counted;

#[counted(nmae = "x")]
fn lookup() {}

fn main() {
    lookup();
}
