//! Pulling an image into the blob store (distribution spec, "Pull").
//!
//! A tag or digest resolves to a manifest; an index (or Docker manifest
//! list) is resolved further to the manifest for the wanted platform. The
//! config and layers are fetched unless the store already has them, each
//! checked against its digest and size before it gets its name, and the
//! descriptors handed back carry OCI media types whatever the registry
//! served.

use std::io::Read;

use reqwest::{Method, StatusCode};

use super::auth::pull_scope;
use super::client::Client;
use super::error::RegistryError;
use super::manifest::{Index, Manifest, Versioned};
use super::mediatype;
use super::parallel::for_each_parallel;
use super::reference::Reference;
use super::transport::Call;
use crate::digest::Digest;
use crate::image::Descriptor;
use crate::platform::Platform;
use crate::store::BlobStore;

/// Manifests larger than this are refused (the distribution spec suggests
/// registries accept at least 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;
const PARALLEL_DOWNLOADS: usize = 4;
/// Whole-download tries for a manifest or blob whose body broke off or
/// came short (as many as the transport's tries of one request).
const DOWNLOAD_ATTEMPTS: u32 = 5;

/// A pulled image; all its blobs are in the store.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The digest of the platform's image manifest.
    pub manifest_digest: Digest,
    /// The config descriptor, with an OCI media type.
    pub config_descriptor: Descriptor,
    /// The config JSON (also in the store under its digest).
    pub config: Vec<u8>,
    /// The layers in order, with OCI media types and their original digests.
    pub layers: Vec<Descriptor>,
}

/// Pulls `reference` for `platform` into `store`.
pub fn pull_image(
    client: &Client,
    reference: &Reference,
    platform: &Platform,
    store: &BlobStore,
) -> Result<PulledImage, RegistryError> {
    let puller = Puller::new(client, reference, store);
    let (mut digest, mut media_type, mut bytes) =
        puller.fetch_manifest(&reference.manifest_reference(), reference.digest.as_ref())?;
    if mediatype::is_index(&media_type) {
        let child = puller.choose_platform(&digest, &bytes, platform)?;
        (digest, media_type, bytes) =
            puller.fetch_manifest(&child.digest.to_string(), Some(&child.digest))?;
    }
    if !mediatype::is_manifest(&media_type) {
        return Err(puller.protocol(format!(
            "manifest {digest} has unsupported media type {media_type}"
        )));
    }
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| puller.protocol(format!("manifest {digest} is not valid: {e}")))?;
    puller.fetch_blobs(std::slice::from_ref(&manifest.config))?;
    puller.fetch_blobs(&manifest.layers)?;
    client.record.save();
    let config = store.read(&manifest.config.digest)?;
    Ok(PulledImage {
        manifest_digest: digest,
        config_descriptor: to_oci(manifest.config),
        config,
        layers: manifest.layers.into_iter().map(to_oci).collect(),
    })
}

/// Fetches the manifest or index that `reference` names, without its
/// blobs: its digest, media type and bytes (kept in `store` as well).
pub fn fetch_manifest(
    client: &Client,
    reference: &Reference,
    store: &BlobStore,
) -> Result<(Digest, String, Vec<u8>), RegistryError> {
    let puller = Puller::new(client, reference, store);
    puller.fetch_manifest(&reference.manifest_reference(), reference.digest.as_ref())
}

/// Fetches one blob of `reference`'s repository (a config, a child
/// manifest by digest) into `store`, verified, and returns its bytes.
pub fn fetch_blob(
    client: &Client,
    reference: &Reference,
    descriptor: &Descriptor,
    store: &BlobStore,
) -> Result<Vec<u8>, RegistryError> {
    let puller = Puller::new(client, reference, store);
    if mediatype::is_index(&descriptor.media_type) || mediatype::is_manifest(&descriptor.media_type)
    {
        let (_, _, bytes) =
            puller.fetch_manifest(&descriptor.digest.to_string(), Some(&descriptor.digest))?;
        return Ok(bytes);
    }
    puller.fetch_blob(descriptor)?;
    Ok(store.read(&descriptor.digest)?)
}

fn to_oci(mut descriptor: Descriptor) -> Descriptor {
    descriptor.media_type = mediatype::to_oci(&descriptor.media_type).to_string();
    descriptor
}

/// Why a manifest fetch failed: worth fetching again, or not.
enum ManifestError {
    Broken(RegistryError),
    Final(RegistryError),
}

impl From<RegistryError> for ManifestError {
    fn from(e: RegistryError) -> Self {
        ManifestError::Final(e)
    }
}

struct Puller<'a> {
    client: &'a Client,
    registry: &'a str,
    repository: &'a str,
    scopes: Vec<String>,
    store: &'a BlobStore,
}

impl<'a> Puller<'a> {
    fn new(client: &'a Client, reference: &'a Reference, store: &'a BlobStore) -> Self {
        Puller {
            client,
            registry: reference.api_host(),
            repository: &reference.repository,
            scopes: vec![pull_scope(&reference.repository)],
            store,
        }
    }

    fn protocol(&self, what: String) -> RegistryError {
        RegistryError::Protocol {
            registry: self.registry.to_string(),
            what,
        }
    }

    /// `GET /v2/<name>/manifests/<reference>`: digest, media type, bytes.
    /// A manifest asked for by digest comes from the store when it is there.
    /// A body that breaks off, or does not match the digest expected or
    /// claimed, is fetched again a bounded number of times: a short body
    /// looks exactly like a mismatching one.
    fn fetch_manifest(
        &self,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<(Digest, String, Vec<u8>), RegistryError> {
        if let Some(digest) = expected.filter(|d| self.store.contains(d)) {
            let bytes = self.store.read(digest)?;
            if let Some(media_type) = Versioned::media_type_of(&bytes) {
                return Ok((digest.clone(), media_type, bytes));
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch_manifest_once(reference, expected) {
                Err(ManifestError::Broken(e)) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::debug!("{e}; fetching the manifest again");
                    std::thread::sleep(super::transport::backoff(attempt - 1));
                }
                Err(ManifestError::Broken(e) | ManifestError::Final(e)) => return Err(e),
                Ok(found) => return Ok(found),
            }
        }
    }

    fn fetch_manifest_once(
        &self,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<(Digest, String, Vec<u8>), ManifestError> {
        let url = self.client.api_url(
            self.registry,
            &format!("{}/manifests/{reference}", self.repository),
        )?;
        let call = Call::new(self.registry, &self.scopes, Method::GET, url.clone())
            .header("Accept", mediatype::MANIFEST_ACCEPT.join(", "));
        let response = self.client.send(&call, &[StatusCode::OK])?;
        let served_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let claimed = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let mut bytes = Vec::new();
        response
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                ManifestError::Broken(self.protocol(format!("reading manifest {reference}: {e}")))
            })?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(ManifestError::Final(self.protocol(format!(
                "manifest {reference} is larger than {MAX_MANIFEST} bytes"
            ))));
        }
        let digest = Digest::of(&bytes);
        if let Some(wanted) = expected.or(claimed.as_ref())
            && wanted != &digest
        {
            return Err(ManifestError::Broken(self.protocol(format!(
                "manifest {reference} has digest {digest}, expected {wanted}"
            ))));
        }
        // The manifest's own field wins; OCI made it optional, so the served
        // type comes next, and the manifest's shape last.
        let declared = serde_json::from_slice::<Versioned>(&bytes)
            .ok()
            .and_then(|v| v.media_type);
        let served = served_type.filter(|t| mediatype::MANIFEST_ACCEPT.contains(&t.as_str()));
        let media_type = declared
            .or(served)
            .or_else(|| Versioned::media_type_of(&bytes))
            .unwrap_or_else(|| mediatype::OCI_MANIFEST.to_string());
        self.store.put_bytes(&bytes).map_err(RegistryError::from)?;
        Ok((digest, media_type, bytes))
    }

    fn choose_platform(
        &self,
        digest: &Digest,
        bytes: &[u8],
        wanted: &Platform,
    ) -> Result<Descriptor, RegistryError> {
        let index: Index = serde_json::from_slice(bytes)
            .map_err(|e| self.protocol(format!("index {digest} is not valid: {e}")))?;
        let fits = |d: &&Descriptor, exact: bool| {
            d.platform.as_ref().is_some_and(|p| {
                p.os == wanted.os
                    && p.architecture == wanted.architecture
                    && (wanted.variant.is_none()
                        || p.variant == wanted.variant
                        || (!exact && p.variant.is_none()))
            })
        };
        let candidates = || {
            index
                .manifests
                .iter()
                .filter(|d| mediatype::is_manifest(&d.media_type))
        };
        candidates()
            .find(|d| fits(d, true))
            .or_else(|| candidates().find(|d| fits(d, false)))
            .cloned()
            .ok_or_else(|| {
                let offered: Vec<String> = candidates()
                    .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
                    .collect();
                self.protocol(format!(
                    "index {digest} has no image for {wanted} (it has: {})",
                    offered.join(", ")
                ))
            })
    }

    fn fetch_blobs(&self, blobs: &[Descriptor]) -> Result<(), RegistryError> {
        for_each_parallel(blobs, PARALLEL_DOWNLOADS, |blob| self.fetch_blob(blob))
    }

    /// `GET /v2/<name>/blobs/<digest>` into the store, unless it is there.
    fn fetch_blob(&self, blob: &Descriptor) -> Result<(), RegistryError> {
        self.client
            .record
            .note(self.registry, self.repository, &blob.digest);
        if self.store.contains(&blob.digest) {
            return Ok(());
        }
        let url = self.client.api_url(
            self.registry,
            &format!("{}/blobs/{}", self.repository, blob.digest),
        )?;
        let mut attempt = 0;
        loop {
            let call = Call::new(self.registry, &self.scopes, Method::GET, url.clone());
            let response = self.client.send(&call, &[StatusCode::OK])?;
            let what = format!("blob {} from {}", blob.digest, self.registry);
            attempt += 1;
            match self
                .store
                .put_reader(response, Some((&blob.digest, blob.size)), &what)
            {
                Ok(_) => return Ok(()),
                // A body that broke off or came short is fetched again;
                // wrong content of the right size is not.
                Err(
                    crate::store::StoreError::Io { .. }
                    | crate::store::StoreError::SizeMismatch { .. },
                ) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::debug!("download of {} broke off, retrying", blob.digest);
                    std::thread::sleep(super::transport::backoff(attempt - 1));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
