use telemetry::counted;

#[counted]
struct Store;

fn main() {
    let _ = Store;
}
