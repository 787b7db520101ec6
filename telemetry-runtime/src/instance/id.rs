//! The instance id: a random UUID v4 per process, kept nowhere, unless the app
//! opts into a persistent installation id. Fixed at first use, so one process
//! always reports one id.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::installation_file;

static INSTANCE_ID: OnceLock<uuid::Uuid> = OnceLock::new();

/// The random UUID v4 of this process, made on first use and stored nowhere
/// (unless the app opted into [`use_installation_id`]).
pub fn instance_id() -> uuid::Uuid {
    *INSTANCE_ID.get_or_init(uuid::Uuid::new_v4)
}

/// Opts into a persistent installation id: the instance id is read from the
/// file at `path`, or a new random one is written there (created atomically,
/// readable by the owner only), and every later run that names the same file
/// reports the same id. Call it at start-up, before the first snapshot.
///
/// A file that holds no id (damaged, truncated, edited) is replaced with a new
/// one and a warning is logged. Errors leave this run with a random id:
/// [`InstallationIdError::TooLate`] if the instance id was already in use,
/// [`InstallationIdError::Io`] if the file could not be read or written.
///
/// ```no_run
/// let id = telemetry::instance::use_installation_id("/var/lib/my-service/installation-id")
///     .unwrap_or_else(|error| {
///         eprintln!("{error}");
///         telemetry::instance_id()
///     });
/// ```
pub fn use_installation_id(path: impl AsRef<Path>) -> Result<uuid::Uuid, InstallationIdError> {
    let path = path.as_ref();
    if let Some(current) = INSTANCE_ID.get() {
        return Err(InstallationIdError::TooLate { current: *current });
    }
    let id = installation_file::load_or_create(path).map_err(|source| InstallationIdError::Io {
        path: path.to_owned(),
        source,
    })?;
    INSTANCE_ID
        .set(id)
        .map_err(|_| InstallationIdError::TooLate {
            current: instance_id(),
        })?;
    Ok(id)
}

/// Why [`use_installation_id`] could not make the instance id persistent.
#[derive(Debug, thiserror::Error)]
pub enum InstallationIdError {
    /// The instance id was already in use (a snapshot, or an earlier call) when
    /// the file was named: one process reports one id.
    #[error(
        "the installation id file must be named before the instance id is first \
         used (by a snapshot); this run keeps the random id {current}"
    )]
    TooLate {
        /// The id this process keeps.
        current: uuid::Uuid,
    },
    /// The file could not be read, created or replaced.
    #[error(
        "cannot read or create the installation id file {}: {source}; \
         this run keeps a random instance id",
        .path.display()
    )]
    Io {
        /// The file named.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_id_is_a_v4_uuid_stable_within_the_process() {
        let id = instance_id();
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(id, instance_id());
    }

    #[test]
    fn errors_say_what_happened_and_that_the_run_keeps_a_random_id() {
        let current = uuid::Uuid::from_u128(0x6f1c2a9e_81d3_4b7f_9a6e_0c3d2b1f4e8a);
        assert_eq!(
            InstallationIdError::TooLate { current }.to_string(),
            "the installation id file must be named before the instance id is first used \
             (by a snapshot); this run keeps the random id 6f1c2a9e-81d3-4b7f-9a6e-0c3d2b1f4e8a"
        );
        let io = InstallationIdError::Io {
            path: PathBuf::from("state/installation-id"),
            source: io::Error::new(io::ErrorKind::PermissionDenied, "no access"),
        };
        assert_eq!(
            io.to_string(),
            "cannot read or create the installation id file state/installation-id: no access; \
             this run keeps a random instance id"
        );
        let cause = std::error::Error::source(&io).expect("the I/O error");
        assert_eq!(cause.to_string(), "no access");
    }
}
