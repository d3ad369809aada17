//! HTTP access to an npm registry: packuments and tarballs.
//!
//! Requests that fail with a connection error, a time-out, HTTP 429 or a 5xx
//! status are retried a bounded number of times with growing pauses. A
//! tarball is streamed to a temporary file while its hash is computed; a
//! hash that differs from the expected integrity is final, never retried.

use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use url::Url;

use super::config::{ConfigError, Credential, NpmConfig};
use super::integrity::Integrity;
use super::packument::Packument;

/// The abbreviated packument, with the full one as a fallback for
/// registries that do not serve it.
const PACKUMENT_ACCEPT: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("GET {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("GET {url}: the registry answered {status}")]
    Status { url: String, status: StatusCode },
    #[error("GET {url}: not a packument: {source}")]
    Json {
        url: String,
        source: serde_json::Error,
    },
    #[error("GET {url}: reading the body: {source}")]
    Body { url: String, source: io::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("tarball {url} does not match its integrity: expected {expected}, got {actual}")]
    Mismatch {
        url: String,
        expected: Integrity,
        actual: String,
    },
    #[error("packument of '{0}' cannot be addressed on the registry")]
    Name(String),
}

impl RegistryError {
    /// Worth another try: the network or the server, not the request.
    fn is_transient(&self) -> bool {
        match self {
            RegistryError::Http { source, .. } => {
                source.is_connect()
                    || source.is_timeout()
                    || source.is_request()
                    || source.is_body()
            }
            RegistryError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            RegistryError::Body { .. } => true,
            _ => false,
        }
    }
}

/// How often and how patiently to retry.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_pause: Duration,
    pub max_pause: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_pause: Duration::from_millis(500),
            max_pause: Duration::from_secs(8),
        }
    }
}

/// A registry client bound to one npm configuration.
#[derive(Clone, Debug)]
pub struct NpmClient {
    config: NpmConfig,
    http: Client,
    retry: RetryPolicy,
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A URL for messages: no user name, password or query.
pub(crate) fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.to_string()
}

impl NpmClient {
    pub fn new(config: NpmConfig) -> Result<Self, RegistryError> {
        let http = Client::builder()
            .user_agent(concat!("jib-image/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            // Applies to each read, so a large tarball may take its time.
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|source| RegistryError::Http {
                url: "(client setup)".into(),
                source,
            })?;
        Ok(NpmClient {
            config,
            http,
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn config(&self) -> &NpmConfig {
        &self.config
    }

    /// The packument URL: the registry, then the name with its `/` encoded.
    pub fn packument_url(&self, package: &str) -> Result<Url, RegistryError> {
        let registry = self.config.registry_for(package)?;
        registry
            .join(&package.replace('/', "%2f"))
            .map_err(|_| RegistryError::Name(package.to_string()))
    }

    /// The conventional tarball URL (`REGISTRY/NAME/-/BASENAME-VERSION.tgz`),
    /// used when a lock pins a version and no packument was read.
    pub fn tarball_url(&self, package: &str, version: &str) -> Result<Url, RegistryError> {
        let registry = self.config.registry_for(package)?;
        let base = package.rsplit('/').next().unwrap_or(package);
        registry
            .join(&format!("{package}/-/{base}-{version}.tgz"))
            .map_err(|_| RegistryError::Name(package.to_string()))
    }

    /// Where to download a package: the packument's `dist.tarball` when it
    /// lies on the configured registry's host, else the conventional URL on
    /// that registry. Tarballs are thus only ever fetched from the registry
    /// the user configured, which is also where its credential goes.
    pub fn tarball_url_for(
        &self,
        package: &str,
        version: &str,
        listed: Option<&Url>,
    ) -> Result<Url, RegistryError> {
        let registry = self.config.registry_for(package)?;
        match listed {
            Some(url) if same_origin(url, registry) => Ok(url.clone()),
            _ => self.tarball_url(package, version),
        }
    }

    pub fn packument(&self, package: &str) -> Result<Packument, RegistryError> {
        let url = self.packument_url(package)?;
        tracing::debug!(url = %shown(&url), "fetching packument");
        self.retrying(|| {
            let request = self.http.get(url.clone()).header(ACCEPT, PACKUMENT_ACCEPT);
            let response = self.send(request, &url)?;
            let mut body = Vec::new();
            response
                .take(256 << 20)
                .read_to_end(&mut body)
                .map_err(|source| RegistryError::Body {
                    url: shown(&url),
                    source,
                })?;
            serde_json::from_slice(&body).map_err(|source| RegistryError::Json {
                url: shown(&url),
                source,
            })
        })
    }

    /// Streams the tarball at `url` into a new temporary file in `dir` and
    /// returns it once its content matches `integrity`.
    pub fn download(
        &self,
        url: &Url,
        integrity: &Integrity,
        dir: &Path,
    ) -> Result<tempfile::NamedTempFile, RegistryError> {
        tracing::info!(url = %shown(url), "downloading npm tarball");
        self.retrying(|| self.download_once(url, integrity, dir))
    }

    fn download_once(
        &self,
        url: &Url,
        integrity: &Integrity,
        dir: &Path,
    ) -> Result<tempfile::NamedTempFile, RegistryError> {
        let io_err = |source| RegistryError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(io_err)?;
        let file = temp.reopen().map_err(io_err)?;
        let mut response = self.send(self.http.get(url.clone()), url)?;
        let mut checker = integrity.checker(BufWriter::with_capacity(1 << 20, file));
        io::copy(&mut response, &mut checker).map_err(|source| RegistryError::Body {
            url: shown(url),
            source,
        })?;
        let (buffered, actual) = checker.finish();
        let file: File = buffered.into_inner().map_err(|e| io_err(e.into_error()))?;
        if !integrity.matches(&actual) {
            return Err(RegistryError::Mismatch {
                url: shown(url),
                expected: integrity.clone(),
                actual: integrity.format_hash(&actual),
            });
        }
        file.sync_all().map_err(io_err)?;
        Ok(temp)
    }

    /// Sends a request with the credential configured for its URL, if any.
    fn send(&self, mut request: RequestBuilder, url: &Url) -> Result<Response, RegistryError> {
        if let Some(credential) = self.config.credential_for(url)? {
            let value = match credential {
                Credential::Token(token) => format!("Bearer {}", token.expose()),
                Credential::Basic(auth) => format!("Basic {}", auth.expose()),
                Credential::Unresolved { .. } => unreachable!("credential_for reports these"),
            };
            let mut header = HeaderValue::from_str(&value)
                .map_err(|_| RegistryError::Name(format!("credential for {}", shown(url))))?;
            header.set_sensitive(true);
            request = request.header(AUTHORIZATION, header);
        }
        let response = request.send().map_err(|source| RegistryError::Http {
            url: shown(url),
            source: source.without_url(),
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(RegistryError::Status {
                url: shown(url),
                status,
            });
        }
        Ok(response)
    }

    fn retrying<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut pause = self.retry.first_pause;
        for number in 1.. {
            match attempt() {
                Err(err) if err.is_transient() && number < self.retry.attempts => {
                    tracing::warn!("{err}; retrying in {pause:?}");
                    thread::sleep(pause);
                    pause = (pause * 2).min(self.retry.max_pause);
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on the last attempt")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> NpmClient {
        let config = NpmConfig::with_registry("http://127.0.0.1:4873/npm".parse().unwrap());
        NpmClient::new(config).unwrap()
    }

    #[test]
    fn urls_follow_the_registry_layout() {
        let client = client();
        let packument = client.packument_url("@scope/tool").unwrap();
        assert_eq!(
            packument.as_str(),
            "http://127.0.0.1:4873/npm/@scope%2ftool"
        );
        let tarball = client.tarball_url("@scope/tool", "1.2.3").unwrap();
        assert_eq!(
            tarball.as_str(),
            "http://127.0.0.1:4873/npm/@scope/tool/-/tool-1.2.3.tgz"
        );
    }

    #[test]
    fn tarballs_come_only_from_the_configured_registry() {
        let client = client();
        let same: Url = "http://127.0.0.1:4873/files/tool-1.0.0.tgz"
            .parse()
            .unwrap();
        let chosen = client
            .tarball_url_for("tool", "1.0.0", Some(&same))
            .unwrap();
        assert_eq!(chosen, same);
        let elsewhere: Url = "http://127.0.0.2:4873/tool/-/tool-1.0.0.tgz"
            .parse()
            .unwrap();
        let chosen = client
            .tarball_url_for("tool", "1.0.0", Some(&elsewhere))
            .unwrap();
        assert_eq!(
            chosen.as_str(),
            "http://127.0.0.1:4873/npm/tool/-/tool-1.0.0.tgz"
        );
    }
}
