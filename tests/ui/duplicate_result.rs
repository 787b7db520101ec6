use telemetry::counted;

#[counted(result, result)]
fn parse(input: &str) -> Result<u32, std::num::ParseIntError> {
    input.parse()
}

fn main() {
    let _ = parse("1");
}
