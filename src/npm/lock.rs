//! Lock files: the exact version and integrity of every npm input.
//!
//! `jib-image lock` asks the registry once and writes `NAME.lock` beside the
//! spec; builds then read only the lock, so a moving dist-tag or a new
//! release inside a range changes nothing until the lock is refreshed. A
//! lock entry is found by package name and the version the spec requested;
//! an entry whose version no longer fits the spec is stale and refused.
//!
//! For a package that installs its binary from a platform package, the
//! lock also pins every platform package that can serve one of the locked
//! image platforms, with its `os`, `cpu` and `libc` lists, so that the
//! choice for a platform and C library needs no registry at build time.
//! No URL is stored: the registry comes from the user's npm configuration.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use super::NpmSource;
use super::integrity::{Integrity, IntegrityError};
use super::packument::{PackageVersion, Requested, ResolveError};
use super::platform::{PlatformError, list_allows, npm_cpu, npm_os};
use super::registry::{NpmClient, RegistryError};
use super::semver::Version;
use crate::platform::Platform;

const LOCK_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("reading lock file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lock file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("writing lock file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "lock file {path} has format version {found}; this jib-image reads version {LOCK_VERSION}"
    )]
    Format { path: PathBuf, found: u32 },
    #[error(
        "{package}@{requested} is not pinned: give an exact version and integrity in the spec, \
         or run `jib-image lock`"
    )]
    Missing { package: String, requested: String },
    #[error("the lock entry for {package} is stale ({reason}); run `jib-image lock`")]
    Stale { package: String, reason: String },
    #[error(
        "{package}: the spec pins integrity {expected}, the registry has {actual} for {version}"
    )]
    IntegrityDiffers {
        package: String,
        version: String,
        expected: Integrity,
        actual: Integrity,
    },
    #[error("{package}: version '{version}' is not major.minor.patch")]
    Version { package: String, version: String },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("npm integrity in the spec: {0}")]
    SpecIntegrity(#[from] IntegrityError),
}

/// One exact package: what the layer is built from and the SBOM lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedPackage {
    pub name: String,
    pub version: String,
    pub integrity: Integrity,
    /// Where the packument said the tarball is; never written to a lock.
    #[serde(skip)]
    pub tarball: Option<Url>,
}

/// A platform package, with the lists npm matches against the platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativePackage {
    #[serde(flatten)]
    pub package: PinnedPackage,
    #[serde(default)]
    pub os: Vec<String>,
    #[serde(default)]
    pub cpu: Vec<String>,
    #[serde(default)]
    pub libc: Vec<String>,
}

impl NativePackage {
    /// Whether npm would install this package for `platform` with `libc`.
    pub fn serves(&self, os: &str, cpu: &str, libc: Option<&str>) -> bool {
        let libc_ok = match libc {
            Some(libc) if os == "linux" => list_allows(&self.libc, libc),
            _ => true,
        };
        list_allows(&self.os, os) && list_allows(&self.cpu, cpu) && libc_ok
    }

    /// `name (os=linux cpu=x64 libc=glibc)`, for messages.
    pub fn describe(&self) -> String {
        let show = |l: &[String]| {
            if l.is_empty() {
                "any".to_string()
            } else {
                l.join(",")
            }
        };
        format!(
            "{} (os={} cpu={} libc={})",
            self.package.name,
            show(&self.os),
            show(&self.cpu),
            show(&self.libc)
        )
    }
}

/// One npm input resolved: the package and its platform packages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    pub name: String,
    /// The version, tag or range the spec asked for.
    pub requested: String,
    pub version: String,
    pub integrity: Integrity,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub native: Vec<NativePackage>,
}

/// What a build uses for one npm input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub package: PinnedPackage,
    /// Every pinned platform package; the build picks one when the
    /// package's binary is a placeholder.
    pub native: Vec<NativePackage>,
}

/// The `NAME.lock` file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    #[serde(default)]
    pub npm: Vec<LockEntry>,
}

impl Lockfile {
    /// `dir/NAME.lock` for the spec `dir/NAME.toml`.
    pub fn path_for_spec(spec: &Path) -> PathBuf {
        spec.with_extension("lock")
    }

    pub fn read(path: &Path) -> Result<Self, LockError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let lock: Lockfile = toml::from_str(&text).map_err(|e| LockError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        if lock.version != LOCK_VERSION {
            return Err(LockError::Format {
                path: path.to_path_buf(),
                found: lock.version,
            });
        }
        Ok(lock)
    }

    /// Reads the lock when it exists.
    pub fn read_optional(path: &Path) -> Result<Option<Self>, LockError> {
        if path.exists() {
            Self::read(path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The lock as TOML, entries sorted so that diffs show only changes.
    pub fn to_toml(&self) -> String {
        let mut sorted = self.clone();
        sorted.version = LOCK_VERSION;
        sorted
            .npm
            .sort_by(|a, b| (&a.name, &a.requested).cmp(&(&b.name, &b.requested)));
        sorted
            .npm
            .dedup_by(|a, b| a.name == b.name && a.requested == b.requested);
        for entry in &mut sorted.npm {
            entry
                .native
                .sort_by(|a, b| a.package.name.cmp(&b.package.name));
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Exact versions of the npm inputs. Written by `jib-image lock`."
        );
        out.push_str(&toml::to_string(&sorted).unwrap_or_default());
        out
    }

    /// Puts entries in file order: by name and request, platform packages
    /// by name.
    pub fn sort(&mut self) {
        self.version = LOCK_VERSION;
        self.npm
            .sort_by(|a, b| (&a.name, &a.requested).cmp(&(&b.name, &b.requested)));
        self.npm
            .dedup_by(|a, b| a.name == b.name && a.requested == b.requested);
        for entry in &mut self.npm {
            entry
                .native
                .sort_by(|a, b| a.package.name.cmp(&b.package.name));
        }
    }

    /// Writes the lock atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let write_err = |source| LockError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(write_err)?;
        std::io::Write::write_all(&mut temp, self.to_toml().as_bytes()).map_err(write_err)?;
        temp.persist(path).map_err(|e| write_err(e.error))?;
        Ok(())
    }

    /// Replaces or adds the entry for `entry.name` and `entry.requested`.
    pub fn insert(&mut self, entry: LockEntry) {
        self.version = LOCK_VERSION;
        self.npm
            .retain(|e| !(e.name == entry.name && e.requested == entry.requested));
        self.npm.push(entry);
    }

    pub fn find(&self, name: &str, requested: &str) -> Option<&LockEntry> {
        self.npm
            .iter()
            .find(|e| e.name == name && e.requested == requested)
    }
}

fn pinned(version: &PackageVersion) -> Result<PinnedPackage, LockError> {
    Ok(PinnedPackage {
        name: version.name.clone(),
        version: version.version.clone(),
        integrity: version.integrity()?,
        tarball: Url::parse(&version.dist.tarball).ok(),
    })
}

/// Asks the registry for the exact version of `source` and of its platform
/// packages that serve any of `platforms` (whatever their libc).
pub fn resolve(
    source: &NpmSource,
    platforms: &[Platform],
    client: &NpmClient,
) -> Result<LockEntry, LockError> {
    let packument = client.packument(&source.package)?;
    let chosen = packument.pick(&source.version)?;
    let package = pinned(chosen)?;
    check_spec_integrity(source, &package)?;
    let native = resolve_native(chosen, platforms, client)?;
    Ok(LockEntry {
        name: package.name,
        requested: source.version.clone(),
        version: package.version,
        integrity: package.integrity,
        native,
    })
}

/// The optional dependencies that are platform packages (they name an `os`
/// or `cpu`) for one of `platforms`.
fn resolve_native(
    chosen: &PackageVersion,
    platforms: &[Platform],
    client: &NpmClient,
) -> Result<Vec<NativePackage>, LockError> {
    let mut out = Vec::new();
    for (name, range) in &chosen.optional_dependencies {
        let packument = client.packument(name)?;
        let version = packument.pick(range)?;
        if version.os.is_empty() && version.cpu.is_empty() {
            continue;
        }
        let native = NativePackage {
            package: pinned(version)?,
            os: version.os.clone(),
            cpu: version.cpu.clone(),
            libc: version.libc.clone(),
        };
        let mut wanted = false;
        for platform in platforms {
            wanted |= native.serves(npm_os(platform), npm_cpu(platform)?, None);
        }
        if wanted {
            out.push(native);
        }
    }
    Ok(out)
}

/// What `jib-image lock SPEC` does for the npm inputs: resolves every
/// source for `platforms` and writes `NAME.lock` beside the spec. The lock
/// is rewritten whole, so inputs the spec no longer has drop out of it.
pub fn write_for_spec(
    spec: &Path,
    sources: &[NpmSource],
    platforms: &[Platform],
    client: &NpmClient,
) -> Result<(PathBuf, Lockfile), LockError> {
    let mut lock = Lockfile {
        version: LOCK_VERSION,
        npm: Vec::new(),
    };
    for source in sources {
        let entry = resolve(source, platforms, client)?;
        tracing::info!(
            package = %entry.name,
            requested = %entry.requested,
            version = %entry.version,
            "locked npm package"
        );
        lock.insert(entry);
    }
    lock.sort();
    let path = Lockfile::path_for_spec(spec);
    lock.write(&path)?;
    Ok((path, lock))
}

fn check_spec_integrity(source: &NpmSource, package: &PinnedPackage) -> Result<(), LockError> {
    match source.integrity()? {
        Some(expected) if expected != package.integrity => Err(LockError::IntegrityDiffers {
            package: package.name.clone(),
            version: package.version.clone(),
            expected,
            actual: package.integrity.clone(),
        }),
        _ => Ok(()),
    }
}

/// What to build `source` from: the lock entry when there is a lock, else
/// the spec's own exact pin (version and integrity), asking the registry
/// only for the platform packages of `platform`.
pub fn resolve_for_build(
    source: &NpmSource,
    lock: Option<&Lockfile>,
    platform: &Platform,
    client: &NpmClient,
) -> Result<Resolved, LockError> {
    if let Some(entry) = lock.and_then(|l| l.find(&source.package, &source.version)) {
        return from_lock(source, entry);
    }
    let stale = lock
        .into_iter()
        .flat_map(|l| &l.npm)
        .find(|e| e.name == source.package);
    let exact = matches!(Requested::parse(&source.version), Requested::Exact(_));
    match (source.integrity()?, exact, stale) {
        (Some(_), true, _) => {
            // `resolve` checks the registry's integrity against the pin.
            let entry = resolve(source, std::slice::from_ref(platform), client)?;
            from_lock(source, &entry)
        }
        (_, _, Some(other)) => Err(LockError::Stale {
            package: source.package.clone(),
            reason: format!(
                "it pins '{}' but the spec asks for '{}'",
                other.requested, source.version
            ),
        }),
        _ => Err(LockError::Missing {
            package: source.package.clone(),
            requested: source.version.clone(),
        }),
    }
}

fn from_lock(source: &NpmSource, entry: &LockEntry) -> Result<Resolved, LockError> {
    let version: Version = entry.version.parse().map_err(|_| LockError::Version {
        package: entry.name.clone(),
        version: entry.version.clone(),
    })?;
    if Requested::parse(&source.version).accepts(&version) == Some(false) {
        return Err(LockError::Stale {
            package: entry.name.clone(),
            reason: format!("{} does not satisfy '{}'", entry.version, source.version),
        });
    }
    if let Some(expected) = source.integrity()?
        && expected != entry.integrity
    {
        return Err(LockError::Stale {
            package: entry.name.clone(),
            reason: format!(
                "the spec pins integrity {expected}, the lock {}",
                entry.integrity
            ),
        });
    }
    Ok(Resolved {
        package: PinnedPackage {
            name: entry.name.clone(),
            version: entry.version.clone(),
            integrity: entry.integrity.clone(),
            tarball: None,
        },
        native: entry.native.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(name: &str, cpu: &str, libc: &str) -> NativePackage {
        NativePackage {
            package: PinnedPackage {
                name: name.into(),
                version: "1.0.0".into(),
                integrity: Integrity::sha512_of(name.as_bytes()),
                tarball: None,
            },
            os: vec!["linux".into()],
            cpu: vec![cpu.into()],
            libc: vec![libc.into()],
        }
    }

    fn entry(requested: &str, version: &str) -> LockEntry {
        LockEntry {
            name: "tool".into(),
            requested: requested.into(),
            version: version.into(),
            integrity: Integrity::sha512_of(version.as_bytes()),
            native: vec![
                native("tool-linux-x64-musl", "x64", "musl"),
                native("tool-linux-arm64", "arm64", "glibc"),
            ],
        }
    }

    fn source(version: &str) -> NpmSource {
        toml::from_str(&format!("package = \"tool\"\nversion = \"{version}\"\n")).unwrap()
    }

    fn offline_client() -> NpmClient {
        NpmClient::new(crate::npm::config::NpmConfig::default()).unwrap()
    }

    #[test]
    fn lock_round_trips_sorted() {
        let mut lock = Lockfile::default();
        lock.insert(entry("^2", "2.1.0"));
        lock.insert(entry("1.0.0", "1.0.0"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.lock");
        lock.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.find("requested = \"1.0.0\"").unwrap() < text.find("requested = \"^2\"").unwrap()
        );
        assert!(text.find("tool-linux-arm64").unwrap() < text.find("tool-linux-x64-musl").unwrap());
        let read = Lockfile::read(&path).unwrap();
        assert_eq!(read.find("tool", "^2").unwrap().version, "2.1.0");
        assert_eq!(read.to_toml(), text);
        assert_eq!(
            Lockfile::path_for_spec(Path::new("spec/jib.toml")),
            Path::new("spec/jib.lock")
        );
    }

    #[test]
    fn build_uses_the_lock_and_refuses_stale_or_missing_entries() {
        let client = offline_client();
        let platform = Platform::new("linux", "amd64");
        let mut lock = Lockfile::default();
        lock.insert(entry("^2", "2.1.0"));
        lock.insert(entry("latest", "3.0.0"));

        let resolved = resolve_for_build(&source("^2"), Some(&lock), &platform, &client).unwrap();
        assert_eq!(resolved.package.version, "2.1.0");
        assert_eq!(resolved.native.len(), 2);
        let resolved =
            resolve_for_build(&source("latest"), Some(&lock), &platform, &client).unwrap();
        assert_eq!(resolved.package.version, "3.0.0");

        let err = resolve_for_build(&source("^4"), Some(&lock), &platform, &client).unwrap_err();
        assert!(matches!(err, LockError::Stale { .. }), "{err}");
        assert!(err.to_string().contains("jib-image lock"), "{err}");

        // An entry edited by hand so that it no longer fits is stale too.
        let mut edited = Lockfile::default();
        edited.insert(entry("^2", "3.0.0"));
        let err = resolve_for_build(&source("^2"), Some(&edited), &platform, &client).unwrap_err();
        assert!(
            err.to_string().contains("3.0.0 does not satisfy '^2'"),
            "{err}"
        );

        let err = resolve_for_build(&source("^2"), None, &platform, &client).unwrap_err();
        assert!(matches!(err, LockError::Missing { .. }), "{err}");
    }

    #[test]
    fn native_packages_match_like_npm() {
        let musl = native("tool-linux-x64-musl", "x64", "musl");
        assert!(musl.serves("linux", "x64", Some("musl")));
        assert!(!musl.serves("linux", "x64", Some("glibc")));
        assert!(musl.serves("linux", "x64", None));
        assert!(!musl.serves("linux", "arm64", None));
        assert_eq!(
            musl.describe(),
            "tool-linux-x64-musl (os=linux cpu=x64 libc=musl)"
        );
    }
}
