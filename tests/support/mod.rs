//! What the integration tests share. A test file writes `mod support;` and
//! uses the parts it needs:
//!
//! - [`counts`]: one fn's counters from a fresh snapshot, and the default
//!   metric name of a fn (`named!`);
//! - [`executor`]: futures polled by hand, so async tests decide every poll;
//! - [`isolated`]: a test in a process of its own, with the environment it
//!   chooses, its logs captured, and a time limit;
//! - [`bounded`]: waits with a limit, and the process's peak memory;
//! - [`collector`]: an HTTP collector on 127.0.0.1 for the reporter's tests;
//! - [`leaks`]: what an anonymized snapshot may contain, given its input (the
//!   fuzz target includes this file too).
//!
//! Each test binary compiles all of them and uses some.
#![allow(dead_code, unused_imports, unused_macros)]

pub mod bounded;
pub mod collector;
pub mod counts;
pub mod executor;
pub mod isolated;
pub mod leaks;
