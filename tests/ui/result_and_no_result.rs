use telemetry::timed;

#[timed(result, no_result)]
fn parse(input: &str) -> Result<u32, std::num::ParseIntError> {
    input.parse()
}

fn main() {
    let _ = parse("1");
}
