//! Facts about this process: its random instance id (or, if the app opts in, a
//! persistent installation id), when it started, and the application's name and
//! version.
//!
//! Public here are the settings of an installation, made once at start-up with
//! the paths the app keeps its files under: [`use_installation_id`] and
//! [`set_data_dir`]. What every user types ([`instance_id`](crate::instance_id()),
//! [`app_info`](crate::app_info()), [`set_app_info`](crate::set_app_info)) is at
//! the crate's root.
//!
//! One concept per file: the app's name and version (`app`), the instance id and
//! its opt-in persistence (`id`, with the file it is kept in,
//! `installation_file`), and the process's age and wall-clock times (`uptime`).

pub(crate) mod app;
pub(crate) mod id;
mod installation_file;
mod uptime;

pub use crate::system::set_data_dir;
pub use id::{use_installation_id, InstallationIdError};

pub(crate) use app::{app_info, AppInfo};
pub(crate) use id::instance_id;
pub(crate) use uptime::{unix_ms, uptime};
