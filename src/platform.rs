//! Target platforms, named as the OCI image index names them.

use std::fmt;
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
}
