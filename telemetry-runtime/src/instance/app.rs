//! The application's name and version, set once at start-up: every snapshot of
//! a process names the same app.

use std::sync::OnceLock;

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
