//! Reading what to push from an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/<hex>`; OCI image spec, image-layout.md).

use std::path::{Path, PathBuf};

use super::error::RegistryError;
use super::manifest::{Index, Manifest, Versioned};
use super::mediatype;
use crate::digest::Digest;
use crate::image::{Descriptor, REF_NAME};

/// A manifest or index to push, with its exact bytes.
pub struct ManifestBlob {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// Everything one `index.json` entry reaches, in push order.
#[derive(Default)]
pub struct PushPlan {
    pub layers: Vec<Descriptor>,
    pub configs: Vec<Descriptor>,
    /// Children before the index that lists them; the entry itself is last.
    pub manifests: Vec<ManifestBlob>,
}

pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    pub fn open(dir: &Path) -> Result<Self, RegistryError> {
        let layout = Layout {
            dir: dir.to_path_buf(),
        };
        if !dir.join("oci-layout").is_file() {
            return Err(layout.error("no oci-layout file: not an OCI image layout"));
        }
        Ok(layout)
    }

    /// Blobs under `dir/blobs/sha256/` without an `index.json`: a blob store
    /// laid out like a layout, pushed from a descriptor given by the caller.
    pub fn at(dir: &Path) -> Self {
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn error(&self, what: impl Into<String>) -> RegistryError {
        RegistryError::Layout {
            path: self.dir.clone(),
            what: what.into(),
        }
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// The `index.json` entry named `ref_name`, or the only entry.
    pub fn entry(&self, ref_name: Option<&str>) -> Result<Descriptor, RegistryError> {
        let path = self.dir.join("index.json");
        let bytes = std::fs::read(&path).map_err(|source| RegistryError::Io { path, source })?;
        let index: Index = serde_json::from_slice(&bytes)
            .map_err(|e| self.error(format!("index.json is not a valid image index: {e}")))?;
        let named = |d: &&Descriptor| d.annotations.get(REF_NAME).map(String::as_str) == ref_name;
        let mut candidates: Vec<&Descriptor> = match ref_name {
            Some(_) => index.manifests.iter().filter(named).collect(),
            None => index.manifests.iter().collect(),
        };
        match (candidates.len(), ref_name) {
            (1, _) => Ok(candidates.remove(0).clone()),
            (0, Some(name)) => Err(self.error(format!("index.json has no entry named '{name}'"))),
            (0, None) => Err(self.error("index.json lists no image")),
            (n, _) => Err(self.error(format!("index.json has {n} entries; name one"))),
        }
    }

    /// Reads a manifest blob, checking it against its descriptor.
    fn manifest_blob(&self, descriptor: &Descriptor) -> Result<ManifestBlob, RegistryError> {
        let path = self.blob_path(&descriptor.digest);
        let bytes = std::fs::read(&path).map_err(|source| RegistryError::Io { path, source })?;
        if Digest::of(&bytes) != descriptor.digest || bytes.len() as u64 != descriptor.size {
            return Err(self.error(format!(
                "blob {} does not match its descriptor",
                descriptor.digest
            )));
        }
        let media_type =
            Versioned::media_type_of(&bytes).unwrap_or_else(|| descriptor.media_type.clone());
        Ok(ManifestBlob {
            digest: descriptor.digest.clone(),
            media_type,
            bytes,
        })
    }

    /// Walks from `descriptor` to every manifest and blob it reaches.
    pub fn plan(&self, descriptor: &Descriptor, plan: &mut PushPlan) -> Result<(), RegistryError> {
        let blob = self.manifest_blob(descriptor)?;
        let invalid = |e: serde_json::Error| self.error(format!("manifest {}: {e}", blob.digest));
        if mediatype::is_index(&blob.media_type) {
            let index: Index = serde_json::from_slice(&blob.bytes).map_err(invalid)?;
            for child in &index.manifests {
                self.plan(child, plan)?;
            }
        } else {
            let manifest: Manifest = serde_json::from_slice(&blob.bytes).map_err(invalid)?;
            for layer in manifest.layers {
                self.check_blob(&layer)?;
                if !plan.layers.iter().any(|l| l.digest == layer.digest) {
                    plan.layers.push(layer);
                }
            }
            self.check_blob(&manifest.config)?;
            if !plan
                .configs
                .iter()
                .any(|c| c.digest == manifest.config.digest)
            {
                plan.configs.push(manifest.config);
            }
        }
        if !plan.manifests.iter().any(|m| m.digest == blob.digest) {
            plan.manifests.push(blob);
        }
        Ok(())
    }

    /// A cheap check before any upload: the blob exists with the right size.
    fn check_blob(&self, descriptor: &Descriptor) -> Result<(), RegistryError> {
        let path = self.blob_path(&descriptor.digest);
        let metadata =
            std::fs::metadata(&path).map_err(|source| RegistryError::Io { path, source })?;
        if metadata.len() != descriptor.size {
            return Err(self.error(format!(
                "blob {} has {} bytes but its descriptor says {}",
                descriptor.digest,
                metadata.len(),
                descriptor.size
            )));
        }
        Ok(())
    }
}
