//! The counting and executor helpers of `support`, for test files that write
//! `mod common;` and `use common::…`: the same code, by the older name.
#![allow(dead_code, unused_imports, unused_macros)]

#[path = "../support/counts.rs"]
mod counts;
#[path = "../support/executor.rs"]
mod executor;

pub(crate) use counts::named;
pub use counts::{assert_counts, expect_panic, is_listed, names_ending_with, stats, Counts};
pub use executor::{block_on, block_on_expect_panic, poll_once, yield_once, YieldOnce};
