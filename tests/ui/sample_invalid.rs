use telemetry::timed;

#[timed(sample = 0)]
fn never_timed() {}

#[timed(sample = "16")]
fn quoted() {}

#[timed(sample = 4294967296)]
fn too_large() {}

#[timed(sample = -2)]
fn negative() {}

#[timed(sample = 1.5)]
fn fractional() {}

#[timed(sample = 16u8)]
fn other_type() {}

#[timed(sample)]
fn missing() {}

#[timed(sample(16))]
fn in_parentheses() {}

#[timed(sample = 4, sample = 8)]
fn twice() {}

fn main() {
    never_timed();
    quoted();
    too_large();
    negative();
    fractional();
    other_type();
    missing();
    in_parentheses();
    twice();
}
