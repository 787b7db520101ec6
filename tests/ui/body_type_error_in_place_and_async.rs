use telemetry::{counted, timed};

#[timed]
fn in_place(flag: bool) {
    if flag {
        return 1;
    }
}

#[counted]
fn returns_closure() -> impl Fn(&str) -> usize {
    |s| s
}

struct StoreError;

#[timed]
async fn in_async() -> Result<u32, StoreError> {
    let n: u32 = "1".parse()?;
    Ok(n)
}

fn main() {
    in_place(true);
    let _ = returns_closure();
    let _ = in_async();
}
