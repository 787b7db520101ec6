//! Facts about the machine the process runs on, read once.

use std::sync::OnceLock;

/// Machine facts reported in every snapshot. None of them identifies a person or a
/// host: no host name, user name, address or path.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
}

/// The facts of this machine, read on first use.
pub fn system_info() -> &'static SystemInfo {
    static INFO: OnceLock<SystemInfo> = OnceLock::new();
    INFO.get_or_init(|| SystemInfo {
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        cpu_count: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        memory_bytes: memory_bytes().unwrap_or(0),
        in_container: in_container(),
    })
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
        .any(|path| std::path::Path::new(path).exists());
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    marker_file || std::env::var_os("container").is_some() || cgroup_names_a_runtime(&cgroup)
}

fn cgroup_names_a_runtime(cgroup: &str) -> bool {
    ["docker", "kubepods", "containerd", "libpod", "lxc"]
        .iter()
        .any(|runtime| cgroup.contains(runtime))
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
    fn this_machine_has_facts() {
        let info = system_info();
        assert!(info.cpu_count >= 1);
        assert_eq!(info.os, std::env::consts::OS);
        if cfg!(target_os = "linux") {
            assert!(info.memory_bytes > 0);
        }
    }
}
