//! The validated build plan: every path resolved, every mode and owner
//! checked, every layer's entries listed, once, before anything is written.
//!
//! Errors name the file and the TOML key they come from, so that a user can
//! go straight to the line to fix.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::layer::{Compression, Content, Entry, EntryKind, LayerPath, Tree};
use crate::platform::Platform;
use crate::secrets;
use crate::spec::{self, BaseSpec, ConfigSpec, ImageSpec, LayerSpec, ModeSpec};

mod tree;

pub use tree::glob_match;
use tree::{How, TreeBuilder};

/// A plan error: the file, the key inside it, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("{}: {key}: {message}", file.display())]
pub struct PlanError {
    pub file: PathBuf,
    pub key: String,
    pub message: String,
}

/// Any error while planning: a spec that does not parse, or one that does
/// not make sense.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

fn plan_error(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Plan(PlanError {
        file: file.to_path_buf(),
        key: key.into(),
        message: message.into(),
    })
}

/// An I/O error's cause in our style: lowercase, without the OS error number.
pub fn io_cause(err: &io::Error) -> String {
    let text = match err.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => err.to_string(),
    };
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Where the base of one platform's image comes from.
#[derive(Clone, Debug)]
pub enum BaseSource {
    /// No base: the image holds only the spec's layers.
    Scratch,
    /// A rootfs tarball, plain or gzip; it becomes one layer unchanged.
    RootfsTar(PathBuf),
    /// A rootfs directory; it becomes one layer.
    RootfsDir(PathBuf),
    /// An image in an OCI layout; its layers pass through unchanged.
    Layout {
        dir: PathBuf,
        ref_name: Option<String>,
    },
    /// An image in a registry.
    Image(String),
}

/// What a layer is made of.
#[derive(Clone, Debug)]
pub enum LayerSource {
    /// Entries listed at plan time (copies, dirs, symlinks, inline files).
    Tree(Tree),
    /// A package from the npm registry; resolved when the layer is built.
    Npm {
        source: crate::npm::NpmSource,
        /// The directory of the file that declared it (for `.npmrc`).
        dir: PathBuf,
    },
}

#[derive(Clone, Debug)]
pub struct LayerPlan {
    pub name: String,
    /// The file that declared this layer, for messages.
    pub file: PathBuf,
    pub compression: Compression,
    pub allow_secrets: bool,
    pub source: LayerSource,
}

#[derive(Clone, Debug)]
pub struct PlatformPlan {
    pub platform: Platform,
    pub base: BaseSource,
    pub libc: Option<String>,
    pub layers: Vec<LayerPlan>,
}

/// Everything a build needs, checked.
#[derive(Clone, Debug)]
pub struct Plan {
    pub spec_file: PathBuf,
    pub platforms: Vec<PlatformPlan>,
    pub config: ConfigSpec,
    pub annotations: BTreeMap<String, String>,
    pub metadata: spec::MetadataSpec,
    /// Seconds since the epoch for every timestamp the build writes.
    pub epoch: u64,
    /// The spec's `compression`, used for the base rootfs layer too.
    pub default_compression: Option<Compression>,
}

impl Plan {
    /// Makes every layer, the base's included, use `compression`.
    pub fn force_compression(&mut self, compression: Compression) {
        self.default_compression = Some(compression);
        for layer in self.platforms.iter_mut().flat_map(|p| p.layers.iter_mut()) {
            layer.compression = compression;
        }
    }
}

/// The npm packages a spec installs and the platforms it builds, read from
/// the spec and its layer files alone (for `jib-image lock`, which needs no
/// other input to exist).
pub fn npm_inputs(path: &Path) -> Result<(Vec<crate::npm::NpmSource>, Vec<Platform>), Error> {
    let image: ImageSpec = spec::load(path)?;
    let dir = parent_dir(path);
    let mut sources: Vec<crate::npm::NpmSource> = Vec::new();
    for (i, layer) in image.layers.iter().enumerate() {
        let (_, _, layer) = resolve_layer_spec(path, &dir, &format!("layers[{i}]"), layer)?;
        if let Some(npm) = layer.npm
            && !sources
                .iter()
                .any(|s| s.package == npm.package && s.version == npm.version)
        {
            sources.push(npm);
        }
    }
    Ok((sources, platforms(path, &image)?))
}

/// Loads the spec at `path` and checks it through, for every platform.
pub fn load(path: &Path) -> Result<Plan, Error> {
    load_for(path, &[])
}

/// Loads the spec for the `wanted` platforms only (all when empty): inputs
/// of the other platforms need not exist. Asking for a platform the spec
/// does not build is an error.
pub fn load_for(path: &Path, wanted: &[Platform]) -> Result<Plan, Error> {
    let image: ImageSpec = spec::load(path)?;
    let epoch = source_date_epoch(path)?;
    let dir = parent_dir(path);

    let mut platforms = platforms(path, &image)?;
    if let Some(w) = wanted.iter().find(|w| !platforms.contains(w)) {
        let known: Vec<String> = platforms.iter().map(ToString::to_string).collect();
        return Err(plan_error(
            path,
            "platforms",
            format!("--platform {w} is not one of {}", known.join(", ")),
        ));
    }
    if !wanted.is_empty() {
        platforms.retain(|p| wanted.contains(p));
    }
    let default_compression = image.compression.unwrap_or(Compression::Gzip);
    let mut layers = Vec::new();
    for (i, layer) in image.layers.iter().enumerate() {
        let key = format!("layers[{i}]");
        layers.push(resolve_layer_spec(path, &dir, &key, layer)?);
    }

    let mut plans = Vec::new();
    for platform in platforms {
        let base_spec = base_for(&image.base, &platform);
        let base = base_source(path, &dir, &base_spec)?;
        let mut planned = Vec::new();
        for (file, key, layer) in &layers {
            planned.push(plan_layer(
                file,
                key,
                layer,
                &platform,
                default_compression,
                epoch,
            )?);
        }
        check_conflicts(&planned)?;
        if matches!(base, BaseSource::Scratch) {
            write_parents(&mut planned);
        }
        plans.push(PlatformPlan {
            platform,
            base,
            libc: base_spec.libc.clone(),
            layers: planned,
        });
    }

    check_config(path, &image.config)?;

    // `KEY=VALUE` is how the config stores a variable: a key holding '='
    // (or none at all) would read back as another variable.
    if let Some(key) = image
        .config
        .env
        .keys()
        .find(|k| k.is_empty() || k.contains('='))
    {
        return Err(plan_error(
            path,
            "config.env",
            format!("variable name '{key}' is empty or holds '='"),
        ));
    }
    let mut config = image.config.clone();
    if let Some(creds) = &image.credentials {
        add_credentials_env(&mut config, creds);
    }
    Ok(Plan {
        spec_file: path.to_path_buf(),
        platforms: plans,
        config,
        annotations: image.annotations,
        metadata: image.metadata,
        epoch,
        default_compression: image.compression,
    })
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z): a later
/// `created` time has a five-digit year that image readers refuse.
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

/// `SOURCE_DATE_EPOCH` when set (it must be a number), else the epoch.
fn source_date_epoch(spec: &Path) -> Result<u64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => match v.trim().parse() {
            Ok(seconds) if seconds <= LAST_RFC3339_SECOND => Ok(seconds),
            Ok(_) => Err(plan_error(
                spec,
                "SOURCE_DATE_EPOCH",
                format!("'{v}' is later than the year 9999"),
            )),
            Err(_) => Err(plan_error(
                spec,
                "SOURCE_DATE_EPOCH",
                format!("'{v}' is not a number of seconds"),
            )),
        },
        _ => Ok(0),
    }
}

fn platforms(path: &Path, image: &ImageSpec) -> Result<Vec<Platform>, Error> {
    let names: Vec<String> = match (&image.platform, &image.platforms) {
        (Some(_), Some(_)) => {
            return Err(plan_error(
                path,
                "platforms",
                "give either `platform` or `platforms`, not both",
            ));
        }
        (Some(one), None) => vec![one.clone()],
        (None, Some(list)) if list.is_empty() => {
            return Err(plan_error(path, "platforms", "the list is empty"));
        }
        (None, Some(list)) => list.clone(),
        (None, None) => vec!["linux/amd64".to_string()],
    };
    let mut out: Vec<Platform> = Vec::new();
    for name in names {
        let platform: Platform = name.parse().map_err(|e: crate::platform::PlatformError| {
            plan_error(path, "platforms", e.to_string())
        })?;
        if out.contains(&platform) {
            return Err(plan_error(
                path,
                "platforms",
                format!("'{platform}' is listed twice"),
            ));
        }
        out.push(platform);
    }
    Ok(out)
}

/// The base spec for one platform: the per-platform table wins key by key.
fn base_for(base: &BaseSpec, platform: &Platform) -> BaseSpec {
    let Some(own) = base.platforms.get(&platform.to_string()) else {
        return base.clone();
    };
    let source_given = own.rootfs.is_some() || own.layout.is_some() || own.image.is_some();
    BaseSpec {
        rootfs: if source_given {
            own.rootfs.clone()
        } else {
            base.rootfs.clone()
        },
        layout: if source_given {
            own.layout.clone()
        } else {
            base.layout.clone()
        },
        ref_name: own.ref_name.clone().or_else(|| base.ref_name.clone()),
        image: if source_given {
            own.image.clone()
        } else {
            base.image.clone()
        },
        libc: own.libc.clone().or_else(|| base.libc.clone()),
        platforms: BTreeMap::new(),
    }
}

fn base_source(file: &Path, dir: &Path, base: &BaseSpec) -> Result<BaseSource, Error> {
    let given = [&base.rootfs, &base.layout, &base.image]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if given > 1 {
        return Err(plan_error(
            file,
            "base",
            "give only one of `rootfs`, `layout` and `image`",
        ));
    }
    if let Some(libc) = &base.libc
        && libc != "glibc"
        && libc != "musl"
    {
        return Err(plan_error(
            file,
            "base.libc",
            format!("'{libc}' is not `glibc` or `musl`"),
        ));
    }
    if let Some(rootfs) = &base.rootfs {
        let path = dir.join(rootfs);
        let meta = fs::metadata(&path).map_err(|e| {
            plan_error(
                file,
                "base.rootfs",
                format!("{}: {}", path.display(), io_cause(&e)),
            )
        })?;
        return if meta.is_dir() {
            Ok(BaseSource::RootfsDir(path))
        } else if meta.is_file() {
            Ok(BaseSource::RootfsTar(path))
        } else {
            Err(plan_error(
                file,
                "base.rootfs",
                format!("{}: not a regular file or directory", path.display()),
            ))
        };
    }
    if let Some(layout) = &base.layout {
        let path = dir.join(layout);
        if !path.join("index.json").is_file() {
            return Err(plan_error(
                file,
                "base.layout",
                format!(
                    "{}: not an OCI image layout (no index.json)",
                    path.display()
                ),
            ));
        }
        return Ok(BaseSource::Layout {
            dir: path,
            ref_name: base.ref_name.clone(),
        });
    }
    if let Some(image) = &base.image {
        // A reference that cannot name an image fails here, before any work.
        image
            .parse::<crate::registry::Reference>()
            .map_err(|e| plan_error(file, "base.image", e.to_string()))?;
        return Ok(BaseSource::Image(image.clone()));
    }
    Ok(BaseSource::Scratch)
}

/// Follows `include` to the layer file; returns the file whose directory
/// relative paths resolve against, a key for messages, and the layer.
fn resolve_layer_spec(
    spec_file: &Path,
    dir: &Path,
    key: &str,
    layer: &LayerSpec,
) -> Result<(PathBuf, String, LayerSpec), Error> {
    let Some(include) = &layer.include else {
        return Ok((spec_file.to_path_buf(), key.to_string(), layer.clone()));
    };
    let has_own_content = !layer.copy.is_empty()
        || !layer.dir.is_empty()
        || !layer.symlink.is_empty()
        || !layer.file.is_empty()
        || layer.npm.is_some();
    if has_own_content {
        return Err(plan_error(
            spec_file,
            key,
            "a layer with `include` declares its entries in that file",
        ));
    }
    let path = dir.join(include);
    let cause = match fs::metadata(&path) {
        Ok(meta) if meta.is_file() => None,
        Ok(meta) if meta.is_dir() => Some("is a directory".to_string()),
        Ok(_) => Some("not a regular file".to_string()),
        Err(e) => Some(io_cause(&e)),
    };
    if let Some(cause) = cause {
        return Err(plan_error(
            spec_file,
            format!("{key}.include"),
            format!("{}: {cause}", path.display()),
        ));
    }
    let mut included: LayerSpec = spec::load(&path)?;
    if included.include.is_some() {
        return Err(plan_error(
            &path,
            "include",
            "a layer file cannot include another",
        ));
    }
    // The spec may rename the layer or change its compression.
    if layer.name.is_some() {
        included.name = layer.name.clone();
    }
    if layer.compression.is_some() {
        included.compression = layer.compression;
    }
    included.allow_secrets |= layer.allow_secrets;
    let name = included.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
    });
    included.name = Some(name);
    Ok((path, String::new(), included))
}

fn plan_layer(
    file: &Path,
    key: &str,
    layer: &LayerSpec,
    platform: &Platform,
    default_compression: Compression,
    epoch: u64,
) -> Result<LayerPlan, Error> {
    let dir = parent_dir(file);
    let at = |sub: &str| {
        if key.is_empty() {
            sub.to_string()
        } else {
            format!("{key}.{sub}")
        }
    };
    let name = layer.name.clone().unwrap_or_else(|| key.to_string());
    let compression = layer.compression.unwrap_or(default_compression);
    let mtime = layer.mtime.unwrap_or(epoch);

    if let Some(npm) = &layer.npm {
        let others = layer.copy.len() + layer.dir.len() + layer.symlink.len() + layer.file.len();
        if others > 0 {
            return Err(plan_error(
                file,
                at("npm"),
                "an npm layer holds only the package; put other entries in another layer",
            ));
        }
        return Ok(LayerPlan {
            name,
            file: file.to_path_buf(),
            compression,
            allow_secrets: layer.allow_secrets,
            source: LayerSource::Npm {
                source: npm.clone(),
                dir,
            },
        });
    }

    let mut tree = TreeBuilder::new(file, mtime);
    for (i, copy) in layer.copy.iter().enumerate() {
        if let Some(only) = &copy.platform {
            let wanted: Platform = only.parse().map_err(|e: crate::platform::PlatformError| {
                plan_error(file, at(&format!("copy[{i}].platform")), e.to_string())
            })?;
            if &wanted != platform {
                continue;
            }
        }
        tree.copy(&dir, &at(&format!("copy[{i}]")), copy)?;
    }
    for (i, d) in layer.dir.iter().enumerate() {
        let key = at(&format!("dir[{i}]"));
        let path = layer_path(file, &key, &d.path)?;
        let mode = parse_mode(file, &key, d.mode.as_ref())?.unwrap_or(0o755);
        let (uid, gid) = parse_owner(file, &key, d.owner.as_deref())?;
        tree.insert(
            &key,
            How::Explicit,
            path,
            EntryKind::Dir,
            mode,
            uid,
            gid,
            d.mtime.unwrap_or(mtime),
        )?;
    }
    for (i, s) in layer.symlink.iter().enumerate() {
        let key = at(&format!("symlink[{i}]"));
        let path = layer_path(file, &key, &s.path)?;
        if s.target.is_empty() || s.target.contains('\0') {
            return Err(plan_error(
                file,
                key,
                "symlink target is empty or holds a NUL byte",
            ));
        }
        let (uid, gid) = parse_owner(file, &key, s.owner.as_deref())?;
        let kind = EntryKind::Symlink {
            target: s.target.clone(),
        };
        let mtime = s.mtime.unwrap_or(mtime);
        tree.insert(&key, How::Explicit, path, kind, 0o777, uid, gid, mtime)?;
    }
    for (i, f) in layer.file.iter().enumerate() {
        let key = at(&format!("file[{i}]"));
        let path = layer_path(file, &key, &f.path)?;
        let mode = parse_mode(file, &key, f.mode.as_ref())?.unwrap_or(0o644);
        let (uid, gid) = parse_owner(file, &key, f.owner.as_deref())?;
        let bytes: Arc<[u8]> = Arc::from(f.content.as_bytes());
        let kind = EntryKind::File {
            size: bytes.len() as u64,
            content: Content::Bytes(bytes),
        };
        let mtime = f.mtime.unwrap_or(mtime);
        tree.insert(&key, How::Explicit, path, kind, mode, uid, gid, mtime)?;
    }
    let tree = tree.finish();
    if !layer.allow_secrets {
        secrets::check_tree(&tree)
            .map_err(|e| plan_error(file, at("allow_secrets"), e.to_string()))?;
    }
    Ok(LayerPlan {
        name,
        file: file.to_path_buf(),
        compression,
        allow_secrets: layer.allow_secrets,
        source: LayerSource::Tree(tree),
    })
}

fn layer_path(file: &Path, key: &str, raw: &str) -> Result<LayerPath, Error> {
    LayerPath::new_user(raw).map_err(|e| plan_error(file, key, e.to_string()))
}

/// Parses a mode; more than `0o7777` (type bits) is refused.
pub fn parse_mode(file: &Path, key: &str, mode: Option<&ModeSpec>) -> Result<Option<u32>, Error> {
    let value = match mode {
        None => return Ok(None),
        Some(ModeSpec::Number(n)) => *n,
        Some(ModeSpec::Octal(s)) => {
            u32::from_str_radix(s.trim_start_matches("0o"), 8).map_err(|_| {
                plan_error(
                    file,
                    format!("{key}.mode"),
                    format!("'{s}' is not an octal mode such as \"0644\""),
                )
            })?
        }
    };
    if value > 0o7777 {
        return Err(plan_error(
            file,
            format!("{key}.mode"),
            format!("{value:#o} is more than 0o7777"),
        ));
    }
    Ok(Some(value))
}

/// Parses `uid:gid` (numbers only: names would depend on the build host).
pub fn parse_owner(file: &Path, key: &str, owner: Option<&str>) -> Result<(u64, u64), Error> {
    let Some(owner) = owner else {
        return Ok((0, 0));
    };
    let bad = || {
        plan_error(
            file,
            format!("{key}.owner"),
            format!("'{owner}' is not a numeric uid:gid such as \"1000:1000\""),
        )
    };
    let (uid, gid) = owner.split_once(':').ok_or_else(bad)?;
    let uid: u64 = uid.parse().map_err(|_| bad())?;
    let gid: u64 = gid.parse().map_err(|_| bad())?;
    // Ids past 2^32 - 2 are not valid Linux ids (u32::MAX means "no id").
    if uid >= u64::from(u32::MAX) || gid >= u64::from(u32::MAX) {
        return Err(bad());
    }
    Ok((uid, gid))
}

/// Checks the config values a runtime would otherwise reject at start:
/// `workdir` must be absolute, `user` is `user[:group]` (names or ids).
fn check_config(path: &Path, config: &ConfigSpec) -> Result<(), Error> {
    if let Some(workdir) = &config.workdir
        && !workdir.starts_with('/')
    {
        return Err(plan_error(
            path,
            "config.workdir",
            format!("'{workdir}' is not an absolute path"),
        ));
    }
    if let Some(user) = &config.user {
        let parts: Vec<&str> = user.split(':').collect();
        if parts.len() > 2
            || parts
                .iter()
                .any(|p| p.is_empty() || p.contains(char::is_whitespace))
        {
            return Err(plan_error(
                path,
                "config.user",
                format!("'{user}' is not user[:group]"),
            ));
        }
    }
    Ok(())
}

/// Without a base, nothing below a layer can own its parent directories, so
/// they are written explicitly: as an earlier layer declared them, or 0755
/// root (what a runtime would make). With a base they are left out, so that
/// the base's own (`/tmp` 1777, a merged-/usr `/bin` link, a home's owner)
/// stand when the layer is unpacked.
fn write_parents(layers: &mut [LayerPlan]) {
    let mut declared: HashMap<LayerPath, Entry> = HashMap::new();
    for layer in layers.iter_mut() {
        let LayerSource::Tree(tree) = &mut layer.source else {
            continue;
        };
        let mut parents = Vec::new();
        for (path, entry) in tree.iter() {
            for parent in path.ancestors() {
                if !tree.contains_key(&parent) {
                    let below = declared.get(&parent).cloned();
                    let dir = below.unwrap_or(Entry {
                        kind: EntryKind::Dir,
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        mtime: entry.mtime,
                    });
                    parents.push((parent, dir));
                }
            }
        }
        for (path, dir) in parents {
            tree.entry(path).or_insert(dir);
        }
        for (path, entry) in tree.iter() {
            if matches!(entry.kind, EntryKind::Dir) {
                declared.insert(path.clone(), entry.clone());
            }
        }
    }
}

/// Two layers of one image that give one path different types (a file in
/// one, a directory in the next) almost always mean a mistake.
fn check_conflicts(layers: &[LayerPlan]) -> Result<(), Error> {
    let mut seen: HashMap<&LayerPath, (&'static str, &LayerPlan)> = HashMap::new();
    for layer in layers {
        let LayerSource::Tree(tree) = &layer.source else {
            continue;
        };
        for (path, entry) in tree {
            // Parents are not in a layer's tree; each must be a directory.
            for parent in path.ancestors() {
                if let Some((old_kind, old_layer)) = seen.get(&parent)
                    && *old_kind != "directory"
                {
                    return Err(plan_error(
                        &layer.file,
                        format!("layer '{}'", layer.name),
                        format!(
                            "{path} needs {parent} to be a directory, but it is a {old_kind} in layer '{}'",
                            old_layer.name
                        ),
                    ));
                }
            }
            let kind = entry.type_name();
            let kind = if kind == "hardlink" { "file" } else { kind };
            if let Some((old_kind, old_layer)) = seen.get(path)
                && *old_kind != kind
            {
                return Err(plan_error(
                    &layer.file,
                    format!("layer '{}'", layer.name),
                    format!(
                        "{path} is a {kind} here but a {old_kind} in layer '{}'",
                        old_layer.name
                    ),
                ));
            }
            seen.insert(path, (kind, layer));
        }
    }
    Ok(())
}

fn add_credentials_env(config: &mut ConfigSpec, creds: &spec::CredentialsSpec) {
    let mut set = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            config.env.entry(k.to_string()).or_insert(v);
        }
    };
    set("JIB_CREDENTIALS_SOURCE", creds.source.clone());
    set("JIB_CREDENTIALS_DEST", creds.destination.clone());
    set(
        "JIB_REQUIRED_SCOPES",
        creds.required_scopes.as_ref().map(|s| s.join(",")),
    );
    set("RUNTIME_USER", creds.runtime_user.clone());
    set("RUNTIME_UID", creds.runtime_uid.map(|v| v.to_string()));
    set("RUNTIME_GID", creds.runtime_gid.map(|v| v.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_owners_are_checked() {
        let f = Path::new("l.toml");
        assert_eq!(
            parse_mode(f, "k", Some(&ModeSpec::Octal("1777".into()))).unwrap(),
            Some(0o1777)
        );
        assert!(parse_mode(f, "k", Some(&ModeSpec::Octal("0899".into()))).is_err());
        assert!(parse_mode(f, "k", Some(&ModeSpec::Number(0o17777))).is_err());
        assert_eq!(parse_owner(f, "k", Some("1000:100")).unwrap(), (1000, 100));
        assert!(parse_owner(f, "k", Some("root:root")).is_err());
        assert!(parse_owner(f, "k", Some("1")).is_err());
    }

    #[test]
    fn config_workdir_and_user_are_checked() {
        let f = Path::new("s.toml");
        let config = |workdir: Option<&str>, user: Option<&str>| ConfigSpec {
            workdir: workdir.map(str::to_string),
            user: user.map(str::to_string),
            ..ConfigSpec::default()
        };
        assert!(check_config(f, &config(Some("/work"), Some("1000:1000"))).is_ok());
        assert!(check_config(f, &config(None, Some("sandboxed"))).is_ok());
        assert!(check_config(f, &config(Some("work"), None)).is_err());
        assert!(check_config(f, &config(None, Some("root:root:x"))).is_err());
        assert!(check_config(f, &config(None, Some(""))).is_err());
    }

    #[test]
    fn io_causes_read_in_our_style() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(io_cause(&e), "no such file or directory");
    }
}
