use telemetry::timed;

#[timed]
fn answer() -> u32 {
    "forty-two"
}

#[timed]
fn early(flag: bool) -> u32 {
    if flag {
        return "early";
    }
    1
}

fn main() {
    let _ = answer() + early(true);
}
