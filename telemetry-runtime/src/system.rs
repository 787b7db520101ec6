//! Facts about the machine the process runs on, read once.
//!
//! Every fact is read best effort: where it cannot be read it is `0`, empty or
//! absent, never a panic. Only facts that cannot identify a host or a person are
//! read at all: no host name, user name, address, path or environment value.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Machine facts reported in every snapshot. None of them identifies a person or a
/// host: no host name, user name, address or path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// `std::env::consts::OS`: `linux`, `macos`, `windows`, …
    pub os: String,
    /// `std::env::consts::ARCH`: `x86_64`, `aarch64`, …
    pub arch: String,
    /// CPUs this process may use (`available_parallelism`).
    pub cpu_count: u64,
    /// Total physical memory in bytes, 0 where it could not be read.
    pub memory_bytes: u64,
    /// Whether the process runs in a container (Docker, Podman, Kubernetes, LXC).
    pub in_container: bool,
    /// The kernel's family: `linux` (Android too), `darwin` (every Apple OS),
    /// `nt` (Windows), else the OS's name.
    #[serde(default)]
    pub kernel: String,
    /// The kernel's `[major, minor]` release (Linux: `6.8.0-45-generic` → `[6, 8]`),
    /// where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_version: Option<[u32; 2]>,
    /// The kind of disk under the data directory named with [`set_data_dir`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskKind>,
    /// CPU features that change how fast code runs, of [`CPU_FEATURES`].
    #[serde(default)]
    pub cpu_features: Vec<String>,
}

/// Whether a disk has spinning platters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskKind {
    /// Solid state (or any non-rotational device).
    Ssd,
    /// Rotational.
    Hdd,
}

impl fmt::Display for DiskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiskKind::Ssd => "ssd",
            DiskKind::Hdd => "hdd",
        })
    }
}

/// The CPU features reported, where the CPU has them.
pub const CPU_FEATURES: [&str; 4] = ["sse4.2", "avx2", "avx512f", "neon"];

static BASE: OnceLock<SystemInfo> = OnceLock::new();
static WITH_DISK: OnceLock<SystemInfo> = OnceLock::new();

/// The facts of this machine, read on first use.
pub fn system_info() -> &'static SystemInfo {
    WITH_DISK.get().unwrap_or_else(base_info)
}

fn base_info() -> &'static SystemInfo {
    BASE.get_or_init(|| SystemInfo {
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        memory_bytes: memory_bytes().unwrap_or(0),
        in_container: in_container(),
        kernel: kernel_family(std::env::consts::OS).to_owned(),
        kernel_version: kernel_version(),
        disk: None,
        cpu_features: cpu_features(),
    })
}

/// Names the directory where the app keeps its data, once, so snapshots report
/// the kind of disk under it (`disk`). Returns that kind (`None` where it cannot
/// be told), or `Err` with the rejected path if a data directory was already named.
///
/// ```
/// let disk = telemetry::set_data_dir(std::env::temp_dir()).expect("named once");
/// assert_eq!(telemetry::snapshot().system.disk, disk);
/// ```
pub fn set_data_dir(dir: impl AsRef<Path>) -> Result<Option<DiskKind>, PathBuf> {
    let dir = dir.as_ref();
    if WITH_DISK.get().is_some() {
        return Err(dir.to_owned());
    }
    let disk = disk_kind(dir);
    let info = SystemInfo {
        disk,
        ..base_info().clone()
    };
    WITH_DISK.set(info).map_err(|_| dir.to_owned())?;
    Ok(disk)
}

fn memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&meminfo)
}

/// `MemTotal:       24576000 kB` → bytes.
fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn in_container() -> bool {
    let marker_file = ["/.dockerenv", "/run/.containerenv"]
        .iter()
        .any(|path| Path::new(path).exists());
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    // Only whether these are set is read, never their values.
    let marker_env = ["container", "KUBERNETES_SERVICE_HOST"]
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    marker_file || marker_env || cgroup_names_a_runtime(&cgroup)
}

fn cgroup_names_a_runtime(cgroup: &str) -> bool {
    ["docker", "kubepods", "containerd", "libpod", "lxc"]
        .iter()
        .any(|runtime| cgroup.contains(runtime))
}

fn kernel_family(os: &str) -> &str {
    match os {
        "linux" | "android" => "linux",
        "macos" | "ios" | "tvos" | "watchos" | "visionos" => "darwin",
        "windows" => "nt",
        other => other,
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn kernel_version() -> Option<[u32; 2]> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    parse_kernel_release(&release)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn kernel_version() -> Option<[u32; 2]> {
    None
}

/// `6.8.0-45-generic` → `[6, 8]`; the rest (distribution, build) is dropped.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
fn parse_kernel_release(release: &str) -> Option<[u32; 2]> {
    let mut numbers = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    let major = numbers.next()?.ok()?;
    let minor = numbers.next()?.ok()?;
    Some([major, minor])
}

fn cpu_features() -> Vec<String> {
    #[allow(unused_mut)] // on architectures without any of the features
    let mut found: Vec<&str> = Vec::new();
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            found.push("sse4.2");
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            found.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            found.push("avx512f");
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            found.push("neon");
        }
    }
    found.into_iter().map(str::to_owned).collect()
}

/// The kind of disk holding `dir`: the device of the file system (or, for a
/// partition, its disk) says whether it rotates; where the file system has no
/// block device of its own (overlay, tmpfs, btrfs subvolumes), the answer is the
/// one every disk of the machine agrees on.
#[cfg(target_os = "linux")]
fn disk_kind(dir: &Path) -> Option<DiskKind> {
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
fn disk_kind(_dir: &Path) -> Option<DiskKind> {
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

/// Values of `os` reported as is in anonymized snapshots (Rust's target OSes).
const KNOWN_OS: &[&str] = &[
    "linux",
    "macos",
    "windows",
    "android",
    "ios",
    "tvos",
    "watchos",
    "visionos",
    "freebsd",
    "netbsd",
    "openbsd",
    "dragonfly",
    "illumos",
    "solaris",
    "aix",
    "hurd",
    "haiku",
    "redox",
    "fuchsia",
    "hermit",
    "horizon",
    "nto",
    "vxworks",
    "espidf",
    "emscripten",
    "wasi",
    "uefi",
    "cygwin",
    "l4re",
    "none",
];

/// Values of `arch` reported as is in anonymized snapshots (Rust's target arches).
const KNOWN_ARCH: &[&str] = &[
    "x86",
    "x86_64",
    "arm",
    "arm64ec",
    "aarch64",
    "riscv32",
    "riscv64",
    "powerpc",
    "powerpc64",
    "s390x",
    "mips",
    "mips32r6",
    "mips64",
    "mips64r6",
    "loongarch64",
    "sparc",
    "sparc64",
    "wasm32",
    "wasm64",
    "m68k",
    "csky",
    "hexagon",
    "xtensa",
    "avr",
    "msp430",
    "bpf",
    "nvptx64",
    "amdgpu",
];

/// What an unknown string becomes in anonymized snapshots.
pub const OTHER: &str = "other";

fn known_or_other<'a>(value: &str, known: &[&'a str], own: &'a str) -> &'a str {
    if value == own {
        return own;
    }
    known
        .iter()
        .find(|candidate| **candidate == value)
        .copied()
        .unwrap_or(OTHER)
}

/// `os` if it is a known OS, else `other`.
pub(crate) fn known_os(os: &str) -> &'static str {
    known_or_other(os, KNOWN_OS, std::env::consts::OS)
}

/// `arch` if it is a known architecture, else `other`.
pub(crate) fn known_arch(arch: &str) -> &'static str {
    known_or_other(arch, KNOWN_ARCH, std::env::consts::ARCH)
}

/// `kernel` if it is a known kernel family, else `other`.
pub(crate) fn known_kernel(kernel: &str) -> &'static str {
    let own = kernel_family(std::env::consts::OS);
    if kernel == own {
        return own;
    }
    KNOWN_OS
        .iter()
        .copied()
        .map(kernel_family)
        .find(|family| *family == kernel)
        .unwrap_or(OTHER)
}

/// The features of `features` that are in [`CPU_FEATURES`], once each, in order.
pub(crate) fn known_cpu_features(features: &[String]) -> Vec<String> {
    CPU_FEATURES
        .iter()
        .filter(|known| features.iter().any(|feature| feature == *known))
        .map(|known| (*known).to_owned())
        .collect()
}

impl SystemInfo {
    /// Every string the `system` of an anonymized snapshot may contain: the known
    /// OSes, architectures, kernel families, CPU features and disk kinds, and
    /// `other` for anything else. A collector may reject any other value.
    ///
    /// ```
    /// let allowed = telemetry::SystemInfo::anonymized_values();
    /// let report = telemetry::snapshot().anonymize();
    /// assert!(allowed.contains(&report.system.os.as_str()));
    /// ```
    pub fn anonymized_values() -> Vec<&'static str> {
        let mut all: Vec<&'static str> = KNOWN_OS.to_vec();
        all.extend(KNOWN_ARCH);
        all.extend(KNOWN_OS.iter().copied().map(kernel_family));
        all.extend([std::env::consts::OS, std::env::consts::ARCH]);
        all.push(kernel_family(std::env::consts::OS));
        all.extend(CPU_FEATURES);
        all.extend(["ssd", "hdd", OTHER]);
        all.sort_unstable();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:  1 kB\n";
        assert_eq!(parse_mem_total(meminfo), Some(24_576_000 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB"), None);
    }

    #[test]
    fn container_runtimes_are_recognized_in_cgroups() {
        assert!(cgroup_names_a_runtime("0::/kubepods/burstable/pod1/abc"));
        assert!(cgroup_names_a_runtime("12:cpu:/docker/4f3e"));
        assert!(!cgroup_names_a_runtime(
            "0::/user.slice/user-1000.slice/session-2.scope"
        ));
    }

    #[test]
    fn kernel_releases_keep_major_and_minor_only() {
        assert_eq!(parse_kernel_release("6.8.0-45-generic\n"), Some([6, 8]));
        assert_eq!(
            parse_kernel_release("5.15.153.1-microsoft-standard-WSL2"),
            Some([5, 15])
        );
        assert_eq!(parse_kernel_release("4.19"), Some([4, 19]));
        assert_eq!(parse_kernel_release("6"), None);
        assert_eq!(parse_kernel_release("custom-kernel"), None);
    }

    #[test]
    fn kernel_families_group_oses() {
        assert_eq!(kernel_family("android"), "linux");
        assert_eq!(kernel_family("ios"), "darwin");
        assert_eq!(kernel_family("windows"), "nt");
        assert_eq!(kernel_family("freebsd"), "freebsd");
    }

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

    #[test]
    fn unknown_strings_become_other() {
        assert_eq!(known_os("linux"), "linux");
        assert_eq!(known_os("alice-laptop"), OTHER);
        assert_eq!(known_arch("aarch64"), "aarch64");
        assert_eq!(known_arch("x86_64 "), OTHER);
        assert_eq!(known_kernel("darwin"), "darwin");
        assert_eq!(known_kernel("Linux"), OTHER);
        let features = ["avx2", "secret", "sse4.2", "avx2"].map(String::from);
        assert_eq!(known_cpu_features(&features), ["sse4.2", "avx2"]);
        let allowed = SystemInfo::anonymized_values();
        let own = system_info();
        for value in [
            own.os.as_str(),
            own.arch.as_str(),
            own.kernel.as_str(),
            OTHER,
        ] {
            assert!(allowed.contains(&value), "{value}");
        }
    }

    #[test]
    fn this_machine_has_facts() {
        let info = system_info();
        assert!(info.cpu_count >= 1);
        assert_eq!(info.os, std::env::consts::OS);
        if cfg!(target_os = "linux") {
            assert!(info.memory_bytes > 0);
            assert_eq!(info.kernel, "linux");
            assert!(info.kernel_version.is_some());
        }
        if cfg!(target_arch = "x86_64") && std::arch::is_x86_feature_detected!("avx2") {
            assert!(info.cpu_features.iter().any(|feature| feature == "avx2"));
        }
        assert!(info
            .cpu_features
            .iter()
            .all(|feature| CPU_FEATURES.contains(&feature.as_str())));
    }
}
