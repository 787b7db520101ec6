use telemetry::timed;

#[timed(skip = true)]
fn query() {}

#[timed(result(strict))]
fn parse(input: &str) -> Result<u32, std::num::ParseIntError> {
    input.parse()
}

fn main() {
    query();
    let _ = parse("1");
}
