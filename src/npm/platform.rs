//! The image platform in npm's words, and the C library of a base rootfs.
//!
//! npm packages with native code declare where they run with `os`, `cpu`
//! and `libc` lists (Node's `process.platform`, `process.arch` and glibc or
//! musl). An image platform is named by OCI (`linux/amd64`); this module
//! maps one to the other and matches the lists as npm does.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::platform::Platform;

/// Node's `process.platform` for the platform's OS (the same names for
/// Linux).
pub fn npm_os(platform: &Platform) -> &str {
    &platform.os
}

/// Node's `process.arch` for the platform's architecture.
pub fn npm_cpu(platform: &Platform) -> Result<&'static str, PlatformError> {
    platform
        .known_npm_cpu()
        .ok_or_else(|| PlatformError::Architecture(platform.to_string()))
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
}

impl fmt::Display for Libc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.npm_name())
    }
}

impl FromStr for Libc {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "glibc" => Ok(Libc::Glibc),
            "musl" => Ok(Libc::Musl),
            _ => Err(PlatformError::Libc(s.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlatformError {
    #[error("platform '{0}' has an architecture npm has no name for")]
    Architecture(String),
    #[error("libc '{0}' is neither 'glibc' nor 'musl'")]
    Libc(String),
    #[error(
        "the base rootfs holds no C library loader (neither ld-linux nor ld-musl); set libc in the spec"
    )]
    NoLibc,
    #[error("the base rootfs holds both glibc ({glibc}) and musl ({musl}); set libc in the spec")]
    BothLibcs { glibc: String, musl: String },
}

/// Which C library a rootfs uses, from the paths of its files (relative or
/// absolute, as a base layer lists them). The dynamic loader tells:
/// `ld-musl-*` for musl, `ld-linux*` or `libc.so.6` for glibc.
pub fn detect_libc<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<Libc, PlatformError> {
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
        if name.starts_with("ld-musl-") {
            musl.get_or_insert_with(|| path.to_string());
        } else if name.starts_with("ld-linux") || name == "libc.so.6" {
            glibc.get_or_insert_with(|| path.to_string());
        }
    }
    match (glibc, musl) {
        (Some(_), None) => Ok(Libc::Glibc),
        (None, Some(_)) => Ok(Libc::Musl),
        (Some(glibc), Some(musl)) => Err(PlatformError::BothLibcs { glibc, musl }),
        (None, None) => Err(PlatformError::NoLibc),
    }
}

/// `lib`, `lib64`, `usr/lib`, `lib/x86_64-linux-gnu` and the like.
fn is_library_dir(dir: &str) -> bool {
    let dir = dir.strip_prefix("usr/").unwrap_or(dir);
    let top = dir.split('/').next().unwrap_or_default();
    top.starts_with("lib") && dir.split('/').count() <= 2
}

/// [`detect_libc`] over an unpacked rootfs directory.
pub fn detect_libc_in_dir(root: &Path) -> Result<Libc, PlatformError> {
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

/// npm's rule for an `os`/`cpu`/`libc` list: empty allows everything,
/// `!name` entries exclude, and other entries, when present, must include
/// the value.
pub fn list_allows(list: &[String], value: &str) -> bool {
    if list.iter().any(|e| e.strip_prefix('!') == Some(value)) {
        return false;
    }
    let positives: Vec<&String> = list.iter().filter(|e| !e.starts_with('!')).collect();
    positives.is_empty() || positives.iter().any(|e| *e == value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_architectures_map_to_node_names() {
        assert_eq!(npm_cpu(&Platform::new("linux", "amd64")).unwrap(), "x64");
        assert_eq!(npm_cpu(&Platform::new("linux", "arm64")).unwrap(), "arm64");
        assert!(npm_cpu(&Platform::new("linux", "mips")).is_err());
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!("linux".parse::<Platform>().is_err());
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
            Err(PlatformError::NoLibc)
        );
        let both = ["lib/ld-musl-x86_64.so.1", "lib/x86_64-linux-gnu/libc.so.6"];
        assert!(matches!(
            detect_libc(both),
            Err(PlatformError::BothLibcs { .. })
        ));
    }

    #[test]
    fn libc_is_detected_in_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib/aarch64-linux-gnu")).unwrap();
        std::fs::write(dir.path().join("lib/aarch64-linux-gnu/libc.so.6"), b"").unwrap();
        assert_eq!(detect_libc_in_dir(dir.path()), Ok(Libc::Glibc));
    }

    #[test]
    fn npm_lists_include_and_exclude() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(list_allows(&list(&[]), "linux"));
        assert!(list_allows(&list(&["linux", "darwin"]), "linux"));
        assert!(!list_allows(&list(&["darwin"]), "linux"));
        assert!(list_allows(&list(&["!win32"]), "linux"));
        assert!(!list_allows(&list(&["!linux"]), "linux"));
    }
}
