//! Small OCI image layouts written by hand, for tests that need an image
//! before the builder exists.

use std::io::Write;
use std::path::Path;

use jib_image::digest::Digest;
use serde_json::json;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What a written layout holds.
pub struct TestImage {
    /// The digest of the `index.json` entry (manifest or index).
    pub digest: Digest,
    /// Every blob written, manifests included.
    pub blobs: Vec<Digest>,
}

fn put_blob(dir: &Path, bytes: &[u8]) -> (Digest, u64) {
    let digest = Digest::of(bytes);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(digest.hex()), bytes).unwrap();
    (digest, bytes.len() as u64)
}

/// A gzipped tar holding one file whose content is `content`.
fn layer(content: &[u8]) -> (Vec<u8>, Digest) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, "hello.txt", content).unwrap();
    let tar = tar.into_inner().unwrap();
    let diff_id = Digest::of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    (gz.finish().unwrap(), diff_id)
}

/// Writes one image manifest (config + `layers` layers) into the layout's
/// blobs and returns its descriptor JSON.
fn write_image(
    dir: &Path,
    seed: &str,
    layers: usize,
    arch: &str,
    blobs: &mut Vec<Digest>,
) -> serde_json::Value {
    let mut layer_descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for n in 0..layers {
        let (bytes, diff_id) = layer(format!("{seed} layer {n} {arch}\n").as_bytes());
        let (digest, size) = put_blob(dir, &bytes);
        blobs.push(digest.clone());
        diff_ids.push(diff_id.to_string());
        layer_descriptors.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest.to_string(),
            "size": size,
        }));
    }
    let config = json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Env": [format!("SEED={seed}")]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (config_digest, config_size) = put_blob(dir, &serde_json::to_vec(&config).unwrap());
    blobs.push(config_digest.clone());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config_size,
        },
        "layers": layer_descriptors,
    });
    let (digest, size) = put_blob(dir, &serde_json::to_vec(&manifest).unwrap());
    blobs.push(digest.clone());
    json!({
        "mediaType": OCI_MANIFEST,
        "digest": digest.to_string(),
        "size": size,
        "platform": {"os": "linux", "architecture": arch},
    })
}

fn write_index_json(dir: &Path, mut entry: serde_json::Value, name: &str) {
    entry["annotations"] = json!({"org.opencontainers.image.ref.name": name});
    let index = json!({"schemaVersion": 2, "manifests": [entry]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A single-platform image with two layers, named `name` in index.json.
pub fn write_image_layout(dir: &Path, seed: &str, name: &str) -> TestImage {
    let mut blobs = Vec::new();
    let entry = write_image(dir, seed, 2, "amd64", &mut blobs);
    let digest: Digest = entry["digest"].as_str().unwrap().parse().unwrap();
    write_index_json(dir, entry, name);
    TestImage { digest, blobs }
}

/// An image index over an amd64 and an arm64 image, named `name`.
pub fn write_index_layout(dir: &Path, seed: &str, name: &str) -> TestImage {
    let mut blobs = Vec::new();
    let children: Vec<serde_json::Value> = ["amd64", "arm64"]
        .iter()
        .map(|arch| write_image(dir, seed, 1, arch, &mut blobs))
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children});
    let (digest, size) = put_blob(dir, &serde_json::to_vec(&index).unwrap());
    blobs.push(digest.clone());
    let entry = json!({"mediaType": OCI_INDEX, "digest": digest.to_string(), "size": size});
    write_index_json(dir, entry, name);
    TestImage { digest, blobs }
}
