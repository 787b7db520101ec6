//! Facts about the machine the process runs on, read once.
//!
//! Every fact is read best effort: where it cannot be read it is `0`, empty or
//! absent, never a panic. Only facts that cannot identify a host or a person are
//! read at all: no host name, user name, address, path or environment value.
//! The kind of disk under the data directory is read by `disk`; the allow-lists
//! that bound what the anonymized form may say of the machine are in `known`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::settings::{already_set, AlreadySet};

mod disk;
mod known;

use disk::disk_kind;
pub(crate) use known::{known_arch, known_cpu_features, known_kernel, known_os};

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
    /// CPU features that change how fast code runs, from a fixed list (in
    /// [`SystemInfo::anonymized_values`]).
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
/// be told). Refuses with [`AlreadySet`] (which hands the path back) if a data
/// directory was already named.
///
/// ```
/// let disk = telemetry::instance::set_data_dir(std::env::temp_dir()).expect("named once");
/// assert_eq!(telemetry::snapshot().system.disk, disk);
/// ```
pub fn set_data_dir(dir: impl AsRef<Path>) -> Result<Option<DiskKind>, AlreadySet<PathBuf>> {
    let dir = dir.as_ref();
    let refuse = || already_set("data directory", dir.to_owned());
    if WITH_DISK.get().is_some() {
        return Err(refuse());
    }
    let disk = disk_kind(dir);
    let info = SystemInfo {
        disk,
        ..base_info().clone()
    };
    WITH_DISK.set(info).map_err(|_| refuse())?;
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

pub(super) fn kernel_family(os: &str) -> &str {
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
