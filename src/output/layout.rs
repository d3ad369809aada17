//! An OCI image layout directory (image spec, "OCI Image Layout").
//!
//! The layout is assembled in a temporary directory beside the target and
//! renamed into place only when complete, so a failed or killed build never
//! leaves a half-written layout. Blobs are hard links into the cache when
//! both live on one file system.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::{Output, OutputReport};
use crate::build::BuiltImage;
use crate::image::{self, Descriptor};
use crate::store::BlobStore;

pub const DEFAULT_REF: &str = "latest";

pub struct LayoutOutput {
    dir: PathBuf,
    reference: String,
}

impl LayoutOutput {
    pub fn new(dir: impl Into<PathBuf>, reference: Option<&str>) -> Self {
        LayoutOutput {
            dir: dir.into(),
            reference: reference.unwrap_or(DEFAULT_REF).to_string(),
        }
    }
}

impl Output for LayoutOutput {
    fn describe(&self) -> String {
        format!("oci:{}:{}", self.dir.display(), self.reference)
    }

    fn sbom_path(&self) -> Option<std::path::PathBuf> {
        Some(super::beside(&self.dir))
    }

    fn write(&self, image: &BuiltImage, store: &BlobStore) -> Result<OutputReport> {
        write_layout(&self.dir, &self.reference, image, store)
            .with_context(|| format!("writing {}", self.describe()))?;
        Ok(OutputReport {
            kind: "oci".into(),
            location: self.describe(),
            digest: image.top.digest.clone(),
        })
    }
}

/// The `index.json` of a layout holding `image` under `reference`.
///
/// For one platform it lists the manifest under the name. For several, the
/// named entry is the image index (so that `oci:DIR:REF` and a push of that
/// name carry every platform, as skopeo and podman expect), and every
/// platform's manifest is listed beside it with its `platform`, unnamed, so
/// that a reader of `index.json` alone sees them all. The image index itself
/// lists manifests only: no index is ever nested inside it.
pub fn index_json(image: &BuiltImage, reference: &str) -> Vec<u8> {
    let mut named = image.top.clone();
    named.platform = None;
    named
        .annotations
        .insert(image::REF_NAME.into(), reference.to_string());
    let mut entries: Vec<Descriptor> = vec![named];
    if image.is_index() {
        entries.extend(image.manifests.iter().map(|m| m.descriptor.clone()));
    }
    image::to_bytes(&json!({ "schemaVersion": 2, "mediaType": image::INDEX, "manifests": entries }))
}

/// Writes a complete layout at `dir`, replacing an earlier layout there.
pub fn write_layout(
    dir: &Path,
    reference: &str,
    image: &BuiltImage,
    store: &BlobStore,
) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    if dir.exists() && !is_replaceable(dir)? {
        bail!(
            "{} exists and is not an OCI image layout; not replacing it",
            dir.display()
        );
    }
    let name = dir
        .file_name()
        .map_or_else(|| "layout".into(), |n| n.to_string_lossy().into_owned());
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempdir_in(&parent)?;
    let blobs = temp.path().join("blobs").join("sha256");
    fs::create_dir_all(&blobs)?;
    for digest in image.blobs() {
        store.link_to(&digest, &blobs.join(digest.hex()))?;
    }
    fs::write(
        temp.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    fs::write(temp.path().join("index.json"), index_json(image, reference))?;
    sync_dir(temp.path());

    // Swap in the new layout; the old one, if any, goes only afterwards.
    let staged = temp.keep();
    if dir.exists() {
        let old = tempfile::Builder::new()
            .prefix(&format!(".{name}.old-"))
            .tempdir_in(&parent)?
            .keep();
        fs::rename(dir, old.join("layout"))?;
        if let Err(e) = fs::rename(&staged, dir) {
            let _ = fs::rename(old.join("layout"), dir);
            let _ = fs::remove_dir_all(&staged);
            return Err(e.into());
        }
        let _ = fs::remove_dir_all(&old);
    } else if let Err(e) = fs::rename(&staged, dir) {
        let _ = fs::remove_dir_all(&staged);
        return Err(e.into());
    }
    sync_dir(&parent);
    Ok(())
}

/// An existing target may be replaced when it is an empty directory or an
/// OCI layout.
fn is_replaceable(dir: &Path) -> Result<bool> {
    if !dir.is_dir() {
        return Ok(false);
    }
    if dir.join("oci-layout").is_file() {
        return Ok(true);
    }
    Ok(fs::read_dir(dir)?.next().is_none())
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}
