//! The process's age and wall-clock times, as snapshots and reports state them.
//! Uptime counts from the process's start as the OS records it, so a runtime
//! first used late in a process's life still reports its true age.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When the process started, as an `Instant`.
fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(|| {
        let now = Instant::now();
        process_age()
            .and_then(|age| now.checked_sub(age))
            .unwrap_or(now)
    })
}

/// Time since the process started (since the runtime's first use where the OS
/// does not say).
pub fn uptime() -> Duration {
    process_start().elapsed()
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Linux: `/proc/uptime` minus the process's start time after boot, in the
/// kernel's USER_HZ ticks (100 per second on every architecture Rust supports
/// except Alpha).
#[cfg(target_os = "linux")]
fn process_age() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let started_after_boot = start_ticks_from_stat(&stat)? as f64 / 100.0;
    let since_boot: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    Duration::try_from_secs_f64(since_boot - started_after_boot).ok()
}

#[cfg(not(target_os = "linux"))]
fn process_age() -> Option<Duration> {
    None
}

/// Field 22 of `/proc/<pid>/stat`; the command name (field 2) may contain blanks
/// and parentheses, so fields are counted after its closing `)`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn start_ticks_from_stat(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_found_after_a_tricky_command_name() {
        let stat = "4242 (we ird) name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(start_ticks_from_stat(stat), Some(987654));
    }

    #[test]
    fn uptime_grows() {
        let first = uptime();
        std::thread::sleep(Duration::from_millis(2));
        assert!(uptime() > first);
    }
}
