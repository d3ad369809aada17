//! Checks an OCI image layout the way a strict reader would: every
//! descriptor reachable from `index.json` must name a blob of exactly its
//! size and digest, and every layer must decompress to the `diff_id` its
//! config lists.

use std::io::Read;
use std::path::{Path, PathBuf};

use jib_image::digest::Digest;
use serde_json::Value;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// One image manifest found in the layout, with what it points to.
#[derive(Debug, Clone)]
pub struct CheckedManifest {
    pub digest: Digest,
    /// The `org.opencontainers.image.ref.name` of the `index.json` entry
    /// that leads to this manifest.
    pub ref_name: Option<String>,
    pub manifest: Value,
    pub config: Value,
    /// Every layer as `(descriptor, uncompressed tar bytes)`.
    pub layers: Vec<(Value, Vec<u8>)>,
}

/// The path of a blob in the layout at `dir`.
pub fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs")
        .join(digest.algorithm())
        .join(digest.hex())
}

/// Reads the blob a descriptor names, checking its size and digest.
pub fn read_descriptor(dir: &Path, descriptor: &Value) -> Vec<u8> {
    let digest: Digest = descriptor["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("descriptor without digest: {descriptor}"))
        .parse()
        .expect("descriptor digest parses");
    let size = descriptor["size"]
        .as_u64()
        .unwrap_or_else(|| panic!("descriptor without size: {descriptor}"));
    let path = blob_path(dir, &digest);
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading blob {}: {e}", path.display()));
    assert_eq!(bytes.len() as u64, size, "size of blob {digest}");
    assert_eq!(Digest::of(&bytes), digest, "content of blob {digest}");
    bytes
}

/// The uncompressed tar stream of a layer blob.
pub fn uncompress(media_type: &str, blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if media_type.ends_with("+gzip") {
        flate2::read::MultiGzDecoder::new(blob)
            .read_to_end(&mut out)
            .expect("gunzip layer");
    } else if media_type.ends_with("+zstd") {
        out = zstd::stream::decode_all(blob).expect("unzstd layer");
    } else {
        out = blob.to_vec();
    }
    out
}

/// Walks the layout at `dir` and returns every image manifest in it, in
/// `index.json` order (nested indexes flattened).
pub fn check_layout(dir: &Path) -> Vec<CheckedManifest> {
    let layout: Value =
        serde_json::from_slice(&std::fs::read(dir.join("oci-layout")).expect("oci-layout"))
            .expect("oci-layout is JSON");
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index.json"))
            .expect("index.json is JSON");
    assert_eq!(index["schemaVersion"], 2);
    let mut out = Vec::new();
    for entry in index["manifests"].as_array().expect("index.json manifests") {
        let ref_name = entry["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .map(str::to_string);
        walk(dir, entry, ref_name, &mut out);
    }
    out
}

fn walk(dir: &Path, descriptor: &Value, ref_name: Option<String>, out: &mut Vec<CheckedManifest>) {
    let bytes = read_descriptor(dir, descriptor);
    let doc: Value = serde_json::from_slice(&bytes).expect("manifest or index is JSON");
    let media_type = descriptor["mediaType"].as_str().unwrap_or_default();
    assert_eq!(doc["mediaType"], media_type, "mediaType of {descriptor}");
    match media_type {
        INDEX => {
            for child in doc["manifests"].as_array().expect("index manifests") {
                walk(dir, child, ref_name.clone(), out);
            }
        }
        // A manifest listed both in index.json and in the named index is
        // one image, checked once.
        MANIFEST
            if out.iter().any(|m: &CheckedManifest| {
                m.digest.to_string() == descriptor["digest"].as_str().unwrap_or_default()
            }) => {}
        MANIFEST => out.push(check_manifest(dir, descriptor, doc, ref_name)),
        other => panic!("unexpected media type {other} in {descriptor}"),
    }
}

fn check_manifest(
    dir: &Path,
    descriptor: &Value,
    manifest: Value,
    ref_name: Option<String>,
) -> CheckedManifest {
    assert_eq!(manifest["schemaVersion"], 2);
    let config: Value =
        serde_json::from_slice(&read_descriptor(dir, &manifest["config"])).expect("config is JSON");
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .expect("config rootfs.diff_ids");
    let descriptors = manifest["layers"].as_array().expect("manifest layers");
    assert_eq!(diff_ids.len(), descriptors.len(), "one diff_id per layer");
    let mut layers = Vec::new();
    for (layer, diff_id) in descriptors.iter().zip(diff_ids) {
        let blob = read_descriptor(dir, layer);
        let tar = uncompress(layer["mediaType"].as_str().unwrap_or_default(), &blob);
        assert_eq!(
            Digest::of(&tar).to_string(),
            diff_id.as_str().unwrap(),
            "diff_id of layer {}",
            layer["digest"]
        );
        layers.push((layer.clone(), tar));
    }
    CheckedManifest {
        digest: descriptor["digest"].as_str().unwrap().parse().unwrap(),
        ref_name,
        manifest,
        config,
        layers,
    }
}
