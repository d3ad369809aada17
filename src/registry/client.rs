//! The registry client: options, the HTTP client and per-registry state.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use super::auth::RegistryAuth;
use super::credentials::{CredentialSources, Credentials};
use super::error::RegistryError;
use super::record::BlobRecord;

/// How to reach registries. Clap-free, so every command can fill it from
/// its own flags.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Speak plain HTTP to every registry (loopback ones always use HTTP).
    pub insecure: bool,
    /// A PEM file of extra CA certificates, trusted beside the system roots.
    pub ca_cert: Option<PathBuf>,
    /// Explicit credentials; they win over every credentials file and are
    /// used for every registry this client talks to.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Where to look for stored credentials; the standard places when `None`.
    pub credential_sources: Option<CredentialSources>,
    /// The record of which repositories hold which blobs (for cross-repository
    /// mounts); `$XDG_CACHE_HOME/jib-image/registry-blobs.json` when `None`.
    pub blob_record: Option<PathBuf>,
    /// How long a request may wait for the registry's answer and for each
    /// read of a body ([`DEFAULT_TIMEOUT`] when `None`). Uploads get more
    /// time in proportion to their size.
    pub timeout: Option<Duration>,
}

/// A registry that neither answers nor sends anything for this long is
/// treated as failed, so that a stalled connection ends in a retry or an
/// error instead of a build that never finishes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The slowest upload rate waited for: a blob upload may take its size at
/// this rate on top of the timeout.
const MIN_UPLOAD_RATE: u64 = 64 * 1024;

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("insecure", &self.insecure)
            .field("ca_cert", &self.ca_cert)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("credential_sources", &self.credential_sources)
            .field("blob_record", &self.blob_record)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One finished HTTP exchange, as shown to an observer (tests count these).
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    /// Path and query of the request URL.
    pub target: String,
    pub status: u16,
}

type Observer = Arc<dyn Fn(&Exchange) + Send + Sync>;

/// A blocking client for the OCI distribution API; share it across threads.
pub struct Client {
    pub(crate) http: reqwest::blocking::Client,
    insecure: bool,
    explicit: Option<Credentials>,
    sources: CredentialSources,
    pub(crate) auth: Mutex<HashMap<String, RegistryAuth>>,
    pub(crate) record: BlobRecord,
    observer: Option<Observer>,
    timeout: Duration,
    /// Told how far each blob upload has got.
    pub(crate) reporter: Option<std::sync::Arc<dyn crate::progress::Reporter>>,
}

impl Client {
    pub fn new(options: &ClientOptions) -> Result<Self, RegistryError> {
        let timeout = options.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let mut builder = reqwest::blocking::Client::builder()
            .user_agent(concat!("jib-image/", env!("CARGO_PKG_VERSION")))
            // Redirects are followed by hand, so that credentials never
            // travel to another origin (see `transport`).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            // In the blocking client this bounds the wait for the response
            // head and each read of the body, not the whole download.
            .timeout(timeout);
        if let Some(path) = &options.ca_cert {
            builder = builder.tls_certs_merge(read_ca_certs(path)?);
        }
        let http = builder.build().map_err(RegistryError::Client)?;
        let explicit = match (&options.username, &options.password) {
            (Some(username), Some(password)) => Some(Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            }),
            _ => None,
        };
        let record_path = options.blob_record.clone().or_else(default_record_path);
        Ok(Client {
            http,
            insecure: options.insecure,
            explicit,
            sources: options
                .credential_sources
                .clone()
                .unwrap_or_else(CredentialSources::from_env),
            auth: Mutex::new(HashMap::new()),
            record: BlobRecord::load(record_path),
            observer: None,
            reporter: None,
            timeout,
        })
    }

    /// The time allowed for sending `len` bytes of a request body and
    /// hearing the answer.
    pub(crate) fn upload_timeout(&self, len: u64) -> Duration {
        self.timeout + Duration::from_secs(len / MIN_UPLOAD_RATE)
    }

    /// Calls `observer` after every HTTP exchange.
    pub fn with_observer(mut self, observer: impl Fn(&Exchange) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Reports the bytes of every blob upload to `reporter`.
    pub fn with_reporter(mut self, reporter: Arc<dyn crate::progress::Reporter>) -> Self {
        self.reporter = Some(reporter);
        self
    }

    pub(crate) fn observe(&self, method: &str, url: &Url, status: u16) {
        if let Some(observer) = &self.observer {
            let target = match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_string(),
            };
            observer(&Exchange {
                method: method.to_string(),
                target,
                status,
            });
        }
    }

    /// `http(s)://host/`: HTTPS unless the registry is on loopback or the
    /// client is insecure.
    pub(crate) fn base_url(&self, registry: &str) -> Result<Url, RegistryError> {
        let probe =
            Url::parse(&format!("http://{registry}/")).map_err(|e| RegistryError::Protocol {
                registry: registry.to_string(),
                what: format!("not a valid host: {e}"),
            })?;
        let scheme = if self.insecure || is_loopback(&probe) {
            "http"
        } else {
            "https"
        };
        Ok(Url::parse(&format!("{scheme}://{registry}/")).expect("host was checked above"))
    }

    pub(crate) fn allows_http(&self, url: &Url) -> bool {
        self.insecure || is_loopback(url)
    }

    pub(crate) fn credentials(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(explicit) = &self.explicit {
            return Ok(Some(explicit.clone()));
        }
        Ok(self.sources.lookup(registry)?)
    }

    /// `https://host/v2/<path>`.
    pub(crate) fn api_url(&self, registry: &str, path: &str) -> Result<Url, RegistryError> {
        let base = self.base_url(registry)?;
        base.join(&format!("v2/{path}"))
            .map_err(|e| RegistryError::Protocol {
                registry: registry.to_string(),
                what: format!("bad request path v2/{path}: {e}"),
            })
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn read_ca_certs(path: &PathBuf) -> Result<Vec<reqwest::Certificate>, RegistryError> {
    let pem = std::fs::read(path).map_err(|source| RegistryError::Io {
        path: path.clone(),
        source,
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| RegistryError::CaCert {
        path: path.clone(),
        what: e.to_string(),
    })?;
    if certs.is_empty() {
        return Err(RegistryError::CaCert {
            path: path.clone(),
            what: "no PEM certificate in it".to_string(),
        });
    }
    Ok(certs)
}

fn default_record_path() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(cache.join("jib-image/registry-blobs.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_use_http_and_others_https() {
        let client = Client::new(&ClientOptions {
            blob_record: Some(PathBuf::from("/nonexistent/record.json")),
            ..ClientOptions::default()
        })
        .unwrap();
        for (registry, scheme) in [
            ("localhost:5000", "http"),
            ("127.0.0.2:80", "http"),
            ("[::1]:5000", "http"),
            ("reg.test", "https"),
            ("10.0.0.1:5000", "https"),
        ] {
            assert_eq!(
                client.base_url(registry).unwrap().scheme(),
                scheme,
                "{registry}"
            );
        }
    }

    #[test]
    fn options_debug_hides_the_password() {
        let options = ClientOptions {
            username: Some("alice".into()),
            password: Some("hunter2".into()),
            ..ClientOptions::default()
        };
        let shown = format!("{options:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
