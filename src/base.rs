//! Base images: where an image starts, as `FROM` would.
//!
//! A rootfs tarball passes through unchanged (decompressed when needed) as
//! one layer; its entries are checked on the way, in the same pass that
//! compresses and hashes it. A rootfs directory becomes one layer. An image
//! in an OCI layout keeps its layers byte for byte, with their digests.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cache::{Cache, LayerRecord, RootfsFacts};
use crate::digest::Digest;
use crate::image::{self, Descriptor};
use crate::layer::{self, Compression, Content, Entry, EntryKind, LayerBlob, LayerPath, Tree};
use crate::plan::io_cause;
use crate::platform::{Libc, Platform};
use crate::registry::mediatype;

/// A base resolved to layers in the blob store and a config.
#[derive(Debug, Default)]
pub struct Base {
    pub layers: Vec<LayerBlob>,
    /// The base's whole config document, when it has one.
    pub config: Option<Value>,
    pub facts: RootfsFacts,
    /// Where the layers came from, for history and annotations.
    pub description: String,
    /// For registry bases: the reference and the manifest digest.
    pub name: Option<String>,
    pub digest: Option<Digest>,
    /// Whether the base layer was found in the cache.
    pub cached: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("base {}: {message}", path.display())]
pub struct BaseError {
    pub path: PathBuf,
    pub message: String,
}

fn base_error(path: &Path, message: impl Into<String>) -> BaseError {
    BaseError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Copies everything read through it to a writer as well.
struct Tee<R, W> {
    reader: R,
    writer: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.writer.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Keeps the last 1 KiB seen: a complete tar stream ends in two zero blocks.
struct Tail<R> {
    reader: R,
    tail: Vec<u8>,
    total: u64,
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.tail.extend_from_slice(&buf[..n]);
        if self.tail.len() > 4096 {
            self.tail.drain(..self.tail.len() - 1024);
        }
        self.total += n as u64;
        Ok(n)
    }
}

/// Opens a tarball, undoing gzip or zstd when its magic bytes say so.
fn open_tarball(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut file = BufReader::with_capacity(1 << 20, crate::input::open_regular(path)?);
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic)?;
    let head = io::Cursor::new(magic[..n].to_vec()).chain(file);
    Ok(match magic {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(head)),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(zstd::stream::read::Decoder::new(head)?),
        _ => Box::new(head),
    })
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Turns a rootfs tarball into one layer, or takes it from the cache.
pub fn rootfs_tarball(
    path: &Path,
    compression: Compression,
    cache: &Cache,
    reporter: &dyn crate::progress::Reporter,
) -> Result<Base, BaseError> {
    let input = cache
        .file_digest(path)
        .map_err(|e| base_error(path, e.to_string()))?;
    let key = Digest::of(format!("rootfs-tar/v1 {input} {compression:?}").as_bytes());
    cached_rootfs(path, &key, cache, || {
        let id = format!("rootfs {}", path.display());
        let total = std::fs::metadata(path).ok().map(|m| m.len());
        reporter.start(&id, &format!("{id}: compressing"), total);
        let written = tarball_layer(path, compression, cache, reporter, &id);
        reporter.finish(&id);
        let (blob, facts) = written?;
        // The cache key names the bytes hashed before the layer was written;
        // a tarball replaced meanwhile must not be cached under it.
        let after = cache
            .file_digest(path)
            .map_err(|e| base_error(path, e.to_string()))?;
        if after != input {
            return Err(base_error(path, "changed during the build"));
        }
        Ok((blob, facts))
    })
}

/// A rootfs layer under its cache `key`: the recorded one, or the one
/// `make` writes, then recorded with the facts found on the way.
fn cached_rootfs(
    path: &Path,
    key: &Digest,
    cache: &Cache,
    make: impl FnOnce() -> Result<(LayerBlob, RootfsFacts), BaseError>,
) -> Result<Base, BaseError> {
    let description = format!(
        "rootfs {}",
        path.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    if let Some(record) = cache.layer(key) {
        return Ok(Base {
            layers: vec![record.blob],
            facts: record.facts,
            description,
            cached: true,
            ..Base::default()
        });
    }
    let (blob, facts) = make()?;
    let record = LayerRecord {
        blob: blob.clone(),
        facts: facts.clone(),
    };
    cache
        .put_layer(key, &record)
        .map_err(|e| base_error(path, e.to_string()))?;
    Ok(Base {
        layers: vec![blob],
        facts,
        description,
        ..Base::default()
    })
}

/// Writes a rootfs tarball as one layer, checking every entry and the end
/// of the tar stream as the bytes go by.
fn tarball_layer(
    path: &Path,
    compression: Compression,
    cache: &Cache,
    reporter: &dyn crate::progress::Reporter,
    id: &str,
) -> Result<(LayerBlob, RootfsFacts), BaseError> {
    let mut facts = RootfsFacts::default();
    let mut failure: Option<String> = None;
    let blob = layer::write_stream(compression, &cache.blobs, |out| {
        // Progress counts the tar stream: the file's size when it is plain.
        let reader = open_tarball(path)?;
        let mut tail = Tail {
            reader: Tee {
                reader,
                writer: crate::progress::CountingWriter::new(out, reporter, id),
            },
            tail: Vec::new(),
            total: 0,
        };
        match scan_tar(&mut tail, cache, &mut facts) {
            Ok(()) => {}
            Err(message) => {
                failure = Some(message);
                return Err(io::Error::other("invalid rootfs"));
            }
        }
        io::copy(&mut tail, &mut io::sink())?;
        let complete =
            tail.total >= 1024 && tail.tail[tail.tail.len() - 1024..].iter().all(|&b| b == 0);
        if !complete {
            failure = Some(if tail.total == 0 {
                "empty file, not a tar archive".into()
            } else {
                "truncated: the tar stream has no end marker".into()
            });
            return Err(io::Error::other("invalid rootfs"));
        }
        Ok(())
    });
    match (blob, failure) {
        (_, Some(message)) => Err(base_error(path, message)),
        (Err(e), None) => Err(base_error(path, describe_read_error(&e))),
        (Ok(blob), None) => Ok((blob, facts)),
    }
}

fn describe_read_error(e: &layer::LayerError) -> String {
    let text = match e {
        layer::LayerError::Io(io) => io_cause(io),
        other => other.to_string(),
    };
    if text.contains("invalid gzip header")
        || text.contains("corrupt deflate")
        || text.contains("Unknown frame descriptor")
    {
        format!("not a valid compressed tarball ({text})")
    } else {
        text
    }
}

/// Walks a tar stream, refusing entries that would escape the root and
/// noting what later steps need (libc, dpkg status).
pub fn scan_tar(
    reader: &mut impl Read,
    cache: &Cache,
    facts: &mut RootfsFacts,
) -> Result<(), String> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| format!("not a tar archive ({})", io_cause(&e)))?;
    let mut count = 0usize;
    for entry in entries {
        let mut entry = entry.map_err(|e| tar_error(&e, count))?;
        count += 1;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        check_entry_name(&name)?;
        if let Some(link) = entry.link_name_bytes().map(|l| l.into_owned())
            && entry.header().entry_type().is_hard_link()
        {
            check_entry_name(&String::from_utf8_lossy(&link))
                .map_err(|e| format!("hard link {name}: {e}"))?;
        }
        let clean = name.trim_start_matches("./");
        note_libc(facts, clean.rsplit('/').next().unwrap_or(""));
        if clean == "var/lib/dpkg/status" && entry.header().entry_type().is_file() {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| tar_error(&e, count))?;
            let digest = cache.blobs.put_bytes(&bytes).map_err(|e| e.to_string())?;
            facts.dpkg_status = Some(digest);
        }
    }
    if count == 0 {
        return Err("not a tar archive (no entries)".into());
    }
    Ok(())
}

/// Notes the C library a rootfs file's name shows. A musl loader decides
/// even when glibc files were seen first; glibc is noted only when nothing
/// was.
fn note_libc(facts: &mut RootfsFacts, file_name: &str) {
    match Libc::of_file_name(file_name) {
        Some(Libc::Musl) => facts.libc = Some(Libc::Musl.to_string()),
        Some(Libc::Glibc) if facts.libc.is_none() => facts.libc = Some(Libc::Glibc.to_string()),
        _ => {}
    }
}

fn tar_error(e: &io::Error, count: usize) -> String {
    let text = io_cause(e);
    let entries = if count == 1 { "entry" } else { "entries" };
    // The tar reader reports a stream that stops early in several words.
    let ended_early = e.kind() == io::ErrorKind::UnexpectedEof
        || [
            "failed to fill whole buffer",
            "unexpected EOF",
            "failed to read entire block",
        ]
        .iter()
        .any(|t| text.contains(t));
    if count == 0 {
        format!("not a tar archive ({text})")
    } else if ended_early {
        format!("truncated after {count} {entries} ({text})")
    } else {
        format!("invalid tar entry after {count} {entries} ({text})")
    }
}

/// Entry names must stay inside the root: no absolute paths, no `..`.
fn check_entry_name(name: &str) -> Result<(), String> {
    if name.starts_with('/') {
        return Err(format!("entry '{name}' has an absolute path"));
    }
    if name.split('/').any(|c| c == "..") {
        return Err(format!("entry '{name}' leaves the root through '..'"));
    }
    Ok(())
}

/// Turns a rootfs directory into one layer, keeping owners and modes as
/// they are on disk (it is a root file system) but not times.
pub fn rootfs_dir(
    path: &Path,
    compression: Compression,
    mtime: u64,
    cache: &Cache,
) -> Result<Base, BaseError> {
    let mut tree = Tree::new();
    let mut inodes = std::collections::HashMap::new();
    walk_rootfs(path, path, mtime, &mut tree, &mut inodes)?;
    layer::order_hardlinks(&mut tree);
    let key =
        crate::recipe::tree_key(&tree, compression, cache).map_err(|e| base_error(path, e))?;
    cached_rootfs(path, &key, cache, || {
        dir_layer(path, &tree, &key, compression, cache)
    })
}

/// Writes a rootfs directory's tree as one layer, checking that the files
/// did not change meanwhile.
fn dir_layer(
    path: &Path,
    tree: &Tree,
    key: &Digest,
    compression: Compression,
    cache: &Cache,
) -> Result<(LayerBlob, RootfsFacts), BaseError> {
    let blob = layer::write_tree(tree, compression, &cache.blobs)
        .map_err(|e| base_error(path, e.to_string()))?;
    let after =
        crate::recipe::tree_key(tree, compression, cache).map_err(|e| base_error(path, e))?;
    if &after != key {
        return Err(base_error(path, "files changed during the build"));
    }
    let mut facts = RootfsFacts::default();
    for p in tree.keys() {
        note_libc(&mut facts, p.file_name());
    }
    let status = path.join("var/lib/dpkg/status");
    if status.is_file() {
        let bytes = fs::read(&status).map_err(|e| base_error(&status, io_cause(&e)))?;
        facts.dpkg_status = Some(
            cache
                .blobs
                .put_bytes(&bytes)
                .map_err(|e| base_error(path, e.to_string()))?,
        );
    }
    Ok((blob, facts))
}

fn walk_rootfs(
    root: &Path,
    dir: &Path,
    mtime: u64,
    tree: &mut Tree,
    inodes: &mut std::collections::HashMap<(u64, u64), LayerPath>,
) -> Result<(), BaseError> {
    let err = |p: &Path, e: io::Error| base_error(p, io_cause(&e));
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| err(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let rel = path.strip_prefix(root).expect("walk stays under the root");
        let Some(rel) = rel.to_str() else {
            return Err(base_error(&path, "file name is not UTF-8"));
        };
        let at = LayerPath::new(rel).map_err(|e| base_error(&path, e.to_string()))?;
        let meta = fs::symlink_metadata(&path).map_err(|e| err(&path, e))?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(|e| err(&path, e))?;
            // A lossy conversion would store another target than the one
            // on disk; refuse it as names are refused.
            let Some(target) = target.to_str() else {
                return Err(base_error(&path, "link target is not UTF-8"));
            };
            EntryKind::Symlink {
                target: target.to_string(),
            }
        } else if ft.is_file() {
            let id = (meta.dev(), meta.ino());
            match inodes.get(&id) {
                Some(first) if meta.nlink() > 1 => EntryKind::Hardlink {
                    target: first.clone(),
                },
                _ => {
                    if meta.nlink() > 1 {
                        inodes.insert(id, at.clone());
                    }
                    EntryKind::File {
                        content: Content::Path(path.clone()),
                        size: meta.len(),
                    }
                }
            }
        } else {
            // Device nodes, FIFOs and sockets do not belong in an image.
            continue;
        };
        let is_dir = matches!(kind, EntryKind::Dir);
        let mode = meta.permissions().mode() & 0o7777;
        tree.insert(
            at,
            Entry {
                kind,
                mode,
                uid: u64::from(meta.uid()),
                gid: u64::from(meta.gid()),
                mtime,
            },
        );
        if is_dir {
            walk_rootfs(root, &path, mtime, tree, inodes)?;
        }
    }
    Ok(())
}

/// Reads an image from an OCI layout: its layers are copied into the blob
/// store after their digests are checked.
pub fn layout(
    dir: &Path,
    ref_name: Option<&str>,
    platform: &Platform,
    cache: &Cache,
) -> Result<Base, BaseError> {
    let index = read_json(&dir.join("index.json"))?;
    let manifests: Vec<Descriptor> =
        serde_json::from_value(index.get("manifests").cloned().unwrap_or(Value::Null))
            .map_err(|e| base_error(dir, format!("index.json: {e}")))?;
    let chosen: Vec<&Descriptor> = match ref_name {
        Some(r) => manifests
            .iter()
            .filter(|m| m.annotations.get(image::REF_NAME).map(String::as_str) == Some(r))
            .collect(),
        None => manifests.iter().collect(),
    };
    let descriptor = pick_platform(dir, &chosen, platform, ref_name)?;
    let mut descriptor = descriptor.clone();
    // An entry may itself be an index: pick the platform inside it.
    if matches!(mediatype::to_oci(&descriptor.media_type), image::INDEX) {
        let nested = read_blob_json(dir, &descriptor, cache)?;
        let inner: Vec<Descriptor> =
            serde_json::from_value(nested.get("manifests").cloned().unwrap_or(Value::Null))
                .map_err(|e| base_error(dir, format!("index {}: {e}", descriptor.digest)))?;
        let refs: Vec<&Descriptor> = inner.iter().collect();
        descriptor = pick_platform(dir, &refs, platform, ref_name)?.clone();
    }
    let manifest = read_blob_json(dir, &descriptor, cache)?;
    let config_desc: Descriptor = serde_json::from_value(manifest["config"].clone())
        .map_err(|e| base_error(dir, format!("manifest {}: config: {e}", descriptor.digest)))?;
    let config = read_blob_json(dir, &config_desc, cache)?;
    let layer_descs: Vec<Descriptor> = serde_json::from_value(manifest["layers"].clone())
        .map_err(|e| base_error(dir, format!("manifest {}: layers: {e}", descriptor.digest)))?;
    let diff_ids: Vec<crate::digest::DiffId> =
        serde_json::from_value(config["rootfs"]["diff_ids"].clone()).map_err(|e| {
            base_error(
                dir,
                format!("config {}: rootfs.diff_ids: {e}", config_desc.digest),
            )
        })?;
    if diff_ids.len() != layer_descs.len() {
        return Err(base_error(
            dir,
            format!(
                "config {} lists {} diff_ids for {} layers",
                config_desc.digest,
                diff_ids.len(),
                layer_descs.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (desc, diff_id) in layer_descs.iter().zip(diff_ids) {
        import_blob(dir, desc, cache)?;
        layers.push(LayerBlob {
            digest: desc.digest.clone(),
            diff_id,
            size: desc.size,
            media_type: mediatype::to_oci(&desc.media_type).to_string(),
        });
    }
    Ok(Base {
        layers,
        config: Some(config),
        facts: RootfsFacts {
            libc: None,
            dpkg_status: None,
        },
        description: format!(
            "layout {}{}",
            dir.display(),
            ref_name.map(|r| format!(":{r}")).unwrap_or_default()
        ),
        name: None,
        digest: Some(descriptor.digest.clone()),
        cached: false,
    })
}

fn pick_platform<'a>(
    dir: &Path,
    list: &[&'a Descriptor],
    platform: &Platform,
    ref_name: Option<&str>,
) -> Result<&'a Descriptor, BaseError> {
    let what = ref_name.map_or_else(|| "any image".to_string(), |r| format!("ref '{r}'"));
    match list {
        [] => Err(base_error(dir, format!("no {what} in index.json"))),
        [one] if one.platform.is_none() => Ok(one),
        many => many
            .iter()
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| platform.matches(&p.os, &p.architecture, p.variant.as_deref()))
            })
            .or_else(|| {
                many.iter()
                    .find(|d| d.platform.is_none())
                    .filter(|_| many.len() == 1)
            })
            .copied()
            .ok_or_else(|| base_error(dir, format!("{what} has no image for {platform}"))),
    }
}

fn read_json(path: &Path) -> Result<Value, BaseError> {
    let bytes = fs::read(path).map_err(|e| base_error(path, io_cause(&e)))?;
    serde_json::from_slice(&bytes).map_err(|e| base_error(path, format!("invalid JSON: {e}")))
}

fn layout_blob_path(dir: &Path, desc: &Descriptor) -> PathBuf {
    dir.join("blobs")
        .join(desc.digest.algorithm())
        .join(desc.digest.hex())
}

/// Copies one blob of a layout into the store, checking digest and size.
fn import_blob(dir: &Path, desc: &Descriptor, cache: &Cache) -> Result<(), BaseError> {
    if cache.blobs.contains(&desc.digest) {
        return Ok(());
    }
    let path = layout_blob_path(dir, desc);
    let file = File::open(&path).map_err(|e| base_error(&path, io_cause(&e)))?;
    cache
        .blobs
        .put_reader(
            BufReader::new(file),
            Some((&desc.digest, desc.size)),
            &path.display().to_string(),
        )
        .map_err(|e| base_error(dir, e.to_string()))?;
    Ok(())
}

fn read_blob_json(dir: &Path, desc: &Descriptor, cache: &Cache) -> Result<Value, BaseError> {
    import_blob(dir, desc, cache)?;
    let bytes = cache
        .blobs
        .read(&desc.digest)
        .map_err(|e| base_error(dir, e.to_string()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| base_error(dir, format!("blob {}: invalid JSON: {e}", desc.digest)))
}

/// Learns libc and dpkg status of base layers that came without facts (from
/// a layout or a registry) by reading their tar streams once; the answer is
/// cached by the layers' digests.
pub fn scan_layers(layers: &[LayerBlob], cache: &Cache) -> Result<RootfsFacts, String> {
    let mut facts = RootfsFacts::default();
    for l in layers {
        let key = Digest::of(format!("scan/v1 {}", l.digest).as_bytes());
        let found = match cache.layer(&key) {
            Some(record) => record.facts,
            None => {
                let compression = if l.media_type.ends_with("zstd") {
                    Some(Compression::Zstd)
                } else if l.media_type.ends_with("gzip") {
                    Some(Compression::Gzip)
                } else {
                    None
                };
                let file = cache
                    .blobs
                    .open_blob(&l.digest)
                    .map_err(|e| e.to_string())?;
                let mut reader: Box<dyn Read> = match compression {
                    Some(Compression::Gzip) => {
                        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
                    }
                    Some(Compression::Zstd) => {
                        Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| e.to_string())?)
                    }
                    None => Box::new(BufReader::new(file)),
                };
                let mut found = RootfsFacts::default();
                scan_tar(&mut reader, cache, &mut found)
                    .map_err(|e| format!("layer {}: {e}", l.digest))?;
                cache
                    .put_layer(
                        &key,
                        &LayerRecord {
                            blob: l.clone(),
                            facts: found.clone(),
                        },
                    )
                    .map_err(|e| e.to_string())?;
                found
            }
        };
        if found.libc.is_some() {
            facts.libc = found.libc;
        }
        if found.dpkg_status.is_some() {
            facts.dpkg_status = found.dpkg_status;
        }
    }
    Ok(facts)
}

/// Pulls a registry base into the blob store; its layers pass through with
/// their digests, and the manifest annotations name it.
impl crate::build::BasePuller for crate::registry::Client {
    fn pull(&self, reference: &str, platform: &Platform, cache: &Cache) -> anyhow::Result<Base> {
        use anyhow::Context as _;
        let parsed: crate::registry::Reference = reference.parse()?;
        let pulled = crate::registry::pull_image(self, &parsed, platform, &cache.blobs)
            .with_context(|| format!("base {reference}"))?;
        let config: Value = serde_json::from_slice(&pulled.config).map_err(|e| {
            anyhow::anyhow!(
                "base {reference}: config {}: invalid JSON: {e}",
                pulled.config_descriptor.digest
            )
        })?;
        let diff_ids: Vec<crate::digest::DiffId> =
            serde_json::from_value(config["rootfs"]["diff_ids"].clone())
                .map_err(|e| anyhow::anyhow!("base {reference}: config rootfs.diff_ids: {e}"))?;
        if diff_ids.len() != pulled.layers.len() {
            anyhow::bail!(
                "base {reference}: config lists {} diff_ids for {} layers",
                diff_ids.len(),
                pulled.layers.len()
            );
        }
        let layers = pulled
            .layers
            .iter()
            .zip(diff_ids)
            .map(|(d, diff_id)| LayerBlob {
                digest: d.digest.clone(),
                diff_id,
                size: d.size,
                media_type: d.media_type.clone(),
            })
            .collect();
        Ok(Base {
            layers,
            config: Some(config),
            facts: RootfsFacts::default(),
            description: format!("image {reference}"),
            name: Some(reference.to_string()),
            digest: Some(pulled.manifest_digest),
            cached: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_that_stops_early_reads_as_truncated() {
        let eof = io::Error::other("failed to read entire block");
        assert_eq!(
            tar_error(&eof, 1),
            "truncated after 1 entry (failed to read entire block)"
        );
        assert!(tar_error(&eof, 0).starts_with("not a tar archive"));
        let other = io::Error::other("numeric field was not a number");
        assert!(tar_error(&other, 2).starts_with("invalid tar entry after 2 entries"));
    }

    #[test]
    fn entry_names_stay_inside_the_root() {
        assert!(check_entry_name("./usr/bin/x").is_ok());
        assert!(check_entry_name("usr/..hidden").is_ok());
        assert!(check_entry_name("/etc/passwd").is_err());
        assert!(check_entry_name("a/../../x").is_err());
        assert!(check_entry_name("..").is_err());
    }
}
