// A known limit (README, "Known limits"): an async fn's value goes through an
// inner async block, which gives a returned closure no signature. Without the
// attribute this compiles; the fix is an annotated parameter, `|s: &str|`.
use telemetry::timed;

#[timed]
async fn len_of() -> impl Fn(&str) -> usize {
    |s| s.len()
}

#[timed]
async fn annotated() -> impl Fn(&str) -> usize {
    |s: &str| s.len()
}

fn main() {
    let _ = len_of();
    let _ = annotated();
}
