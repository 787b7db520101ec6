//! Facts about this process: its random instance id, when it started, and the
//! application's name and version.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The application's name and version as shown in snapshots.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppInfo {
    /// The application's name, e.g. its package name.
    pub name: String,
    /// The application's version.
    pub version: String,
}

impl AppInfo {
    /// An app with this name and version. [`app_info!`](macro@crate::app_info) fills them
    /// from the calling crate's `Cargo.toml`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> AppInfo {
        AppInfo {
            name: name.into(),
            version: version.into(),
        }
    }
}

static APP: OnceLock<AppInfo> = OnceLock::new();

/// Sets the name and version that snapshots report, once.
///
/// Returns `Err` with the rejected value if they were already set (by an earlier
/// call, or by a snapshot taken before: snapshots of one process never disagree).
///
/// ```
/// telemetry::set_app_info(telemetry::app_info!()).expect("set once at start-up");
/// assert_eq!(telemetry::snapshot().app.name, env!("CARGO_PKG_NAME"));
/// ```
pub fn set_app_info(app: AppInfo) -> Result<(), AppInfo> {
    APP.set(app)
}

/// The app facts: what [`set_app_info`] set, else `unknown` / `unknown`.
pub fn app_info() -> &'static AppInfo {
    APP.get_or_init(|| AppInfo::new("unknown", "unknown"))
}

/// `AppInfo` of the crate that invokes it, from its `CARGO_PKG_NAME` and
/// `CARGO_PKG_VERSION`.
#[macro_export]
macro_rules! app_info {
    () => {
        $crate::AppInfo::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
    };
}

/// The random UUID v4 of this process, made on first use and stored nowhere.
pub fn instance_id() -> uuid::Uuid {
    static ID: OnceLock<uuid::Uuid> = OnceLock::new();
    *ID.get_or_init(uuid::Uuid::new_v4)
}

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
    fn instance_id_is_a_v4_uuid_stable_within_the_process() {
        let id = instance_id();
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(id, instance_id());
    }

    #[test]
    fn uptime_grows() {
        let first = uptime();
        std::thread::sleep(Duration::from_millis(2));
        assert!(uptime() > first);
    }
}
