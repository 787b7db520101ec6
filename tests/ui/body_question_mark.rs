use telemetry::timed;

#[derive(Debug)]
struct StoreError;

#[timed]
fn parse(input: &str) -> Result<u32, StoreError> {
    let value: u32 = input.parse()?;
    Ok(value)
}

#[timed]
fn load(path: &str) -> Result<String, StoreError> {
    let text = std::fs::read_to_string(path)?;
    Ok(text)
}

fn main() {
    let _ = parse("1");
    let _ = load("store.txt");
}
