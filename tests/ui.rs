//! Misuse of `#[timed]` / `#[counted]` is a compile error that points at the
//! offending token and says what to write instead; errors in the user's own fn
//! body point at the user's code. Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test --test ui` and read every `.stderr` it writes.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
