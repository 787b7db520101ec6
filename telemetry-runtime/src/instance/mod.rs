//! Facts about this process: its random instance id (or, if the app opts in, a
//! persistent installation id), when it started, and the application's name and
//! version.
//!
//! One concept per file: the app's name and version (`app`), the instance id and
//! its opt-in persistence (`id`, with the file it is kept in,
//! `installation_file`), and the process's age and wall-clock times (`uptime`).

mod app;
mod id;
mod installation_file;
mod uptime;

pub use app::{app_info, set_app_info, AppInfo};
pub use id::{instance_id, use_installation_id, InstallationIdError};
pub use uptime::{unix_ms, uptime};
