//! The one convention of the process-wide settings, and its error for settings
//! made once.
//!
//! Every setting is a fn named `set` in its module (`consent::set`,
//! `anonymize::set`, `facts::set`), or `set_…` where the module holds several
//! (`set_app_info`, `instance::set_data_dir`):
//!
//! - a setting that can be refused returns `Result`, and its error hands the
//!   refused value back (`into_inner`) and says why it was refused;
//! - a setting made once per process (what every report of a process must agree
//!   on) refuses a second value with [`AlreadySet`];
//! - a setting that cannot be refused returns what it replaced, as
//!   `HashMap::insert` does.

use std::sync::OnceLock;

/// A setting made once per process was set already, or already read (a
/// snapshot, a report): every report of a process agrees, so the first value
/// stays. Hands the refused value back.
///
/// ```
/// # use telemetry::AppInfo;
/// telemetry::set_app_info(AppInfo::new("my-service", "1.0.0")).expect("set once at start-up");
/// let refused = telemetry::set_app_info(AppInfo::new("other", "2.0.0")).unwrap_err();
/// assert_eq!(
///     refused.to_string(),
///     "the app info is set once per process, before first use, and was already set or used",
/// );
/// assert_eq!(refused.into_inner().name, "other");
/// assert_eq!(telemetry::app_info().name, "my-service");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {setting} is set once per process, before first use, and was already set or used")]
pub struct AlreadySet<T> {
    setting: &'static str,
    refused: T,
}

impl<T> AlreadySet<T> {
    /// The value refused.
    pub fn into_inner(self) -> T {
        self.refused
    }

    /// The value refused, by reference.
    pub fn refused(&self) -> &T {
        &self.refused
    }
}

/// Sets `cell` to `value` unless it holds a value already; `setting` names it
/// in the error.
pub(crate) fn set_once<T>(
    cell: &OnceLock<T>,
    setting: &'static str,
    value: T,
) -> Result<(), AlreadySet<T>> {
    cell.set(value)
        .map_err(|refused| AlreadySet { setting, refused })
}

/// The error of a once-set setting whose value is made from `refused` (a path,
/// say) rather than stored as given.
pub(crate) fn already_set<T>(setting: &'static str, refused: T) -> AlreadySet<T> {
    AlreadySet { setting, refused }
}
