//! The few manifest fields the registry client reads.
//!
//! Manifests are pushed and stored as the exact bytes they were given (their
//! digest is over those bytes), so these types only parse what is needed to
//! find the blobs and child manifests a manifest points to; unknown fields
//! are ignored.

use serde::Deserialize;

use crate::image::Descriptor;

/// An image manifest, OCI or Docker schema 2.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An image index or Docker manifest list; also the shape of `index.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// Only the `mediaType` field, to tell a manifest from an index.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Versioned {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Option<serde_json::Value>,
}

impl Versioned {
    /// The media type a manifest declares, or the one its shape implies
    /// (OCI made the field optional).
    pub fn media_type_of(bytes: &[u8]) -> Option<String> {
        let versioned: Versioned = serde_json::from_slice(bytes).ok()?;
        Some(match (versioned.media_type, versioned.manifests) {
            (Some(media_type), _) => media_type,
            (None, Some(_)) => crate::registry::mediatype::OCI_INDEX.to_string(),
            (None, None) => crate::registry::mediatype::OCI_MANIFEST.to_string(),
        })
    }
}
