//! Reading an image's documents back for `jib-image inspect`: from an OCI
//! layout, an OCI or docker archive, or a registry (manifests and config
//! only; no layer is downloaded).
//!
//! Every source answers two questions: what its top document is (a
//! manifest or an index) and what bytes a descriptor names. The rest —
//! walking an index to its manifests and configs — is shared.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde_json::Value;

use crate::digest::Digest;
use crate::image::{self, Descriptor};
use crate::registry::{self, Client, Reference, mediatype};
use crate::store::BlobStore;

/// Archive members larger than this are layers, never read into memory.
const MAX_DOCUMENT: u64 = 4 << 20;

/// Where the image to inspect lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Layout {
        dir: PathBuf,
        reference: Option<String>,
    },
    OciArchive {
        file: PathBuf,
        reference: Option<String>,
    },
    DockerArchive {
        file: PathBuf,
    },
    Registry(Reference),
}

impl std::str::FromStr for Location {
    type Err = anyhow::Error;

    /// `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE`,
    /// `docker://REF` or a bare registry reference.
    fn from_str(text: &str) -> Result<Self> {
        let split = |rest: &str| {
            let (path, reference) = crate::output::split_ref(rest);
            (PathBuf::from(path), reference.map(str::to_string))
        };
        if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, reference) = split(rest);
            return Ok(Location::Layout { dir, reference });
        }
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (file, reference) = split(rest);
            return Ok(Location::OciArchive { file, reference });
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            let file = rest.split_once(':').map_or(rest, |(f, _)| f);
            return Ok(Location::DockerArchive { file: file.into() });
        }
        let reference = text.strip_prefix("docker://").unwrap_or(text);
        // The cause names the reference (without a password it may hold).
        let reference = reference
            .parse()
            .context("not oci:, oci-archive:, docker-archive: nor a registry reference")?;
        Ok(Location::Registry(reference))
    }
}

/// What inspect reports about an image (or each image of an index).
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub location: String,
    pub digest: Digest,
    pub media_type: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// An index's entries (empty for a single manifest).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<Entry>,
    pub images: Vec<ImageInfo>,
}

/// One entry of an index.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub digest: Digest,
    pub media_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImageInfo {
    pub platform: String,
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub layers: Vec<LayerInfo>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LayerInfo {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// A place documents can be read from.
trait Source {
    /// The top document: its descriptor and bytes.
    fn top(&self) -> Result<(Descriptor, Vec<u8>)>;
    fn read(&self, descriptor: &Descriptor) -> Result<Vec<u8>>;
}

/// Inspects the image at `location`; `client` is used for registries.
pub fn inspect(location: &Location, client: &Client) -> Result<Inspection> {
    let name = describe(location);
    let result = match location {
        Location::Layout { dir, reference } => {
            let source = LayoutSource::open(dir, reference.as_deref())?;
            inspect_source(&name, &source)
        }
        Location::OciArchive { file, reference } => {
            let archive = ArchiveSource::open(file)?;
            let source = LayoutSource::from_archive(archive, reference.as_deref())?;
            inspect_source(&name, &source)
        }
        Location::DockerArchive { file } => {
            let archive = ArchiveSource::open(file)?;
            // Docker 25 and later (and jib-image) write an OCI layout
            // beside `manifest.json`; it holds the real manifest.
            if archive.documents.contains_key("index.json") {
                let source = LayoutSource::from_archive(archive, None)?;
                inspect_source(&name, &source)
            } else {
                let source = DockerSource::new(archive)?;
                inspect_source(&name, &source)
            }
        }
        Location::Registry(reference) => {
            let store_dir = tempfile::tempdir()?;
            let source = RegistrySource {
                client,
                reference,
                store: BlobStore::open(store_dir.path())?,
            };
            inspect_source(&name, &source)
        }
    };
    result.with_context(|| format!("inspecting {name}"))
}

fn describe(location: &Location) -> String {
    let with_ref = |r: &Option<String>| r.as_ref().map(|r| format!(":{r}")).unwrap_or_default();
    match location {
        Location::Layout { dir, reference } => {
            format!("oci:{}{}", dir.display(), with_ref(reference))
        }
        Location::OciArchive { file, reference } => {
            format!("oci-archive:{}{}", file.display(), with_ref(reference))
        }
        Location::DockerArchive { file } => format!("docker-archive:{}", file.display()),
        Location::Registry(r) => format!("docker://{r}"),
    }
}

fn parse(bytes: &[u8], what: &Digest) -> Result<Value> {
    serde_json::from_slice(bytes).with_context(|| format!("document {what} is not JSON"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

fn inspect_source(location: &str, source: &dyn Source) -> Result<Inspection> {
    let (top, bytes) = source.top()?;
    let doc = parse(&bytes, &top.digest)?;
    let media_type = doc["mediaType"]
        .as_str()
        .map_or_else(|| top.media_type.clone(), str::to_string);
    let mut inspection = Inspection {
        location: location.to_string(),
        digest: top.digest.clone(),
        media_type: mediatype::to_oci(&media_type).to_string(),
        annotations: string_map(&doc["annotations"]),
        manifests: Vec::new(),
        images: Vec::new(),
    };
    if doc.get("manifests").is_none() {
        inspection.images.push(image_info(source, &top, &doc)?);
        return Ok(inspection);
    }
    let entries: Vec<Descriptor> = serde_json::from_value(doc["manifests"].clone())
        .with_context(|| format!("index {}: manifests", top.digest))?;
    for entry in &entries {
        inspection.manifests.push(Entry {
            digest: entry.digest.clone(),
            media_type: entry.media_type.clone(),
            platform: entry.platform.as_ref().map(ToString::to_string),
            artifact_type: entry.artifact_type.clone(),
        });
        let is_image = mediatype::to_oci(&entry.media_type) == image::MANIFEST
            && entry.artifact_type.is_none();
        if is_image {
            let doc = parse(&source.read(entry)?, &entry.digest)?;
            inspection.images.push(image_info(source, entry, &doc)?);
        }
    }
    Ok(inspection)
}

fn image_info(source: &dyn Source, manifest: &Descriptor, doc: &Value) -> Result<ImageInfo> {
    let config_descriptor: Descriptor = serde_json::from_value(doc["config"].clone())
        .with_context(|| format!("manifest {}: config", manifest.digest))?;
    let config = parse(&source.read(&config_descriptor)?, &config_descriptor.digest)?;
    let layers: Vec<Descriptor> = serde_json::from_value(doc["layers"].clone())
        .with_context(|| format!("manifest {}: layers", manifest.digest))?;
    let c = &config["config"];
    let mut platform = format!(
        "{}/{}",
        config["os"].as_str().unwrap_or("?"),
        config["architecture"].as_str().unwrap_or("?")
    );
    if let Some(variant) = config["variant"].as_str() {
        platform.push('/');
        platform.push_str(variant);
    }
    Ok(ImageInfo {
        platform,
        manifest_digest: manifest.digest.clone(),
        config_digest: config_descriptor.digest,
        entrypoint: strings(&c["Entrypoint"]),
        cmd: strings(&c["Cmd"]),
        env: strings(&c["Env"]),
        working_dir: c["WorkingDir"].as_str().unwrap_or_default().to_string(),
        user: c["User"].as_str().unwrap_or_default().to_string(),
        labels: string_map(&c["Labels"]),
        annotations: string_map(&doc["annotations"]),
        layers: layers
            .into_iter()
            .map(|l| LayerInfo {
                media_type: mediatype::to_oci(&l.media_type).to_string(),
                digest: l.digest,
                size: l.size,
            })
            .collect(),
    })
}

/// The `index.json` entry named `reference`, or the only image entry.
fn pick_entry(index: &[u8], reference: Option<&str>, where_: &str) -> Result<Descriptor> {
    let doc: Value =
        serde_json::from_slice(index).with_context(|| format!("{where_}: index.json"))?;
    let entries: Vec<Descriptor> = serde_json::from_value(doc["manifests"].clone())
        .with_context(|| format!("{where_}: index.json: manifests"))?;
    let mut fitting: Vec<Descriptor> = entries
        .into_iter()
        .filter(|e| match reference {
            Some(r) => e.annotations.get(image::REF_NAME).map(String::as_str) == Some(r),
            None => e.artifact_type.is_none(),
        })
        .collect();
    match (fitting.len(), reference) {
        (1, _) => Ok(fitting.remove(0)),
        (0, Some(r)) => bail!("{where_}: index.json has no entry named '{r}'"),
        (0, None) => bail!("{where_}: index.json lists no image"),
        (n, _) => bail!("{where_}: index.json has {n} entries; name one with :REF"),
    }
}

/// Blobs read from a directory or from an archive's members.
enum Blobs {
    Dir(PathBuf),
    Archive(ArchiveSource),
}

impl Blobs {
    fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let bytes = match self {
            Blobs::Dir(dir) => {
                let path = dir
                    .join("blobs")
                    .join(digest.algorithm())
                    .join(digest.hex());
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?
            }
            Blobs::Archive(a) => {
                a.member(&format!("blobs/{}/{}", digest.algorithm(), digest.hex()))?
            }
        };
        if &Digest::of(&bytes) != digest {
            bail!("blob {digest} does not match its digest");
        }
        Ok(bytes)
    }
}

struct LayoutSource {
    blobs: Blobs,
    entry: Descriptor,
}

impl LayoutSource {
    fn open(dir: &std::path::Path, reference: Option<&str>) -> Result<Self> {
        let path = dir.join("index.json");
        let index = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let entry = pick_entry(&index, reference, &dir.display().to_string())?;
        Ok(LayoutSource {
            blobs: Blobs::Dir(dir.to_path_buf()),
            entry,
        })
    }

    fn from_archive(archive: ArchiveSource, reference: Option<&str>) -> Result<Self> {
        let index = archive.member("index.json")?;
        let entry = pick_entry(&index, reference, &archive.file.display().to_string())?;
        Ok(LayoutSource {
            blobs: Blobs::Archive(archive),
            entry,
        })
    }
}

impl Source for LayoutSource {
    fn top(&self) -> Result<(Descriptor, Vec<u8>)> {
        Ok((self.entry.clone(), self.blobs.read(&self.entry.digest)?))
    }

    fn read(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        self.blobs.read(&descriptor.digest)
    }
}

/// A tar file's small members in memory, and every member's size and
/// first bytes (enough to tell a compressed layer from a plain one).
struct ArchiveSource {
    file: PathBuf,
    documents: HashMap<String, Vec<u8>>,
    sizes: HashMap<String, (u64, Vec<u8>)>,
}

impl ArchiveSource {
    fn open(file: &std::path::Path) -> Result<Self> {
        let reader =
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let mut archive = tar::Archive::new(std::io::BufReader::new(reader));
        let mut documents = HashMap::new();
        let mut sizes = HashMap::new();
        let entries = archive
            .entries()
            .with_context(|| format!("reading {}", file.display()))?;
        for entry in entries {
            let mut entry = entry.with_context(|| format!("reading {}", file.display()))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry
                .path()?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            let size = entry.size();
            let mut head = Vec::new();
            if size <= MAX_DOCUMENT {
                entry.read_to_end(&mut head)?;
                documents.insert(name.clone(), head.clone());
                head.truncate(4);
            } else {
                (&mut entry).take(4).read_to_end(&mut head)?;
            }
            sizes.insert(name, (size, head));
        }
        Ok(ArchiveSource {
            file: file.to_path_buf(),
            documents,
            sizes,
        })
    }

    fn member(&self, name: &str) -> Result<Vec<u8>> {
        self.documents.get(name).cloned().ok_or_else(|| {
            anyhow!(
                "{}: no document '{name}' in the archive",
                self.file.display()
            )
        })
    }
}

/// A `docker save` archive read through its `manifest.json`.
struct DockerSource {
    archive: ArchiveSource,
    manifest: Value,
    config: Descriptor,
}

impl DockerSource {
    fn new(archive: ArchiveSource) -> Result<Self> {
        let list: Value = serde_json::from_slice(&archive.member("manifest.json")?)
            .with_context(|| format!("{}: manifest.json", archive.file.display()))?;
        let Some(first) = list.as_array().and_then(|a| a.first()) else {
            bail!("{}: manifest.json lists no image", archive.file.display());
        };
        let config_name = first["Config"].as_str().unwrap_or_default();
        let config = archive.member(config_name)?;
        let config = Descriptor::new(image::CONFIG, Digest::of(&config), config.len() as u64);
        let layers: Vec<Value> = strings(&first["Layers"])
            .iter()
            .map(|name| {
                let (size, head) = archive.sizes.get(name).cloned().unwrap_or_default();
                let media_type = match head.as_slice() {
                    [0x1f, 0x8b, ..] => mediatype::OCI_LAYER_GZIP,
                    [0x28, 0xb5, 0x2f, 0xfd] => mediatype::OCI_LAYER_ZSTD,
                    _ => mediatype::OCI_LAYER_TAR,
                };
                // The digest a loader computes for a layer is over its file.
                let digest = archive
                    .documents
                    .get(name)
                    .map(|b| Digest::of(b))
                    .or_else(|| {
                        name.rsplit('/')
                            .next()
                            .and_then(|h| format!("sha256:{h}").parse().ok())
                    })
                    .unwrap_or_else(|| Digest::of(name.as_bytes()));
                serde_json::json!({ "mediaType": media_type, "digest": digest, "size": size })
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": image::MANIFEST,
            "config": config,
            "layers": layers,
        });
        Ok(DockerSource {
            archive,
            manifest,
            config,
        })
    }
}

impl Source for DockerSource {
    fn top(&self) -> Result<(Descriptor, Vec<u8>)> {
        let bytes = image::to_bytes(&self.manifest);
        let d = Descriptor::new(image::MANIFEST, Digest::of(&bytes), bytes.len() as u64);
        Ok((d, bytes))
    }

    fn read(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        if descriptor.digest == self.config.digest {
            let list: Value = serde_json::from_slice(&self.archive.member("manifest.json")?)?;
            return self
                .archive
                .member(list[0]["Config"].as_str().unwrap_or_default());
        }
        bail!("no document {} in the archive", descriptor.digest)
    }
}

struct RegistrySource<'a> {
    client: &'a Client,
    reference: &'a Reference,
    store: BlobStore,
}

impl Source for RegistrySource<'_> {
    fn top(&self) -> Result<(Descriptor, Vec<u8>)> {
        let (digest, media_type, bytes) =
            registry::fetch_manifest(self.client, self.reference, &self.store)?;
        Ok((
            Descriptor::new(&media_type, digest, bytes.len() as u64),
            bytes,
        ))
    }

    fn read(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        Ok(registry::fetch_blob(
            self.client,
            self.reference,
            descriptor,
            &self.store,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_by_prefix() {
        assert_eq!(
            "oci:out/img:v1".parse::<Location>().unwrap(),
            Location::Layout {
                dir: "out/img".into(),
                reference: Some("v1".into())
            }
        );
        assert_eq!(
            "docker-archive:a.tar:app:v1".parse::<Location>().unwrap(),
            Location::DockerArchive {
                file: "a.tar".into()
            }
        );
        assert!(matches!(
            "docker://127.0.0.1:5000/app:v1".parse::<Location>().unwrap(),
            Location::Registry(r) if r.repository == "app"
        ));
        assert!(matches!(
            "127.0.0.1:5000/app".parse::<Location>().unwrap(),
            Location::Registry(_)
        ));
    }
}
