//! Facts about this process: its random instance id (or, if the app opts in, a
//! persistent installation id), when it started, and the application's name and
//! version.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
/// let id = telemetry::use_installation_id("/var/lib/my-service/installation-id")
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
    let id = installation_id::load_or_create(path).map_err(|source| InstallationIdError::Io {
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
#[derive(Debug)]
pub enum InstallationIdError {
    /// The instance id was already in use (a snapshot, or an earlier call) when
    /// the file was named: one process reports one id.
    TooLate {
        /// The id this process keeps.
        current: uuid::Uuid,
    },
    /// The file could not be read, created or replaced.
    Io {
        /// The file named.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

impl fmt::Display for InstallationIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallationIdError::TooLate { current } => write!(
                f,
                "the installation id file must be named before the instance id is first \
                 used (by a snapshot); this run keeps the random id {current}"
            ),
            InstallationIdError::Io { path, source } => write!(
                f,
                "cannot read or create the installation id file {}: {source}; \
                 this run keeps a random instance id",
                path.display()
            ),
        }
    }
}

impl std::error::Error for InstallationIdError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallationIdError::Io { source, .. } => Some(source),
            InstallationIdError::TooLate { .. } => None,
        }
    }
}

/// The installation id file: one UUID in text, created so that no reader ever
/// sees it half-written, and readable by its owner only.
mod installation_id {
    use std::fs::{self, File, OpenOptions};
    use std::io::{self, Read, Write};
    use std::path::{Path, PathBuf};
    use std::time::{SystemTime, UNIX_EPOCH};

    /// An id file is a few dozen bytes; reading more would only waste memory on
    /// a wrong file.
    const MAX_LEN: u64 = 256;

    pub(super) fn load_or_create(path: &Path) -> io::Result<uuid::Uuid> {
        match read(path) {
            Ok(Some(id)) => Ok(id),
            Ok(None) => {
                log::warn!(
                    "telemetry: the installation id file {} holds no id; replacing it with a new one",
                    path.display()
                );
                replace(path)
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => create(path),
            Err(error) => Err(error),
        }
    }

    /// `Ok(None)`: the file exists but holds no usable id.
    fn read(path: &Path) -> io::Result<Option<uuid::Uuid>> {
        let mut bytes = Vec::new();
        File::open(path)?.take(MAX_LEN).read_to_end(&mut bytes)?;
        let id = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| uuid::Uuid::parse_str(text.trim()).ok())
            .filter(|id| !id.is_nil());
        Ok(id)
    }

    /// Publishes a new id with a hard link, which fails rather than replace a
    /// file another process created meanwhile; that process's id is then used.
    fn create(path: &Path) -> io::Result<uuid::Uuid> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let id = uuid::Uuid::new_v4();
        let temporary = write_temporary(path, id)?;
        match fs::hard_link(&temporary, path) {
            Ok(()) => {
                let _ = fs::remove_file(&temporary);
                Ok(id)
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => match read(path) {
                Ok(Some(theirs)) => {
                    let _ = fs::remove_file(&temporary);
                    Ok(theirs)
                }
                // Theirs is unusable after all: ours replaces it.
                _ => replace_with(path, temporary, id),
            },
            // File systems without hard links: a rename is atomic too.
            Err(_) => replace_with(path, temporary, id),
        }
    }

    fn replace(path: &Path) -> io::Result<uuid::Uuid> {
        let id = uuid::Uuid::new_v4();
        let temporary = write_temporary(path, id)?;
        replace_with(path, temporary, id)
    }

    fn replace_with(path: &Path, temporary: PathBuf, id: uuid::Uuid) -> io::Result<uuid::Uuid> {
        fs::rename(&temporary, path).inspect_err(|_| {
            let _ = fs::remove_file(&temporary);
        })?;
        Ok(id)
    }

    /// Writes `id` to a new file beside `path`, flushed to disk, mode 0600.
    fn write_temporary(path: &Path, id: uuid::Uuid) -> io::Result<PathBuf> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(format!(".{}.{nanos}.tmp", std::process::id()));
        let temporary = path.with_file_name(temporary_name);

        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        let written = writeln!(file, "{}", id.hyphenated()).and_then(|()| file.sync_all());
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        Ok(temporary)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn scratch(test: &str) -> PathBuf {
            let dir = std::env::temp_dir().join(format!(
                "telemetry-installation-id-{test}-{}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            dir
        }

        fn leftovers(dir: &Path) -> Vec<String> {
            fs::read_dir(dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".tmp"))
                .collect()
        }

        #[test]
        fn an_id_is_created_once_and_reused() {
            let dir = scratch("reuse");
            let path = dir.join("nested/installation-id");
            let first = load_or_create(&path).unwrap();
            assert_eq!(first.get_version_num(), 4);
            assert_eq!(fs::read_to_string(&path).unwrap().trim(), first.to_string());
            assert_eq!(load_or_create(&path).unwrap(), first);
            assert!(leftovers(path.parent().unwrap()).is_empty());
            let _ = fs::remove_dir_all(dir);
        }

        #[cfg(unix)]
        #[test]
        fn the_file_is_readable_by_its_owner_only() {
            use std::os::unix::fs::PermissionsExt;

            let dir = scratch("mode");
            let path = dir.join("id");
            load_or_create(&path).unwrap();
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let _ = fs::remove_dir_all(dir);
        }

        #[test]
        fn a_corrupt_file_is_replaced() {
            let dir = scratch("corrupt");
            let path = dir.join("id");
            for corrupt in [
                &b"not a uuid"[..],
                b"",
                b"\xff\xfe",
                b"00000000-0000-0000-0000-000000000000",
            ] {
                fs::write(&path, corrupt).unwrap();
                let id = load_or_create(&path).unwrap();
                assert!(!id.is_nil());
                assert_eq!(fs::read_to_string(&path).unwrap().trim(), id.to_string());
            }
            let huge = "x".repeat(1 << 20);
            fs::write(&path, huge).unwrap();
            let id = load_or_create(&path).unwrap();
            assert_eq!(load_or_create(&path).unwrap(), id);
            assert!(leftovers(&dir).is_empty());
            let _ = fs::remove_dir_all(dir);
        }

        #[test]
        fn an_id_written_by_hand_is_kept() {
            let dir = scratch("by-hand");
            let path = dir.join("id");
            fs::write(&path, "  6F1C2A9E-81D3-4B7F-9A6E-0C3D2B1F4E8A \n").unwrap();
            let id = load_or_create(&path).unwrap();
            assert_eq!(id.to_string(), "6f1c2a9e-81d3-4b7f-9a6e-0c3d2b1f4e8a");
            let _ = fs::remove_dir_all(dir);
        }

        #[test]
        fn an_unusable_path_is_an_error_not_a_panic() {
            let dir = scratch("unusable");
            let file = dir.join("plain-file");
            fs::write(&file, "x").unwrap();
            // A file where a directory should be.
            assert!(load_or_create(&file.join("id")).is_err());
            // A directory where the file should be.
            assert!(load_or_create(&dir).is_err());
            let _ = fs::remove_dir_all(dir);
        }
    }
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
