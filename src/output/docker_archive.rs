//! `docker-archive:FILE[:NAME[:TAG]]`: the `docker save` format that
//! `docker load` and `podman load` read.
//!
//! The archive holds `manifest.json` (config path, tags, layer paths in
//! order) and `repositories` as older tools expect, and is at the same time
//! an OCI layout (`oci-layout`, `index.json`, `blobs/`) as Docker 25 and
//! later write it. Layers stay compressed as they were built: both loaders
//! detect the compression, and nothing is compressed twice.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::tarball::blob_path;
use super::{Output, OutputReport, oci_archive};
use crate::build::BuiltImage;
use crate::image;
use crate::store::BlobStore;

pub struct DockerArchiveOutput {
    file: PathBuf,
    /// `name:tag`, with `latest` added when the user gave no tag.
    tag: Option<String>,
}

impl DockerArchiveOutput {
    pub fn new(file: impl Into<PathBuf>, reference: Option<&str>) -> Self {
        DockerArchiveOutput {
            file: file.into(),
            tag: reference.map(with_tag),
        }
    }
}

/// `name` → `name:latest`; a colon after the last slash already is a tag.
fn with_tag(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

impl Output for DockerArchiveOutput {
    fn describe(&self) -> String {
        match &self.tag {
            Some(tag) => format!("docker-archive:{}:{tag}", self.file.display()),
            None => format!("docker-archive:{}", self.file.display()),
        }
    }

    fn sbom_path(&self) -> Option<std::path::PathBuf> {
        Some(super::beside(&self.file))
    }

    fn write(&self, image: &BuiltImage, store: &BlobStore) -> Result<OutputReport> {
        if image.manifests.len() > 1 {
            let platforms: Vec<String> = image
                .manifests
                .iter()
                .map(|m| m.platform.to_string())
                .collect();
            bail!(
                "{}: a docker archive holds one platform, this image has {}; \
                 choose one with --platform",
                self.describe(),
                platforms.join(", ")
            );
        }
        let m = &image.manifests[0];
        let reference = self.tag.as_deref().unwrap_or(super::layout::DEFAULT_REF);
        let mut archive = oci_archive::layout_members(image, reference);
        let layers: Vec<String> = m.layers.iter().map(|l| blob_path(&l.blob.digest)).collect();
        let tags: Vec<&str> = self.tag.iter().map(String::as_str).collect();
        let manifest = json!([{
            "Config": blob_path(&m.config.digest),
            "RepoTags": tags,
            "Layers": layers,
        }]);
        archive.add_bytes("manifest.json", image::to_bytes(&manifest));
        if let Some(tag) = &self.tag {
            let (name, tag) = tag.rsplit_once(':').expect("a tag was added");
            let top = m.layers.last().map(|l| l.blob.digest.hex().to_string());
            archive.add_bytes(
                "repositories",
                image::to_bytes(&json!({ name: { tag: top.unwrap_or_default() } })),
            );
        }
        archive
            .write(&self.file, store)
            .with_context(|| format!("writing {}", self.describe()))?;
        Ok(OutputReport {
            kind: "docker-archive".into(),
            location: self.describe(),
            digest: m.descriptor.digest.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_without_a_tag_get_latest() {
        assert_eq!(super::with_tag("app"), "app:latest");
        assert_eq!(super::with_tag("host:5000/app"), "host:5000/app:latest");
        assert_eq!(super::with_tag("host:5000/app:v1"), "host:5000/app:v1");
    }
}
