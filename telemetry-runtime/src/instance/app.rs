//! The application's name and version, set once at start-up: every snapshot of
//! a process names the same app.

use std::sync::OnceLock;

use crate::settings::{set_once, AlreadySet};

/// The application's name and version as shown in snapshots.
///
/// Both are `&'static str` when set, written in the program (usually its
/// `Cargo.toml`, through [`app_info!`](macro@crate::app_info)): the anonymized
/// form sends them as they are, so they must not come from run time. A name made
/// at run time does not compile:
///
/// ```compile_fail
/// let host = std::env::var("HOSTNAME").unwrap_or_default();
/// let app = telemetry::AppInfo::new(host, "1.0.0");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct AppInfo {
    /// The application's name, e.g. its package name.
    pub name: String,
    /// The application's version.
    pub version: String,
}

impl AppInfo {
    /// An app with this name and version. [`app_info!`](macro@crate::app_info) fills them
    /// from the calling crate's `Cargo.toml`.
    pub fn new(name: &'static str, version: &'static str) -> AppInfo {
        AppInfo {
            name: name.to_owned(),
            version: version.to_owned(),
        }
    }
}

static APP: OnceLock<AppInfo> = OnceLock::new();

/// Sets the name and version that snapshots report, once.
///
/// Refuses with [`AlreadySet`] (which hands the value back) if they were already
/// set (by an earlier call, or by a snapshot taken before: snapshots of one
/// process never disagree).
///
/// ```
/// telemetry::set_app_info(telemetry::app_info!()).expect("set once at start-up");
/// assert_eq!(telemetry::snapshot().app.name, env!("CARGO_PKG_NAME"));
/// ```
pub fn set_app_info(app: AppInfo) -> Result<(), AlreadySet<AppInfo>> {
    set_once(&APP, "app info", app)
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
