//! The installation id file: one UUID in text, created so that no reader ever
//! sees it half-written, readable by its owner only, and replaced when damaged
//! rather than trusted.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use crate::atomic_file::{Readers, Temporary};

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
    match temporary.link_as_new(path) {
        Ok(()) => Ok(id),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => match read(path) {
            Ok(Some(theirs)) => Ok(theirs),
            // Theirs is unusable after all: ours replaces it.
            _ => temporary.rename_to(path).map(|()| id),
        },
        // File systems without hard links: a rename is atomic too.
        Err(_) => temporary.rename_to(path).map(|()| id),
    }
}

fn replace(path: &Path) -> io::Result<uuid::Uuid> {
    let id = uuid::Uuid::new_v4();
    write_temporary(path, id)?.rename_to(path)?;
    Ok(id)
}

/// `id` in a new file beside `path`, flushed to disk, mode 0600.
fn write_temporary(path: &Path, id: uuid::Uuid) -> io::Result<Temporary> {
    let text = format!("{}\n", id.hyphenated());
    Temporary::write(path, text.as_bytes(), Readers::Owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic_file::tests::scratch;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn an_id_is_created_once_and_reused() {
        let dir = scratch("installation-id-reuse");
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

        let dir = scratch("installation-id-mode");
        let path = dir.join("id");
        load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_corrupt_file_is_replaced() {
        let dir = scratch("installation-id-corrupt");
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
        let dir = scratch("installation-id-by-hand");
        let path = dir.join("id");
        fs::write(&path, "  6F1C2A9E-81D3-4B7F-9A6E-0C3D2B1F4E8A \n").unwrap();
        let id = load_or_create(&path).unwrap();
        assert_eq!(id.to_string(), "6f1c2a9e-81d3-4b7f-9a6e-0c3d2b1f4e8a");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn an_unusable_path_is_an_error_not_a_panic() {
        let dir = scratch("installation-id-unusable");
        let file = dir.join("plain-file");
        fs::write(&file, "x").unwrap();
        // A file where a directory should be.
        assert!(load_or_create(&file.join("id")).is_err());
        // A directory where the file should be.
        assert!(load_or_create(&dir).is_err());
        let _ = fs::remove_dir_all(dir);
    }
}
