//! Bounded waits and the memory figure shared by the tests of the threads that
//! send (the reporter, the OTLP exporter): every wait has a bound, generous
//! for a loaded machine and never reached when things work.

use std::time::{Duration, Instant};

/// The bound of every wait for something that should happen.
pub const WAIT: Duration = Duration::from_secs(30);

/// The bound for what must not wait on a sending thread (shutdown, the app's
/// calls): far above their real cost, far below a stuck request's timeout.
pub const PROMPT: Duration = Duration::from_secs(5);

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Polls `done` until it holds; fails the test after [`WAIT`].
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(ms(10));
    }
}

/// The process's peak resident memory (Linux; `None` elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
