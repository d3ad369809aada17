//! Sending requests: authentication, retries with backoff, redirects.
//!
//! Transient failures (connection errors, 5xx, 429) are retried a bounded
//! number of times within a bounded time, honouring `Retry-After`. Requests
//! whose body is a file are not retried here: the upload step restarts them
//! from a fresh upload session instead. Redirects are followed by hand for
//! GET and HEAD, and the `Authorization` header is only ever sent to the
//! registry's own origin (blob downloads are often redirected to storage
//! that must not see registry credentials).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, LOCATION, RETRY_AFTER};
use url::Url;

use super::client::Client;
use super::error::RegistryError;
use super::location;

const MAX_ATTEMPTS: u32 = 5;
/// Retrying stops once this much time has passed since the first try.
const RETRY_BUDGET: Duration = Duration::from_secs(120);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: u32 = 5;

/// What a request sends.
pub(crate) enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// `len` bytes of a file from `offset`, streamed (reopened on replay).
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

/// One request to a registry, rebuilt for every try.
pub(crate) struct Call<'a> {
    /// The registry's API host, which names it in errors and owns the origin
    /// credentials may be sent to.
    pub registry: &'a str,
    pub scopes: &'a [String],
    pub method: reqwest::Method,
    pub url: Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Call<'_> {
    pub fn new<'a>(
        registry: &'a str,
        scopes: &'a [String],
        method: reqwest::Method,
        url: Url,
    ) -> Call<'a> {
        Call {
            registry,
            scopes,
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
}

pub(crate) fn backoff(attempt: u32) -> Duration {
    (Duration::from_millis(250) * 2u32.pow(attempt)).min(MAX_BACKOFF)
}

/// `Retry-After` in seconds (the HTTP-date form is treated as absent).
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl Client {
    /// Sends `call`, authenticating and replaying once on 401, following
    /// redirects of GET and HEAD, and retrying transient failures when the
    /// body can be sent again. The caller judges the final status.
    pub(crate) fn execute(&self, call: &Call) -> Result<Response, RegistryError> {
        let origin = self.base_url(call.registry)?;
        let method = call.method.as_str();
        let follows = matches!(call.method, reqwest::Method::GET | reqwest::Method::HEAD);
        let mut url = call.url.clone();
        let mut replayed = false;
        let mut redirects = 0;
        loop {
            let trusted = location::same_origin(&url, &origin);
            let authorization = if trusted {
                self.authorization(call.registry, call.scopes)?
            } else {
                None
            };
            let build = || self.build(call, &url, authorization.as_deref());
            let response = if matches!(call.body, Body::File { .. }) {
                self.send_once(call.registry, method, &url, &build)?
            } else {
                self.send_retrying(call.registry, method, &url, &build)?
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && trusted && !replayed {
                replayed = true;
                self.unauthorized(call.registry, call.scopes, response.headers());
                continue;
            }
            if status.is_redirection() && follows && redirects < MAX_REDIRECTS {
                let target = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| location::resolve(&url, v));
                if let Some(target) = target {
                    url = target;
                    redirects += 1;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    fn build(
        &self,
        call: &Call,
        url: &Url,
        authorization: Option<&str>,
    ) -> Result<RequestBuilder, RegistryError> {
        let mut request = self.http.request(call.method.clone(), url.clone());
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        Ok(match &call.body {
            Body::Empty => request,
            Body::Bytes(bytes) => request
                .timeout(self.upload_timeout(bytes.len() as u64))
                .body(bytes.clone()),
            Body::File { path, offset, len } => {
                let io = |source| RegistryError::Io {
                    path: path.clone(),
                    source,
                };
                let mut file = File::open(path).map_err(io)?;
                file.seek(SeekFrom::Start(*offset)).map_err(io)?;
                let body = match &self.reporter {
                    Some(reporter) => {
                        let hex = path
                            .file_name()
                            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                        let id = crate::progress::upload_id(&hex);
                        let counted = crate::progress::CountingReader::new(
                            file.take(*len),
                            reporter.clone(),
                            id,
                        );
                        reqwest::blocking::Body::sized(counted, *len)
                    }
                    None => reqwest::blocking::Body::sized(file.take(*len), *len),
                };
                request.timeout(self.upload_timeout(*len)).body(body)
            }
        })
    }

    fn send_once(
        &self,
        registry: &str,
        method: &str,
        url: &Url,
        build: &dyn Fn() -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let response = build()?.send().map_err(|source| RegistryError::Connect {
            registry: registry.to_string(),
            method: method.to_string(),
            path: location::path_of(url).to_string(),
            source: source.without_url(),
        })?;
        self.observe(method, url, response.status().as_u16());
        Ok(response)
    }

    /// Sends a replayable request, retrying transient failures.
    pub(crate) fn send_retrying(
        &self,
        registry: &str,
        method: &str,
        url: &Url,
        build: &dyn Fn() -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let result = self.send_once(registry, method, url, build);
            let last = attempt + 1 >= MAX_ATTEMPTS || started.elapsed() >= RETRY_BUDGET;
            let wait = match &result {
                Err(e) if e.is_retryable() && !last => backoff(attempt),
                Ok(response)
                    if !last
                        && (response.status().is_server_error()
                            || response.status() == StatusCode::TOO_MANY_REQUESTS) =>
                {
                    retry_after(response)
                        .unwrap_or(backoff(attempt))
                        .min(MAX_BACKOFF)
                }
                _ => return result,
            };
            tracing::debug!(
                "{method} {} to {registry} failed, retrying in {wait:?}",
                url.path()
            );
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// Sends `call` and checks that the status is one of `expected`.
    pub(crate) fn send(
        &self,
        call: &Call,
        expected: &[StatusCode],
    ) -> Result<Response, RegistryError> {
        let response = self.execute(call)?;
        self.expect(
            call.registry,
            call.method.as_str(),
            &call.url,
            response,
            expected,
        )
    }

    /// Turns a response whose status is not one of `expected` into an error
    /// naming the request, the status and the registry's own explanation.
    pub(crate) fn expect(
        &self,
        registry: &str,
        method: &str,
        url: &Url,
        response: Response,
        expected: &[StatusCode],
    ) -> Result<Response, RegistryError> {
        let status = response.status();
        if expected.contains(&status) {
            return Ok(response);
        }
        let mut detail = String::new();
        let mut body = Vec::new();
        let _ = response.take(16 * 1024).read_to_end(&mut body);
        if let Some(explained) = registry_errors(&body) {
            detail.push_str(": ");
            detail.push_str(&explained);
        }
        if status == StatusCode::UNAUTHORIZED {
            detail.push_str(if self.has_credentials(registry) {
                " (the credentials for this registry were refused)"
            } else {
                " (no credentials found for this registry)"
            });
        }
        Err(RegistryError::Status {
            registry: registry.to_string(),
            method: method.to_string(),
            path: location::path_of(url).to_string(),
            status,
            detail,
        })
    }
}

/// The `errors` array of a distribution API error body, as `CODE message`.
fn registry_errors(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let parsed: Errors = serde_json::from_slice(body).ok()?;
    let text: Vec<String> = parsed
        .errors
        .iter()
        .map(|e| {
            format!("{} {}", e.code, e.message)
                .trim()
                .replace('\n', " ")
        })
        .collect();
    (!text.is_empty()).then(|| text.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) < backoff(1));
        assert_eq!(backoff(20), MAX_BACKOFF);
    }

    #[test]
    fn registry_error_bodies_are_summarised() {
        let body = br#"{"errors":[{"code":"DENIED","message":"no\npush"},{"code":"X"}]}"#;
        assert_eq!(registry_errors(body).unwrap(), "DENIED no push; X");
        assert!(registry_errors(b"<html>").is_none());
    }
}
