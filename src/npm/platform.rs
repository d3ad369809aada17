//! The image platform in npm's words.
//!
//! npm packages with native code declare where they run with `os`, `cpu`
//! and `libc` lists (Node's `process.platform`, `process.arch` and glibc or
//! musl). An image platform is named by OCI (`linux/amd64`); this module
//! maps one to the other and matches the lists as npm does.

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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlatformError {
    #[error("platform '{0}' has an architecture npm has no name for")]
    Architecture(String),
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
    fn npm_lists_include_and_exclude() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(list_allows(&list(&[]), "linux"));
        assert!(list_allows(&list(&["linux", "darwin"]), "linux"));
        assert!(!list_allows(&list(&["darwin"]), "linux"));
        assert!(list_allows(&list(&["!win32"]), "linux"));
        assert!(!list_allows(&list(&["!linux"]), "linux"));
    }
}
