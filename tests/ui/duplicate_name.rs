use telemetry::timed;

#[timed(name = "db.query", name = "db.read")]
fn query() {}

fn main() {
    query();
}
