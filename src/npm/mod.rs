//! Layers made from npm packages, without Node.js and without running any
//! install script.
//!
//! ```text
//! [npm] spec ──► lock::resolve_for_build (lock file or exact pin)
//!     ──► NpmCache::unpacked (download, check integrity, extract safely)
//!     ──► install::build_tree (binary, or npm -g layout) ──► layer Tree
//! ```
//!
//! Packages that ship their program as a native binary in per-platform
//! optional dependencies, with a placeholder `bin` that a postinstall
//! script overwrites, are installed the way that script would: the
//! platform package matching the image's OS, CPU and C library supplies the
//! file installed under the `bin` name.

pub mod cache;
pub mod config;
pub mod extract;
pub mod install;
pub mod integrity;
pub mod layer;
pub mod lock;
pub mod packument;
pub mod platform;
pub mod registry;
pub mod semver;

#[cfg(test)]
mod test_registry;

pub use cache::NpmCache;
pub use config::NpmConfig;
pub use install::{NpmPackageRecord, build_tree};
pub use integrity::Integrity;
pub use lock::{Lockfile, Resolved, resolve_for_build};
pub use registry::NpmClient;

use serde::{Deserialize, Serialize};

use crate::platform::{Libc, LibcError};

pub const DEFAULT_BIN_DIR: &str = "/usr/local/bin";
/// Where `npm install -g` puts packages with the usual `/usr/local` prefix.
pub const GLOBAL_NODE_MODULES: &str = "/usr/local/lib/node_modules";

/// The `[npm]` table of a layer file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpmSource {
    /// Package name, `@scope/name` or `name`.
    pub package: String,
    /// An exact version, a dist-tag (`latest`) or a range (`^2.1`).
    pub version: String,
    /// The tarball's SRI integrity; with an exact version, the build needs
    /// no lock entry.
    #[serde(default)]
    pub integrity: Option<String>,
    /// Where the package's programs are installed (default `/usr/local/bin`).
    #[serde(default)]
    pub bin_dir: Option<String>,
    /// `glibc` or `musl`; detected from the base image when not given.
    #[serde(default)]
    pub libc: Option<String>,
    /// Also lay the package out under `/usr/local/lib/node_modules` with
    /// `bin` symlinks, as `npm install -g` would.
    #[serde(default)]
    pub node_modules: bool,
}

impl NpmSource {
    pub fn integrity(&self) -> Result<Option<Integrity>, integrity::IntegrityError> {
        self.integrity.as_deref().map(str::parse).transpose()
    }

    pub fn bin_dir(&self) -> &str {
        self.bin_dir.as_deref().unwrap_or(DEFAULT_BIN_DIR)
    }

    /// The `libc` the spec names, if any.
    pub fn libc(&self) -> Result<Option<Libc>, LibcError> {
        self.libc.as_deref().map(str::parse).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_defaults_and_unknown_keys() {
        let source: NpmSource = toml::from_str("package = \"x\"\nversion = \"latest\"\n").unwrap();
        assert_eq!(source.bin_dir(), "/usr/local/bin");
        assert!(!source.node_modules);
        assert_eq!(source.libc().unwrap(), None);
        let err = toml::from_str::<NpmSource>("package = \"x\"\nversion = \"1\"\nbinn = \"/\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("binn"), "{err}");
        let source: NpmSource =
            toml::from_str("package = \"x\"\nversion = \"1\"\nlibc = \"musl\"\n").unwrap();
        assert_eq!(source.libc().unwrap(), Some(Libc::Musl));
    }
}
