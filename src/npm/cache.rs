//! The download cache: tarballs and their unpacked trees, keyed by integrity.
//!
//! ```text
//! ROOT/tarballs/sha512-<hex>.tgz    verified tarball
//! ROOT/packages/sha512-<hex>/       its contents, top directory stripped
//! ```
//!
//! Both are made under a temporary name in the same directory and renamed
//! only when complete (the tarball after its integrity check), so a name
//! that exists is always whole and right, a killed build leaves at most a
//! `.tmp-*` entry, and a hit needs neither the network nor the registry
//! configuration.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use url::Url;

use super::config::Env;
use super::extract::{ExtractError, extract_tgz};
use super::integrity::Integrity;
use super::registry::{NpmClient, RegistryError};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("no cache directory: neither XDG_CACHE_HOME nor HOME is set")]
    NoHome,
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Clone, Debug)]
pub struct NpmCache {
    root: PathBuf,
}

impl NpmCache {
    /// Opens (creating) a cache rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let root = root.into();
        for dir in ["tarballs", "packages"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_at(&path))?;
        }
        Ok(NpmCache { root })
    }

    /// `$XDG_CACHE_HOME/jib-image/npm`, else `~/.cache/jib-image/npm`.
    pub fn default_root(env: &Env) -> Result<PathBuf, CacheError> {
        let base = match (env.get("XDG_CACHE_HOME"), env.get("HOME")) {
            (Some(xdg), _) if !xdg.is_empty() => PathBuf::from(xdg),
            (_, Some(home)) if !home.is_empty() => Path::new(home).join(".cache"),
            _ => return Err(CacheError::NoHome),
        };
        Ok(base.join("jib-image").join("npm"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tarball_path(&self, integrity: &Integrity) -> PathBuf {
        self.root
            .join("tarballs")
            .join(format!("{}.tgz", integrity.cache_key()))
    }

    pub fn package_dir(&self, integrity: &Integrity) -> PathBuf {
        self.root.join("packages").join(integrity.cache_key())
    }

    /// The verified tarball, downloaded from `url()` on a miss.
    pub fn tarball(
        &self,
        client: &NpmClient,
        url: impl FnOnce() -> Result<Url, RegistryError>,
        integrity: &Integrity,
    ) -> Result<PathBuf, CacheError> {
        let path = self.tarball_path(integrity);
        if path.is_file() {
            return Ok(path);
        }
        let dir = self.root.join("tarballs");
        let temp = client.download(&url()?, integrity, &dir)?;
        temp.persist(&path).map_err(|e| io_at(&path)(e.error))?;
        Ok(path)
    }

    /// The unpacked package, downloading and extracting it on a miss.
    pub fn unpacked(
        &self,
        client: &NpmClient,
        url: impl FnOnce() -> Result<Url, RegistryError>,
        integrity: &Integrity,
    ) -> Result<PathBuf, CacheError> {
        let dest = self.package_dir(integrity);
        if dest.is_dir() {
            return Ok(dest);
        }
        let tarball = self.tarball(client, url, integrity)?;
        let packages = self.root.join("packages");
        let temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&packages)
            .map_err(io_at(&packages))?;
        extract_tgz(&tarball, temp.path())?;
        let staged = temp.keep();
        if let Err(err) = fs::rename(&staged, &dest) {
            // Another build may have finished the same package first.
            let _ = fs::remove_dir_all(&staged);
            if !dest.is_dir() {
                return Err(io_at(&dest)(err));
            }
        }
        Ok(dest)
    }

    /// Removes temporaries left by builds that were killed.
    pub fn clean_temporaries(&self) -> Result<usize, CacheError> {
        let mut removed = 0;
        for dir in ["tarballs", "packages"] {
            let path = self.root.join(dir);
            for entry in fs::read_dir(&path).map_err(io_at(&path))? {
                let entry = entry.map_err(io_at(&path))?;
                if !entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    continue;
                }
                let p = entry.path();
                let result = if p.is_dir() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
                result.map_err(io_at(&p))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
