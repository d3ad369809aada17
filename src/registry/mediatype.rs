//! Media types the registry client reads and writes.
//!
//! Registries still serve many images in Docker's schema 2 format. Its
//! manifests, lists and layers carry the same bytes and digests as their OCI
//! counterparts, so pulled descriptors are renamed to the OCI types and the
//! rest of the program deals with OCI only.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Not in Docker's schema 2 specification, but written by some tools.
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Every manifest type accepted when resolving a reference, in preference order.
pub const MANIFEST_ACCEPT: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// The OCI name of a Docker layer or config type; OCI and unknown types
/// are returned unchanged.
pub fn to_oci(media_type: &str) -> &str {
    match media_type {
        DOCKER_LAYER_GZIP | DOCKER_FOREIGN_LAYER_GZIP => OCI_LAYER_GZIP,
        DOCKER_LAYER_ZSTD => OCI_LAYER_ZSTD,
        DOCKER_LAYER_TAR => OCI_LAYER_TAR,
        DOCKER_CONFIG => OCI_CONFIG,
        DOCKER_MANIFEST => OCI_MANIFEST,
        DOCKER_MANIFEST_LIST => OCI_INDEX,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_types_map_to_oci_and_oci_types_stay() {
        assert_eq!(to_oci(DOCKER_LAYER_GZIP), OCI_LAYER_GZIP);
        assert_eq!(to_oci(DOCKER_CONFIG), OCI_CONFIG);
        assert_eq!(to_oci(OCI_LAYER_ZSTD), OCI_LAYER_ZSTD);
        assert!(is_index(DOCKER_MANIFEST_LIST) && is_manifest(DOCKER_MANIFEST));
    }
}
