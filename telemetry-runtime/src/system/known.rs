//! The allow-lists of machine facts: the only strings the `system` part of an
//! anonymized snapshot may hold. A value outside them (a patched kernel's name,
//! an OS string a snapshot was edited to hold) becomes [`OTHER`].

use super::{kernel_family, SystemInfo, CPU_FEATURES};

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
    use super::super::system_info;
    use super::*;

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
}
