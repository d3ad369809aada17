//! Artifacts attached to an image as OCI 1.1 referrers (image spec,
//! "Guidelines for Artifact Usage"; distribution spec, "Listing Referrers").
//!
//! An artifact is an image manifest whose `artifactType` names what it
//! holds, whose `config` is the empty descriptor and whose `subject` is the
//! image it describes. Registries without the referrers API (Debian's
//! registry 2.8 among them) find referrers through the fallback tag
//! `sha256-<hex of the subject>`, which names an index of them; that index
//! is built here too.

use std::collections::BTreeMap;

use serde_json::json;

use crate::digest::Digest;
use crate::image::{self, Descriptor};
use crate::store::{BlobStore, StoreError};

pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_JSON: &[u8] = b"{}";

/// The fallback tag under which referrers of `subject` are listed.
pub fn referrers_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm(), subject.hex())
}

/// Stores `content` as a one-layer artifact about `subject` and returns
/// the artifact manifest's descriptor (with its `artifactType`).
pub fn put_artifact(
    store: &BlobStore,
    subject: &Descriptor,
    artifact_type: &str,
    content: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<Descriptor, StoreError> {
    let empty = store.put_bytes(EMPTY_JSON)?;
    let blob = store.put_bytes(content)?;
    let mut subject = subject.clone();
    subject.platform = None;
    subject.annotations.clear();
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": image::MANIFEST,
        "artifactType": artifact_type,
        "config": Descriptor::new(EMPTY_MEDIA_TYPE, empty, EMPTY_JSON.len() as u64),
        "layers": [Descriptor::new(artifact_type, blob, content.len() as u64)],
        "subject": subject,
    });
    if !annotations.is_empty() {
        manifest["annotations"] = json!(annotations);
    }
    let bytes = image::to_bytes(&manifest);
    let digest = store.put_bytes(&bytes)?;
    let mut descriptor = Descriptor::new(image::MANIFEST, digest, bytes.len() as u64);
    descriptor.artifact_type = Some(artifact_type.to_string());
    descriptor.annotations = annotations.clone();
    Ok(descriptor)
}

/// Stores the index that the fallback tag points to, listing `referrers`.
pub fn put_referrers_index(
    store: &BlobStore,
    referrers: &[Descriptor],
) -> Result<Descriptor, StoreError> {
    let doc = json!({ "schemaVersion": 2, "mediaType": image::INDEX, "manifests": referrers });
    let bytes = image::to_bytes(&doc);
    let digest = store.put_bytes(&bytes)?;
    Ok(Descriptor::new(image::INDEX, digest, bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_manifest_points_to_its_subject() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let subject = Descriptor::new(image::MANIFEST, Digest::of(b"image"), 5);
        let d = put_artifact(
            &store,
            &subject,
            "application/spdx+json",
            b"{}",
            &BTreeMap::new(),
        )
        .unwrap();
        let doc: serde_json::Value =
            serde_json::from_slice(&store.read(&d.digest).unwrap()).unwrap();
        assert_eq!(doc["subject"]["digest"], subject.digest.to_string());
        assert_eq!(doc["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(
            doc["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            referrers_tag(&subject.digest),
            format!("sha256-{}", subject.digest.hex())
        );
    }
}
