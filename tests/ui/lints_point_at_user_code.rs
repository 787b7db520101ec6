// Lints fire on the user's code exactly as without the attribute, at the
// user's tokens, and never on generated code; rustc's suggestions quote the
// user's body intact.
#![deny(warnings)]

use telemetry::{counted, timed};

#[timed]
pub trait Store {
    async fn get(&self) -> u32 {
        1
    }
}

#[timed]
fn unused_param(a: u32, mut b: u32) -> Result<u32, String> {
    Ok(b)
}

#[counted]
async fn unused_local(x: u8) -> u8 {
    let y = 1;
    x
}

#[timed]
fn unit_unused(a: u32) {}

#[counted]
fn unused_pattern((x, _): (u8, u8), _: u8) -> Option<u8> {
    Some(1)
}

fn main() {
    let _ = unused_param(1, 2);
    let _ = unused_local(1);
    unit_unused(1);
    let _ = unused_pattern((1, 2), 3);
}
