//! Files that readers never see half-written: the bytes go to a new temporary
//! file beside the target, flushed to disk, which then takes the target's name
//! in one step. The installation id file and the reporter's dry-run file are
//! both written this way.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Who may read the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Readers {
    /// The process's default (its umask decides).
    Default,
    /// The owner only (mode 0600 on Unix).
    Owner,
}

/// Replaces `target` with exactly `bytes`: a reader sees the previous content
/// or the new one, never part of it.
#[cfg_attr(not(feature = "reporter"), allow(dead_code))]
pub(crate) fn replace(target: &Path, bytes: &[u8]) -> io::Result<()> {
    Temporary::write(target, bytes, Readers::Default)?.rename_to(target)
}

/// A written, flushed file beside its target, removed when dropped unless it
/// took the target's name.
#[derive(Debug)]
pub(crate) struct Temporary {
    /// `None` once renamed.
    path: Option<PathBuf>,
}

impl Temporary {
    /// Writes `bytes` to a new file in `target`'s directory, named after it
    /// (hidden, with this process's id, so concurrent writers never share one),
    /// and flushes it to disk.
    pub fn write(target: &Path, bytes: &[u8], readers: Readers) -> io::Result<Temporary> {
        let path = temporary_path(target)?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if readers == Readers::Owner {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
        #[cfg(not(unix))]
        let _ = readers;
        let mut file = options.open(&path)?;
        // From here on, dropping `temporary` removes the file.
        let temporary = Temporary { path: Some(path) };
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(temporary)
    }

    /// Gives the file `target`'s name, replacing any file there (a rename,
    /// atomic on one file system).
    pub fn rename_to(mut self, target: &Path) -> io::Result<()> {
        let path = self
            .path
            .take()
            .expect("a temporary file has a path until renamed");
        fs::rename(&path, target).inspect_err(|_| {
            let _ = fs::remove_file(&path);
        })
    }

    /// Gives the file `target`'s name as well, only if no file has it: a hard
    /// link fails with [`io::ErrorKind::AlreadyExists`] rather than replace a
    /// file another process created meanwhile. The temporary name is removed on
    /// drop either way.
    pub fn link_as_new(&self, target: &Path) -> io::Result<()> {
        let path = self
            .path
            .as_ref()
            .expect("a temporary file has a path until renamed");
        fs::hard_link(path, target)
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = fs::remove_file(path);
        }
    }
}

/// `.<name>.<pid>.<n>.<nanos>.tmp` beside `target`: unique within the process
/// by `n`, and across processes by the pid (and the time, should a crashed
/// process with the same pid have left one behind).
fn temporary_path(target: &Path) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut temporary = OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{}.{n}.{nanos}.tmp", std::process::id()));
    Ok(target.with_file_name(temporary))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A new empty directory for the test `test`, in the system's temporary
    /// directory; the test removes it at its end.
    pub(crate) fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("telemetry-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_replaced_file_holds_exactly_the_new_bytes_and_nothing_is_left_over() {
        let dir = scratch("atomic-file-replace");
        let path = dir.join("report.json");
        replace(&path, b"{\"first\":1}").unwrap();
        replace(&path, b"{\"b\":2}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{\"b\":2}");
        assert_eq!(names(&dir), ["report.json"]);
        assert!(replace(&dir.join("missing/report.json"), b"{}").is_err());
        assert!(replace(&dir, b"{}").is_err(), "a directory is not replaced");
        assert_eq!(names(&dir), ["report.json"]);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_link_never_replaces_an_existing_file() {
        let dir = scratch("atomic-file-link");
        let path = dir.join("id");
        let first = Temporary::write(&path, b"first", Readers::Owner).unwrap();
        first.link_as_new(&path).unwrap();
        drop(first);
        let second = Temporary::write(&path, b"second", Readers::Owner).unwrap();
        let error = second.link_as_new(&path).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        drop(second);
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(names(&dir), ["id"]);
        let _ = fs::remove_dir_all(dir);
    }
}
