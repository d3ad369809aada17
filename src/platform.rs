//! Target platforms, named as the OCI image index names them, and the C
//! library of a base rootfs.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// `os/architecture[/variant]`, e.g. `linux/amd64` or `linux/arm64/v8`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// Architectures we know how to name for npm and Rust targets.
const KNOWN: &[(&str, &str)] = &[
    ("amd64", "x64"),
    ("arm64", "arm64"),
    ("arm", "arm"),
    ("386", "ia32"),
    ("ppc64le", "ppc64"),
    ("s390x", "s390x"),
    ("riscv64", "riscv64"),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown platform '{0}' (expected os/arch such as linux/amd64 or linux/arm64)")]
pub struct PlatformError(pub String);

impl Platform {
    /// A platform from its parts, unchecked (no variant).
    pub fn new(os: &str, architecture: &str) -> Self {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
    }

    pub fn linux_amd64() -> Self {
        "linux/amd64".parse().expect("a valid platform")
    }

    /// Node's name for the CPU (`process.arch`), when it has one.
    pub fn known_npm_cpu(&self) -> Option<&'static str> {
        KNOWN
            .iter()
            .find(|(oci, _)| *oci == self.architecture)
            .map(|(_, npm)| *npm)
    }

    /// npm's name for the CPU (`process.arch`); the OCI name when Node
    /// has none.
    pub fn npm_cpu(&self) -> &str {
        self.known_npm_cpu().unwrap_or(&self.architecture)
    }

    /// The architecture as `uname -m` prints it.
    pub fn machine(&self) -> &str {
        match self.architecture.as_str() {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            other => other,
        }
    }

    /// Whether `other` (from an index entry) serves this platform.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        let variant_ok = match (&self.variant, variant) {
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => self.architecture == "arm64" && want == "v8",
            (None, _) => true,
        };
        self.os == os && self.architecture == architecture && variant_ok
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] if !variant.is_empty() => (*os, *arch, Some(variant.to_string())),
            _ => return Err(PlatformError(s.to_string())),
        };
        let known_os = matches!(os, "linux" | "windows" | "freebsd" | "darwin");
        let known_arch = KNOWN.iter().any(|(oci, _)| *oci == arch);
        if !known_os || !known_arch {
            return Err(PlatformError(s.to_string()));
        }
        Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant,
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The C library of a Linux rootfs, named as npm's `libc` field names it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Libc {
    Glibc,
    Musl,
}

impl Libc {
    pub fn npm_name(self) -> &'static str {
        match self {
            Libc::Glibc => "glibc",
            Libc::Musl => "musl",
        }
    }

    /// The C library a file belongs to, from its name: the dynamic loader
    /// tells, `ld-musl-*` for musl, `ld-linux*` or `libc.so.6` for glibc.
    pub fn of_file_name(name: &str) -> Option<Libc> {
        if name.starts_with("ld-musl-") {
            Some(Libc::Musl)
        } else if name.starts_with("ld-linux") || name == "libc.so.6" {
            Some(Libc::Glibc)
        } else {
            None
        }
    }
}

impl fmt::Display for Libc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.npm_name())
    }
}

impl FromStr for Libc {
    type Err = LibcError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "glibc" => Ok(Libc::Glibc),
            "musl" => Ok(Libc::Musl),
            _ => Err(LibcError::Unknown(s.to_string())),
        }
    }
}

/// Why the C library of a rootfs is not known.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LibcError {
    #[error("libc '{0}' is neither 'glibc' nor 'musl'")]
    Unknown(String),
    #[error(
        "the base rootfs holds no C library loader (neither ld-linux nor ld-musl); set libc in the spec"
    )]
    NoLibc,
    #[error("the base rootfs holds both glibc ({glibc}) and musl ({musl}); set libc in the spec")]
    BothLibcs { glibc: String, musl: String },
}

/// Which C library a rootfs uses, from the paths of its files (relative or
/// absolute, as a base layer lists them): the loaders in its library
/// directories ([`Libc::of_file_name`]).
pub fn detect_libc<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<Libc, LibcError> {
    let mut glibc = None;
    let mut musl = None;
    for path in paths {
        let path = path.trim_start_matches("./").trim_start_matches('/');
        let Some((dir, name)) = path.rsplit_once('/') else {
            continue;
        };
        if !is_library_dir(dir) {
            continue;
        }
        match Libc::of_file_name(name) {
            Some(Libc::Musl) => musl.get_or_insert_with(|| path.to_string()),
            Some(Libc::Glibc) => glibc.get_or_insert_with(|| path.to_string()),
            None => continue,
        };
    }
    match (glibc, musl) {
        (Some(_), None) => Ok(Libc::Glibc),
        (None, Some(_)) => Ok(Libc::Musl),
        (Some(glibc), Some(musl)) => Err(LibcError::BothLibcs { glibc, musl }),
        (None, None) => Err(LibcError::NoLibc),
    }
}

/// `lib`, `lib64`, `usr/lib`, `lib/x86_64-linux-gnu` and the like.
fn is_library_dir(dir: &str) -> bool {
    let dir = dir.strip_prefix("usr/").unwrap_or(dir);
    let top = dir.split('/').next().unwrap_or_default();
    top.starts_with("lib") && dir.split('/').count() <= 2
}

/// [`detect_libc`] over an unpacked rootfs directory.
pub fn detect_libc_in_dir(root: &Path) -> Result<Libc, LibcError> {
    let mut paths = Vec::new();
    for dir in ["lib", "lib64", "lib32", "usr/lib", "usr/lib64"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            paths.push(format!("{dir}/{name}"));
            // Debian's multiarch directories hold the loader one level down.
            if name.contains("-linux-") && entry.path().is_dir() {
                for inner in std::fs::read_dir(entry.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    paths.push(format!(
                        "{dir}/{name}/{}",
                        inner.file_name().to_string_lossy()
                    ));
                }
            }
        }
    }
    detect_libc(paths.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_platforms_and_refuses_others() {
        let p: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(p.npm_cpu(), "arm64");
        assert_eq!(p.machine(), "aarch64");
        assert_eq!("linux/amd64".parse::<Platform>().unwrap().npm_cpu(), "x64");
        assert!("linux/sparc".parse::<Platform>().is_err());
        assert!("plan9/amd64".parse::<Platform>().is_err());
        assert!("linux".parse::<Platform>().is_err());
    }

    #[test]
    fn arm64_matches_v8_variant() {
        let p = Platform::linux_amd64();
        assert!(p.matches("linux", "amd64", None));
        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(arm.matches("linux", "arm64", None));
        assert!(!arm.matches("linux", "amd64", None));
    }

    #[test]
    fn libc_is_detected_from_loader_paths() {
        let ubuntu = [
            "usr/bin/ls",
            "lib64/ld-linux-x86-64.so.2",
            "usr/lib/x86_64-linux-gnu/libc.so.6",
        ];
        assert_eq!(detect_libc(ubuntu), Ok(Libc::Glibc));
        let alpine = ["/bin/busybox", "/lib/ld-musl-x86_64.so.1", "/lib/libz.so.1"];
        assert_eq!(detect_libc(alpine), Ok(Libc::Musl));
        assert_eq!(
            detect_libc(["etc/passwd", "opt/libc.so.6"]),
            Err(LibcError::NoLibc)
        );
        let both = ["lib/ld-musl-x86_64.so.1", "lib/x86_64-linux-gnu/libc.so.6"];
        assert!(matches!(
            detect_libc(both),
            Err(LibcError::BothLibcs { .. })
        ));
    }

    #[test]
    fn libc_is_detected_in_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib/aarch64-linux-gnu")).unwrap();
        std::fs::write(dir.path().join("lib/aarch64-linux-gnu/libc.so.6"), b"").unwrap();
        assert_eq!(detect_libc_in_dir(dir.path()), Ok(Libc::Glibc));
    }
}
