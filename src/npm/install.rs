//! Turning unpacked npm packages into layer entries.
//!
//! Each `bin` of the package is one of three kinds:
//!
//! - a native executable (ELF), installed as it is;
//! - a placeholder that an install script replaces with the binary of a
//!   platform package from `optionalDependencies` (the package has an
//!   install script and optional dependencies, and the file is not ELF):
//!   the platform package matching the image's OS, CPU and C library is
//!   unpacked and its file of the same name installed instead;
//! - a script, which needs Node.js and the package directory, so only the
//!   `node_modules` layout can install it.
//!
//! Every entry is owned by root with the caller's mtime; directories are
//! 0755, files 0644 or 0755 (installed programs always 0755).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::layer::entry::{Content, Entry, EntryKind, LayerPath, PathError, Tree};

use super::cache::{CacheError, NpmCache};
use super::integrity::Integrity;
use super::lock::{NativePackage, PinnedPackage, Resolved};
use super::platform::{PlatformError, npm_cpu, npm_os};
use super::registry::NpmClient;
use super::{GLOBAL_NODE_MODULES, NpmSource};
use crate::platform::{Libc, Platform};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{package}: package.json: {message}")]
    Manifest { package: String, message: String },
    #[error("{package}: the tarball holds {found}, not {package}@{version}")]
    WrongPackage {
        package: String,
        version: String,
        found: String,
    },
    #[error("{package}: it depends on {list}, and jib-image installs no dependency trees")]
    Dependencies { package: String, list: String },
    #[error("{package}: bin '{name}' is not a plain file name")]
    BinName { package: String, name: String },
    #[error("{package}: bin '{name}' points to '{target}', which the package does not hold")]
    MissingBin {
        package: String,
        name: String,
        target: String,
    },
    #[error(
        "{package}: bin '{name}' is a script that needs Node.js and its package; \
         set node_modules = true (and install Node.js in the image)"
    )]
    Script { package: String, name: String },
    #[error(
        "{package}: it declares no bin, so there is nothing to install; set node_modules = true"
    )]
    NoBins { package: String },
    #[error("{package}: no platform package for {os}/{cpu} with {libc}; available: {available}")]
    NoNative {
        package: String,
        os: String,
        cpu: String,
        libc: Libc,
        available: String,
    },
    #[error("{package}: several platform packages fit {os}/{cpu} with {libc}: {candidates}")]
    AmbiguousNative {
        package: String,
        os: String,
        cpu: String,
        libc: Libc,
        candidates: String,
    },
    #[error("{package}: platform package {native} holds no file for bin '{name}'")]
    NativeMissingBin {
        package: String,
        native: String,
        name: String,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One package placed in the layer, for the SBOM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpmPackageRecord {
    pub name: String,
    pub version: String,
    pub integrity: Integrity,
}

impl NpmPackageRecord {
    /// The package URL (`pkg:npm/%40scope/name@version`).
    pub fn purl(&self) -> String {
        let name = self.name.replacen('@', "%40", 1);
        format!("pkg:npm/{name}@{}", self.version)
    }
}

/// The parts of `package.json` that decide what gets installed.
#[derive(Debug, Deserialize)]
struct Manifest {
    name: String,
    version: String,
    #[serde(default)]
    bin: Option<BinField>,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(rename = "optionalDependencies", default)]
    optional_dependencies: BTreeMap<String, String>,
    #[serde(default)]
    scripts: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum BinField {
    One(String),
    Many(BTreeMap<String, String>),
}

impl Manifest {
    fn read(dir: &Path, package: &str) -> Result<Self, InstallError> {
        let path = dir.join("package.json");
        let text = fs::read_to_string(&path).map_err(io_at(&path))?;
        serde_json::from_str(&text).map_err(|e| InstallError::Manifest {
            package: package.to_string(),
            message: e.to_string(),
        })
    }

    /// `bin` as a map; a single string is named after the unscoped package.
    fn bins(&self) -> BTreeMap<String, String> {
        match &self.bin {
            None => BTreeMap::new(),
            Some(BinField::Many(map)) => map.clone(),
            Some(BinField::One(path)) => {
                let name = self.name.rsplit('/').next().unwrap_or(&self.name);
                BTreeMap::from([(name.to_string(), path.clone())])
            }
        }
    }

    fn has_install_script(&self) -> bool {
        ["preinstall", "install", "postinstall"]
            .iter()
            .any(|s| self.scripts.contains_key(*s))
    }
}

#[derive(Debug, PartialEq, Eq)]
enum BinKind {
    Native,
    Placeholder,
    Script,
}

fn is_elf(path: &Path) -> Result<bool, InstallError> {
    let mut magic = [0u8; 4];
    let mut file = fs::File::open(path).map_err(io_at(path))?;
    let n = file.read(&mut magic).map_err(io_at(path))?;
    Ok(n == 4 && magic == *b"\x7fELF")
}

/// The tarball integrities a build of `resolved` for this platform reads:
/// the package and the platform package that fits, if any. Together with
/// the source's options and the mtime they make a cache key for the layer.
pub fn tarball_integrities(resolved: &Resolved, platform: &Platform, libc: Libc) -> Vec<Integrity> {
    let mut out = vec![resolved.package.integrity.clone()];
    if let Ok(cpu) = npm_cpu(platform) {
        out.extend(
            resolved
                .native
                .iter()
                .filter(|n| n.serves(npm_os(platform), cpu, Some(libc.npm_name())))
                .map(|n| n.package.integrity.clone()),
        );
    }
    out
}

fn unpack(
    cache: &NpmCache,
    client: &NpmClient,
    package: &PinnedPackage,
) -> Result<PathBuf, InstallError> {
    let url = || client.tarball_url_for(&package.name, &package.version, package.tarball.as_ref());
    Ok(cache.unpacked(client, url, &package.integrity)?)
}

fn record(package: &PinnedPackage) -> NpmPackageRecord {
    NpmPackageRecord {
        name: package.name.clone(),
        version: package.version.clone(),
        integrity: package.integrity.clone(),
    }
}

/// A bin resolved to the file that provides it.
struct Program {
    name: String,
    /// Path of the bin inside the package (`bin/claude.exe`).
    target: String,
    /// The file whose bytes are installed.
    file: PathBuf,
}

/// Builds the layer entries for `source` as resolved for one platform.
pub fn build_tree(
    source: &NpmSource,
    resolved: &Resolved,
    platform: &Platform,
    libc: Libc,
    mtime: u64,
    cache: &NpmCache,
    client: &NpmClient,
) -> Result<(Tree, Vec<NpmPackageRecord>), InstallError> {
    let package = &resolved.package;
    let dir = unpack(cache, client, package)?;
    let manifest = Manifest::read(&dir, &package.name)?;
    check_manifest(&manifest, package)?;
    let mut records = vec![record(package)];

    let mut programs = Vec::new();
    let mut native = None;
    for (name, target) in manifest.bins() {
        check_bin_name(&package.name, &name)?;
        let target = target.trim_start_matches("./").to_string();
        let file = dir.join(&target);
        LayerPath::new(&target)?;
        if !file.is_file() {
            return Err(InstallError::MissingBin {
                package: package.name.clone(),
                name,
                target,
            });
        }
        let file = match classify(&manifest, &file)? {
            BinKind::Native => file,
            BinKind::Script if source.node_modules => file,
            BinKind::Script => {
                return Err(InstallError::Script {
                    package: package.name.clone(),
                    name,
                });
            }
            BinKind::Placeholder => {
                if native.is_none() {
                    let chosen = select_native(resolved, &manifest, platform, libc)?;
                    let native_dir = unpack(cache, client, &chosen.package)?;
                    records.push(record(&chosen.package));
                    native = Some((chosen, native_dir));
                }
                let (chosen, native_dir) = native.as_ref().expect("set above");
                native_binary(&package.name, chosen, native_dir, &name)?
            }
        };
        programs.push(Program { name, target, file });
    }

    let mut builder = TreeBuilder::new(mtime);
    let bin_dir = LayerPath::new_user(source.bin_dir())?;
    if source.node_modules {
        let root = LayerPath::new(GLOBAL_NODE_MODULES)?.join(&package.name)?;
        builder.copy_dir(&dir, &root)?;
        let mut native_layout = None;
        if let Some((chosen, native_dir)) = &native {
            // Where npm puts an optional dependency of a global package.
            let native_root = root.join("node_modules")?.join(&chosen.package.name)?;
            builder.copy_dir(native_dir, &native_root)?;
            native_layout = Some((native_dir.as_path(), native_root));
        }
        for program in &programs {
            let installed = root.join(&program.target)?;
            let native = native_layout.as_ref().map(|(d, r)| (*d, r));
            builder.place_program(&installed, &program.file, native)?;
            let link = bin_dir.join(&program.name)?;
            builder.symlink(&link, relative_target(&link, &installed));
        }
    } else {
        if programs.is_empty() {
            return Err(InstallError::NoBins {
                package: package.name.clone(),
            });
        }
        for program in &programs {
            builder.file(&bin_dir.join(&program.name)?, &program.file, 0o755)?;
        }
    }
    Ok((builder.finish(), records))
}

fn check_manifest(manifest: &Manifest, package: &PinnedPackage) -> Result<(), InstallError> {
    if manifest.name != package.name || manifest.version != package.version {
        return Err(InstallError::WrongPackage {
            package: package.name.clone(),
            version: package.version.clone(),
            found: format!("{}@{}", manifest.name, manifest.version),
        });
    }
    if !manifest.dependencies.is_empty() {
        return Err(InstallError::Dependencies {
            package: package.name.clone(),
            list: manifest
                .dependencies
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(())
}

fn check_bin_name(package: &str, name: &str) -> Result<(), InstallError> {
    let plain =
        !name.is_empty() && !name.contains(['/', '\\', '\0']) && name != "." && name != "..";
    if plain && !name.starts_with(".wh.") {
        Ok(())
    } else {
        Err(InstallError::BinName {
            package: package.to_string(),
            name: name.to_string(),
        })
    }
}

fn classify(manifest: &Manifest, file: &Path) -> Result<BinKind, InstallError> {
    if is_elf(file)? {
        Ok(BinKind::Native)
    } else if manifest.has_install_script() && !manifest.optional_dependencies.is_empty() {
        Ok(BinKind::Placeholder)
    } else {
        Ok(BinKind::Script)
    }
}

/// The one platform package of the manifest's optional dependencies that
/// npm would install for this platform and C library. Never falls back to
/// another CPU or C library: a wrong binary would only fail at run time.
fn select_native<'a>(
    resolved: &'a Resolved,
    manifest: &Manifest,
    platform: &Platform,
    libc: Libc,
) -> Result<&'a NativePackage, InstallError> {
    let os = npm_os(platform);
    let cpu = npm_cpu(platform)?;
    let listed: Vec<&NativePackage> = resolved
        .native
        .iter()
        .filter(|n| manifest.optional_dependencies.contains_key(&n.package.name))
        .collect();
    let mut fits: Vec<&NativePackage> = listed
        .iter()
        .copied()
        .filter(|n| n.serves(os, cpu, Some(libc.npm_name())))
        .collect();
    // A package that names this libc beats one that does not name any.
    if fits.len() > 1 && fits.iter().any(|n| !n.libc.is_empty()) {
        fits.retain(|n| n.libc.iter().any(|l| l == libc.npm_name()));
    }
    let package = resolved.package.name.clone();
    match fits[..] {
        [one] => Ok(one),
        [] => {
            let available: Vec<String> = listed.iter().map(|n| n.describe()).collect();
            Err(InstallError::NoNative {
                package,
                os: os.to_string(),
                cpu: cpu.to_string(),
                libc,
                available: if available.is_empty() {
                    "none pinned (run `jib-image lock` for this platform)".to_string()
                } else {
                    available.join(", ")
                },
            })
        }
        _ => Err(InstallError::AmbiguousNative {
            package,
            os: os.to_string(),
            cpu: cpu.to_string(),
            libc,
            candidates: fits
                .iter()
                .map(|n| n.describe())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The file of a platform package that replaces the placeholder `name`:
/// its own `bin` entry of that name, else `NAME` or `bin/NAME`.
fn native_binary(
    package: &str,
    native: &NativePackage,
    dir: &Path,
    name: &str,
) -> Result<PathBuf, InstallError> {
    let mut candidates = Vec::new();
    if let Ok(manifest) = Manifest::read(dir, &native.package.name)
        && let Some(target) = manifest.bins().get(name)
        && LayerPath::new(target).is_ok()
    {
        candidates.push(target.trim_start_matches("./").to_string());
    }
    candidates.push(name.to_string());
    candidates.push(format!("bin/{name}"));
    candidates
        .into_iter()
        .map(|c| dir.join(c))
        .find(|p| p.symlink_metadata().is_ok_and(|m| m.is_file()))
        .ok_or_else(|| InstallError::NativeMissingBin {
            package: package.to_string(),
            native: native.package.name.clone(),
            name: name.to_string(),
        })
}

/// `link`'s target as a path relative to its directory, as npm writes bin
/// links (`../lib/node_modules/NAME/bin/x` from `usr/local/bin`).
fn relative_target(link: &LayerPath, target: &LayerPath) -> String {
    let from: Vec<String> = link
        .parent()
        .map(|p| p.components().map(str::to_owned).collect())
        .unwrap_or_default();
    let to: Vec<&str> = target.components().collect();
    let common = from
        .iter()
        .zip(&to)
        .take_while(|(a, b)| a.as_str() == **b)
        .count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

/// Collects entries with fixed ownership and times. Parents that nothing
/// declares stay out of the tree, so unpacking keeps what the base has
/// there (a merged-/usr symlink, a directory's mode and owner).
struct TreeBuilder {
    tree: Tree,
    /// Paths in `tree` made only as parents, left out by [`Self::finish`].
    parents: std::collections::BTreeSet<LayerPath>,
    mtime: u64,
}

impl TreeBuilder {
    fn new(mtime: u64) -> Self {
        TreeBuilder {
            tree: Tree::new(),
            parents: Default::default(),
            mtime,
        }
    }

    fn entry(&self, kind: EntryKind, mode: u32) -> Entry {
        Entry {
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: self.mtime,
        }
    }

    fn insert(&mut self, path: &LayerPath, kind: EntryKind, mode: u32) {
        for ancestor in path.ancestors() {
            if !self.tree.contains_key(&ancestor) {
                let dir = self.entry(EntryKind::Dir, 0o755);
                self.tree.insert(ancestor.clone(), dir);
                self.parents.insert(ancestor);
            }
        }
        let entry = self.entry(kind, mode);
        self.tree.insert(path.clone(), entry);
        self.parents.remove(path);
    }

    fn finish(mut self) -> Tree {
        let parents = &self.parents;
        self.tree.retain(|path, _| !parents.contains(path));
        self.tree
    }

    fn file(&mut self, path: &LayerPath, source: &Path, mode: u32) -> Result<(), InstallError> {
        let size = fs::metadata(source).map_err(io_at(source))?.len();
        let content = Content::Path(source.to_path_buf());
        self.insert(path, EntryKind::File { content, size }, mode);
        Ok(())
    }

    fn symlink(&mut self, path: &LayerPath, target: String) {
        self.insert(path, EntryKind::Symlink { target }, 0o777);
    }

    /// Every file and directory under `dir`, placed under `root`.
    fn copy_dir(&mut self, dir: &Path, root: &LayerPath) -> Result<(), InstallError> {
        self.insert(root, EntryKind::Dir, 0o755);
        let mut entries: Vec<_> = fs::read_dir(dir)
            .map_err(io_at(dir))?
            .collect::<Result<_, _>>()
            .map_err(io_at(dir))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().into_string().map_err(|_| {
                PathError::Escapes(format!("{root}/{}", entry.file_name().to_string_lossy()))
            })?;
            let inside = LayerPath::new_user(&format!("{}/{name}", root.as_str()))?;
            let meta = path.symlink_metadata().map_err(io_at(&path))?;
            if meta.is_dir() {
                self.copy_dir(&path, &inside)?;
            } else if meta.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                self.file(&inside, &path, mode)?;
            }
        }
        Ok(())
    }

    /// Puts the program's bytes at `installed` (inside the package), mode
    /// 0755. When they come from the platform package, laid out too at
    /// `native.1`, one of the two paths becomes a hard link to the other so
    /// that the layer holds the binary once; the link comes later in tar
    /// order, as a hard link must.
    fn place_program(
        &mut self,
        installed: &LayerPath,
        file: &Path,
        native: Option<(&Path, &LayerPath)>,
    ) -> Result<(), InstallError> {
        let twin = native.and_then(|(dir, root)| {
            let rel = file.strip_prefix(dir).ok()?.to_str()?;
            root.join(rel).ok()
        });
        match twin {
            Some(twin) if twin < *installed => {
                self.insert(
                    installed,
                    EntryKind::Hardlink {
                        target: twin.clone(),
                    },
                    0o755,
                );
                self.file(&twin, file, 0o755)?;
            }
            Some(twin) => {
                self.file(installed, file, 0o755)?;
                self.insert(
                    &twin,
                    EntryKind::Hardlink {
                        target: installed.clone(),
                    },
                    0o755,
                );
            }
            None => self.file(installed, file, 0o755)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_links_are_relative_like_npm() {
        let link = LayerPath::new("usr/local/bin/claude").unwrap();
        let target = LayerPath::new("usr/local/lib/node_modules/@a/b/bin/claude.exe").unwrap();
        assert_eq!(
            relative_target(&link, &target),
            "../lib/node_modules/@a/b/bin/claude.exe"
        );
        let link = LayerPath::new("claude").unwrap();
        assert_eq!(relative_target(&link, &target), target.as_str());
    }

    #[test]
    fn purl_encodes_the_scope() {
        let record = NpmPackageRecord {
            name: "@anthropic-ai/claude-code".into(),
            version: "2.1.332".into(),
            integrity: Integrity::sha512_of(b""),
        };
        assert_eq!(record.purl(), "pkg:npm/%40anthropic-ai/claude-code@2.1.332");
    }
}
