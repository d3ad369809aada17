//! `oci-archive:FILE[:REF]`: an OCI image layout in one tar file, the form
//! that skopeo's `oci-archive:` transport and `podman load` read.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::tarball::Archive;
use super::{Output, OutputReport, layout};
use crate::build::BuiltImage;
use crate::store::BlobStore;

pub struct OciArchiveOutput {
    file: PathBuf,
    reference: String,
}

impl OciArchiveOutput {
    pub fn new(file: impl Into<PathBuf>, reference: Option<&str>) -> Self {
        OciArchiveOutput {
            file: file.into(),
            reference: reference.unwrap_or(layout::DEFAULT_REF).to_string(),
        }
    }
}

/// The members of an OCI layout holding `image` under `reference`.
pub fn layout_members(image: &BuiltImage, reference: &str) -> Archive {
    let mut archive = Archive::default();
    archive.add_blobs(&image.blobs());
    archive.add_bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec());
    archive.add_bytes("index.json", layout::index_json(image, reference));
    archive
}

impl Output for OciArchiveOutput {
    fn describe(&self) -> String {
        format!("oci-archive:{}:{}", self.file.display(), self.reference)
    }

    fn sbom_path(&self) -> Option<std::path::PathBuf> {
        Some(super::beside(&self.file))
    }

    fn write(&self, image: &BuiltImage, store: &BlobStore) -> Result<OutputReport> {
        layout_members(image, &self.reference)
            .write(&self.file, store)
            .with_context(|| format!("writing {}", self.describe()))?;
        Ok(OutputReport {
            kind: "oci-archive".into(),
            location: self.describe(),
            digest: image.top.digest.clone(),
        })
    }
}
