//! Pushing an image from an OCI layout (distribution spec, "Push").
//!
//! Order matters to registries that check references: layers first (in
//! parallel), then configs, then child manifests by digest, then the entry
//! itself by tag. Each blob is first checked with `HEAD` and skipped when
//! present; a blob known to sit in another repository of the same registry
//! is mounted from there; the rest are streamed from their files with a
//! monolithic upload (`POST` then one `PUT`), falling back to chunked
//! `PATCH`es when the registry refuses a single large body.

use std::path::Path;

use reqwest::{Method, StatusCode};
use url::Url;

use super::auth::{pull_scope, push_scope};
use super::client::Client;
use super::error::RegistryError;
use super::layout::{Layout, ManifestBlob, PushPlan};
use super::location;
use super::parallel::for_each_parallel;
use super::reference::Reference;
use super::transport::{Body, Call};
use crate::digest::Digest;
use crate::image::Descriptor;

/// Uploads running at once.
const PARALLEL_UPLOADS: usize = 4;
/// Whole-upload tries (each from a fresh upload session).
const UPLOAD_ATTEMPTS: u32 = 3;
/// Chunk size for the chunked fallback.
const CHUNK_SIZE: u64 = 16 << 20;

/// Where a blob push ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    Present,
    Mounted,
    Uploaded,
}

/// An upload that started: either the registry mounted the blob at once, or
/// it opened a session at this URL.
enum Started {
    Mounted,
    Session(Url),
}

/// Pushes the image (or index) that `ref_name` names in the layout at
/// `layout_dir` (or its only entry) to `target`, tagged with the target's
/// tag, or by digest when it has none. Returns the pushed manifest's digest.
pub fn push_layout(
    client: &Client,
    layout_dir: &Path,
    ref_name: Option<&str>,
    target: &Reference,
) -> Result<Digest, RegistryError> {
    let layout = Layout::open(layout_dir)?;
    let entry = layout.entry(ref_name)?;
    push_entry(client, &layout, &entry, target)
}

/// Pushes the image (or index) `top` whose blobs all live under
/// `blob_root/blobs/sha256/` (a blob store or a layout) to `target`.
pub fn push_image(
    client: &Client,
    blob_root: &Path,
    top: &Descriptor,
    target: &Reference,
) -> Result<Digest, RegistryError> {
    push_entry(client, &Layout::at(blob_root), top, target)
}

fn push_entry(
    client: &Client,
    layout: &Layout,
    entry: &Descriptor,
    target: &Reference,
) -> Result<Digest, RegistryError> {
    if let Some(digest) = &target.digest
        && digest != &entry.digest
    {
        return Err(RegistryError::Layout {
            path: layout.dir().to_path_buf(),
            what: format!(
                "the image is {}, not the target's digest {digest}",
                entry.digest
            ),
        });
    }
    let mut plan = PushPlan::default();
    layout.plan(entry, &mut plan)?;
    let pusher = Pusher::new(client, target);
    pusher.push_blobs(layout, &plan.layers)?;
    pusher.push_blobs(layout, &plan.configs)?;
    let (top, children) = plan.manifests.split_last().expect("a plan holds its entry");
    for child in children {
        pusher.put_manifest(child, &child.digest.to_string())?;
    }
    let reference = target.tag.clone().unwrap_or_else(|| top.digest.to_string());
    pusher.put_manifest(top, &reference)?;
    client.record.save();
    Ok(top.digest.clone())
}

struct Pusher<'a> {
    client: &'a Client,
    registry: &'a str,
    repository: &'a str,
    scopes: Vec<String>,
}

impl<'a> Pusher<'a> {
    fn new(client: &'a Client, target: &'a Reference) -> Self {
        Pusher {
            client,
            registry: target.api_host(),
            repository: &target.repository,
            scopes: vec![push_scope(&target.repository)],
        }
    }

    fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.client
            .api_url(self.registry, &format!("{}/{path}", self.repository))
    }

    /// Pushes `blobs` with a bounded number of threads; the first error wins.
    fn push_blobs(&self, layout: &Layout, blobs: &[Descriptor]) -> Result<(), RegistryError> {
        for_each_parallel(blobs, PARALLEL_UPLOADS, |blob| {
            self.push_blob(&layout.blob_path(&blob.digest), blob)
                .map(drop)
        })
    }

    fn push_blob(&self, path: &Path, blob: &Descriptor) -> Result<BlobOutcome, RegistryError> {
        let id = crate::progress::upload_id(blob.digest.hex());
        if let Some(reporter) = &self.client.reporter {
            let text = format!("pushing blob {}", short(&blob.digest));
            reporter.start(&id, &text, Some(blob.size));
        }
        let outcome = self.push_blob_steps(path, blob);
        if let Some(reporter) = &self.client.reporter {
            reporter.finish(&id);
        }
        let outcome = outcome?;
        tracing::debug!("blob {}: {outcome:?}", blob.digest);
        self.client
            .record
            .note(self.registry, self.repository, &blob.digest);
        Ok(outcome)
    }

    fn push_blob_steps(
        &self,
        path: &Path,
        blob: &Descriptor,
    ) -> Result<BlobOutcome, RegistryError> {
        if self.check_blob(&blob.digest)? {
            return Ok(BlobOutcome::Present);
        }
        let mut session = None;
        let sources = self
            .client
            .record
            .sources(self.registry, &blob.digest, self.repository);
        if let Some(source) = sources.first() {
            match self.start_upload(Some((&blob.digest, source)))? {
                Started::Mounted => return Ok(BlobOutcome::Mounted),
                Started::Session(url) => session = Some(url),
            }
        }
        let mut attempt = 0;
        loop {
            let url = match session.take() {
                Some(url) => url,
                None => self.new_session()?,
            };
            let result = match self.upload_blob(&url, path, blob) {
                Err(e) if refuses_single_body(&e) => {
                    let fresh = self.new_session()?;
                    self.upload_chunks(&fresh, path, blob)
                }
                other => other,
            };
            attempt += 1;
            match result {
                Ok(()) => return Ok(BlobOutcome::Uploaded),
                Err(e) if e.is_retryable() && attempt < UPLOAD_ATTEMPTS => {
                    tracing::debug!("upload of {} failed, restarting: {e}", blob.digest);
                    std::thread::sleep(super::transport::backoff(attempt));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `HEAD /v2/<name>/blobs/<digest>`: whether the registry has the blob.
    fn check_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"))?;
        let call = Call::new(self.registry, &self.scopes, Method::HEAD, url.clone());
        let ok = [StatusCode::OK, StatusCode::NOT_FOUND];
        let response = self.client.send(&call, &ok)?;
        Ok(response.status() == StatusCode::OK)
    }

    fn new_session(&self) -> Result<Url, RegistryError> {
        match self.start_upload(None)? {
            Started::Session(url) => Ok(url),
            Started::Mounted => Err(self.protocol("a plain upload request answered as a mount")),
        }
    }

    /// `POST /v2/<name>/blobs/uploads/`, with `?mount=&from=` to mount.
    fn start_upload(&self, mount: Option<(&Digest, &str)>) -> Result<Started, RegistryError> {
        let mut url = self.url("blobs/uploads/")?;
        let mut scopes = self.scopes.clone();
        if let Some((digest, source)) = mount {
            url.query_pairs_mut()
                .append_pair("mount", &digest.to_string())
                .append_pair("from", source);
            scopes.push(pull_scope(source));
        }
        let call = Call::new(self.registry, &scopes, Method::POST, url.clone())
            .header("Content-Length", "0");
        let expected = [StatusCode::CREATED, StatusCode::ACCEPTED];
        let response = self.client.send(&call, &expected)?;
        if response.status() == StatusCode::CREATED && mount.is_some() {
            return Ok(Started::Mounted);
        }
        self.location(&url, &response).map(Started::Session)
    }

    fn location(
        &self,
        request: &Url,
        response: &reqwest::blocking::Response,
    ) -> Result<Url, RegistryError> {
        let header = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.protocol("the upload response has no Location header"))?;
        location::resolve(request, header)
            .ok_or_else(|| self.protocol("the upload Location is not an HTTP URL"))
    }

    /// Monolithic upload: one `PUT <session>?digest=` with the whole blob.
    fn upload_blob(
        &self,
        session: &Url,
        path: &Path,
        blob: &Descriptor,
    ) -> Result<(), RegistryError> {
        let url = location::with_digest(session, &blob.digest);
        let body = Body::File {
            path: path.to_path_buf(),
            offset: 0,
            len: blob.size,
        };
        let call = Call::new(self.registry, &self.scopes, Method::PUT, url.clone())
            .header("Content-Type", "application/octet-stream")
            .body(body);
        let response = self.client.send(&call, &[StatusCode::CREATED])?;
        self.check_digest_header(&response, &blob.digest)
    }

    /// Chunked upload: `PATCH`es with `Content-Range`, then an empty `PUT`.
    fn upload_chunks(
        &self,
        session: &Url,
        path: &Path,
        blob: &Descriptor,
    ) -> Result<(), RegistryError> {
        let mut url = session.clone();
        let mut offset = 0;
        while offset < blob.size {
            let len = CHUNK_SIZE.min(blob.size - offset);
            let body = Body::File {
                path: path.to_path_buf(),
                offset,
                len,
            };
            let call = Call::new(self.registry, &self.scopes, Method::PATCH, url.clone())
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", format!("{offset}-{}", offset + len - 1))
                .body(body);
            let response = self.client.send(&call, &[StatusCode::ACCEPTED])?;
            url = self.location(&url, &response)?;
            offset += len;
        }
        let url = location::with_digest(&url, &blob.digest);
        let call = Call::new(self.registry, &self.scopes, Method::PUT, url.clone())
            .header("Content-Length", "0");
        let response = self.client.send(&call, &[StatusCode::CREATED])?;
        self.check_digest_header(&response, &blob.digest)
    }

    /// `PUT /v2/<name>/manifests/<reference>` with the manifest's own type.
    fn put_manifest(&self, manifest: &ManifestBlob, reference: &str) -> Result<(), RegistryError> {
        let url = self.url(&format!("manifests/{reference}"))?;
        let call = Call::new(self.registry, &self.scopes, Method::PUT, url.clone())
            .header("Content-Type", manifest.media_type.clone())
            .body(Body::Bytes(manifest.bytes.clone()));
        let response = self.client.send(&call, &[StatusCode::CREATED])?;
        self.check_digest_header(&response, &manifest.digest)
    }

    /// A registry that names a digest must name ours.
    fn check_digest_header(
        &self,
        response: &reqwest::blocking::Response,
        expected: &Digest,
    ) -> Result<(), RegistryError> {
        let Some(value) = response.headers().get("Docker-Content-Digest") else {
            return Ok(());
        };
        let given = value.to_str().unwrap_or_default();
        if given == expected.to_string() {
            return Ok(());
        }
        Err(self.protocol(&format!("it stored {given} where {expected} was sent")))
    }

    fn protocol(&self, what: &str) -> RegistryError {
        RegistryError::Protocol {
            registry: self.registry.to_string(),
            what: what.to_string(),
        }
    }
}

/// Statuses with which registries refuse one large body but may accept it
/// in chunks.
fn refuses_single_body(error: &RegistryError) -> bool {
    matches!(
        error.status(),
        Some(
            StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::LENGTH_REQUIRED
                | StatusCode::NOT_IMPLEMENTED
        )
    )
}

/// `sha256:0123456789ab`: enough of a digest to tell blobs apart on screen.
fn short(digest: &Digest) -> String {
    format!("{}:{}", digest.algorithm(), &digest.hex()[..12])
}
