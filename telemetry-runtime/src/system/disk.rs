//! The kind of disk under the app's data directory, read from Linux's sysfs.
//!
//! A fact of its own because it is the one that needs a path of this machine
//! (the data directory): only the answer, `ssd` or `hdd`, ever leaves this
//! module, never the path or a device name.

use std::path::Path;

use super::DiskKind;

/// The kind of disk holding `dir`: the device of the file system (or, for a
/// partition, its disk) says whether it rotates; where the file system has no
/// block device of its own (overlay, tmpfs, btrfs subvolumes), the answer is the
/// one every disk of the machine agrees on.
#[cfg(target_os = "linux")]
pub(super) fn disk_kind(dir: &Path) -> Option<DiskKind> {
    use std::os::unix::fs::MetadataExt;

    let device = std::fs::metadata(dir).ok()?.dev();
    let (major, minor) = split_device_number(device);
    let sys = Path::new("/sys");
    let own_device = (major != 0)
        .then(|| device_rotational(sys, major, minor))
        .flatten();
    own_device.or_else(|| disks_agree(&sys.join("block")))
}

#[cfg(not(target_os = "linux"))]
pub(super) fn disk_kind(_dir: &Path) -> Option<DiskKind> {
    None
}

/// glibc's encoding of `dev_t`: 12 bits of major and 20 of minor, interleaved.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn split_device_number(device: u64) -> (u64, u64) {
    let major = ((device >> 8) & 0xfff) | ((device >> 32) & !0xfff);
    let minor = (device & 0xff) | ((device >> 12) & !0xff);
    (major, minor)
}

/// `<sys>/dev/block/<major>:<minor>` is the device's directory; a partition has
/// no queue of its own, its disk (the parent directory) has.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn device_rotational(sys: &Path, major: u64, minor: u64) -> Option<DiskKind> {
    let device = sys.join("dev/block").join(format!("{major}:{minor}"));
    read_rotational(&device.join("queue/rotational"))
        .or_else(|| read_rotational(&device.join("../queue/rotational")))
}

/// The kind every real disk in `<sys>/block` reports, if they all agree.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn disks_agree(block: &Path) -> Option<DiskKind> {
    const VIRTUAL: [&str; 8] = ["loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd"];
    let mut kinds = std::fs::read_dir(block)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            !VIRTUAL.iter().any(|prefix| name.starts_with(prefix))
        })
        .map(|entry| read_rotational(&entry.path().join("queue/rotational")));
    let first = kinds.next()??;
    kinds.all(|kind| kind == Some(first)).then_some(first)
}

fn read_rotational(path: &Path) -> Option<DiskKind> {
    match std::fs::read_to_string(path).ok()?.trim() {
        "0" => Some(DiskKind::Ssd),
        "1" => Some(DiskKind::Hdd),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn device_numbers_split_like_glibc() {
        // makedev(8, 1) and makedev(259, 65537).
        assert_eq!(split_device_number(0x801), (8, 1));
        let (major, minor) = (259u64, 65_537u64);
        let device = ((major & 0xfff) << 8)
            | ((major & !0xfff) << 32)
            | (minor & 0xff)
            | ((minor & !0xff) << 12);
        assert_eq!(split_device_number(device), (major, minor));
    }

    /// A fake `/sys` with disks `(name, major:minor, rotational, partitions'
    /// major:minor)`, linked from `dev/block` as the kernel does.
    fn fake_sys(test: &str, disks: &[(&str, &str, &str, &[&str])]) -> PathBuf {
        let sys = std::env::temp_dir().join(format!("telemetry-sys-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&sys);
        let by_number = sys.join("dev/block");
        std::fs::create_dir_all(&by_number).unwrap();
        for (name, number, rotational, partitions) in disks {
            let disk = sys.join("devices").join(name);
            std::fs::create_dir_all(disk.join("queue")).unwrap();
            std::fs::write(disk.join("queue/rotational"), rotational).unwrap();
            std::fs::create_dir_all(sys.join("block").join(name).join("queue")).unwrap();
            std::fs::write(
                sys.join("block").join(name).join("queue/rotational"),
                rotational,
            )
            .unwrap();
            #[cfg(unix)]
            {
                std::os::unix::fs::symlink(&disk, by_number.join(number)).unwrap();
                for partition in *partitions {
                    let dir = disk.join(partition.replace(':', "_"));
                    std::fs::create_dir_all(&dir).unwrap();
                    std::os::unix::fs::symlink(&dir, by_number.join(partition)).unwrap();
                }
            }
            #[cfg(not(unix))]
            let _ = (number, partitions);
        }
        sys
    }

    #[cfg(unix)]
    #[test]
    fn a_disk_and_its_partitions_tell_whether_they_rotate() {
        let sys = fake_sys(
            "own",
            &[
                ("sda", "8:0", "1\n", &["8:1"]),
                ("nvme0n1", "259:0", "0\n", &[]),
            ],
        );
        assert_eq!(device_rotational(&sys, 8, 0), Some(DiskKind::Hdd));
        // A partition has no queue: its disk's tells.
        assert_eq!(device_rotational(&sys, 8, 1), Some(DiskKind::Hdd));
        assert_eq!(device_rotational(&sys, 259, 0), Some(DiskKind::Ssd));
        assert_eq!(device_rotational(&sys, 7, 7), None);
        let _ = std::fs::remove_dir_all(sys);
    }

    #[test]
    fn without_a_device_the_disks_must_agree() {
        let agree = fake_sys(
            "agree",
            &[("sda", "8:0", "0", &[]), ("sdb", "8:16", "0", &[])],
        );
        std::fs::create_dir_all(agree.join("block/loop0/queue")).unwrap();
        std::fs::write(agree.join("block/loop0/queue/rotational"), "1").unwrap();
        assert_eq!(disks_agree(&agree.join("block")), Some(DiskKind::Ssd));

        let differ = fake_sys(
            "differ",
            &[("sda", "8:0", "0", &[]), ("sdb", "8:16", "1", &[])],
        );
        assert_eq!(disks_agree(&differ.join("block")), None);
        assert_eq!(disks_agree(Path::new("/nonexistent/block")), None);
        let _ = std::fs::remove_dir_all(agree);
        let _ = std::fs::remove_dir_all(differ);
    }
}
