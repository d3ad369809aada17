//! Authenticating to a registry: anonymous, Basic, or Bearer tokens.
//!
//! The first request to a registry is a `GET /v2/` whose `WWW-Authenticate`
//! challenge says which scheme the registry wants. For Bearer, a token is
//! fetched from the challenge's realm for the scopes a step needs
//! (`repository:NAME:pull,push` to push, plus `repository:SOURCE:pull` to
//! mount from another repository) and reused until it expires. When a token
//! is refused anyway (it expired during a long push), it is dropped and the
//! request replayed once with a fresh one (see `transport`).

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use serde::Deserialize;

use super::challenge::{Challenge, parse_challenges};
use super::client::Client;
use super::credentials::Credentials;
use super::error::RegistryError;

/// Tokens without `expires_in` last this long (the distribution token spec).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;
/// Tokens are renewed this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// What is known about one registry's authentication.
#[derive(Default)]
pub struct RegistryAuth {
    /// `None` until probed; `Some(None)` when the registry needs no auth.
    challenge: Option<Option<Challenge>>,
    credentials: Option<Option<Credentials>>,
    /// Bearer tokens by their space-joined scopes.
    tokens: HashMap<String, Token>,
}

struct Token {
    value: String,
    expires: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Deserialize)]
struct TokenReply {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The scope to push to (and pull from) a repository.
pub fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

fn basic_header(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

/// The challenge this client can answer: Bearer first, then Basic.
fn usable(challenges: Vec<Challenge>) -> Option<Challenge> {
    let mut challenges = challenges;
    challenges.sort_by_key(|c| c.scheme != "bearer");
    challenges
        .into_iter()
        .find(|c| c.scheme == "bearer" || c.scheme == "basic")
}

fn challenge_in(headers: &HeaderMap) -> Option<Challenge> {
    let all = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect();
    usable(all)
}

impl Client {
    /// The `Authorization` value for a request to `registry` needing `scopes`.
    pub(crate) fn authorization(
        &self,
        registry: &str,
        scopes: &[String],
    ) -> Result<Option<String>, RegistryError> {
        let known = self
            .lock_auth()
            .get(registry)
            .and_then(|a| a.challenge.clone());
        let challenge = match known {
            Some(challenge) => challenge,
            None => {
                let challenge = self.probe(registry)?;
                self.lock_auth()
                    .entry(registry.to_string())
                    .or_default()
                    .challenge = Some(challenge.clone());
                challenge
            }
        };
        let Some(challenge) = challenge else {
            return Ok(None);
        };
        let credentials = self.registry_credentials(registry)?;
        match (challenge.scheme.as_str(), &credentials) {
            ("basic", Some(Credentials::Basic { username, password })) => {
                Ok(Some(basic_header(username, password)))
            }
            ("basic", _) => Ok(None),
            _ => self
                .bearer(registry, &challenge, scopes, credentials.as_ref())
                .map(Some),
        }
    }

    /// Called on a 401: remembers the challenge it carried and forgets the
    /// token that was refused, so that the replay authenticates afresh.
    pub(crate) fn unauthorized(&self, registry: &str, scopes: &[String], headers: &HeaderMap) {
        let mut auth = self.lock_auth();
        let state = auth.entry(registry.to_string()).or_default();
        if let Some(challenge) = challenge_in(headers) {
            state.challenge = Some(Some(challenge));
        }
        state.tokens.remove(&scopes.join(" "));
    }

    /// Whether a request carrying credentials could have been refused for
    /// them (used to word errors).
    pub(crate) fn has_credentials(&self, registry: &str) -> bool {
        matches!(self.registry_credentials(registry), Ok(Some(_)))
    }

    fn lock_auth(&self) -> std::sync::MutexGuard<'_, HashMap<String, RegistryAuth>> {
        self.auth.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn registry_credentials(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(known) = self
            .lock_auth()
            .get(registry)
            .and_then(|a| a.credentials.clone())
        {
            return Ok(known);
        }
        let found = self.credentials(registry)?;
        self.lock_auth()
            .entry(registry.to_string())
            .or_default()
            .credentials = Some(found.clone());
        Ok(found)
    }

    /// `GET /v2/`: 200 means no authentication, 401 carries the challenge.
    fn probe(&self, registry: &str) -> Result<Option<Challenge>, RegistryError> {
        let url = self.api_url(registry, "")?;
        let response =
            self.send_retrying(registry, "GET", &url, &|| Ok(self.http.get(url.clone())))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Ok(challenge_in(response.headers()));
        }
        Ok(None)
    }

    fn bearer(
        &self,
        registry: &str,
        challenge: &Challenge,
        scopes: &[String],
        credentials: Option<&Credentials>,
    ) -> Result<String, RegistryError> {
        let key = scopes.join(" ");
        if let Some(token) = self
            .lock_auth()
            .get(registry)
            .and_then(|a| a.tokens.get(&key))
            && token.expires > Instant::now()
        {
            return Ok(format!("Bearer {}", token.value));
        }
        let token = self.fetch_token(registry, challenge, scopes, credentials)?;
        let header = format!("Bearer {}", token.value);
        self.lock_auth()
            .entry(registry.to_string())
            .or_default()
            .tokens
            .insert(key, token);
        Ok(header)
    }

    /// Asks the challenge's realm for a token (distribution token spec; an
    /// identity token is traded with the OAuth2 refresh-token grant).
    fn fetch_token(
        &self,
        registry: &str,
        challenge: &Challenge,
        scopes: &[String],
        credentials: Option<&Credentials>,
    ) -> Result<Token, RegistryError> {
        let realm_text = challenge.param("realm").unwrap_or_default();
        let fail = |what: String| RegistryError::Token {
            registry: registry.to_string(),
            realm: realm_text.to_string(),
            what,
        };
        let mut realm =
            url::Url::parse(realm_text).map_err(|e| fail(format!("invalid realm: {e}")))?;
        // Credentials go to the realm, so it must be as safe as the registry.
        if realm.scheme() != "https" && !(realm.scheme() == "http" && self.allows_http(&realm)) {
            return Err(fail(
                "refusing to send credentials to a realm that is not HTTPS".into(),
            ));
        }
        let service = challenge.param("service");
        if !matches!(credentials, Some(Credentials::IdentityToken(_))) {
            let mut query = realm.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        if realm.query() == Some("") {
            realm.set_query(None);
        }
        let request = || -> Result<reqwest::blocking::RequestBuilder, RegistryError> {
            Ok(match credentials {
                Some(Credentials::IdentityToken(refresh)) => {
                    let mut form = url::form_urlencoded::Serializer::new(String::new());
                    form.append_pair("grant_type", "refresh_token")
                        .append_pair("client_id", "jib-image")
                        .append_pair("refresh_token", refresh)
                        .append_pair("scope", &scopes.join(" "));
                    if let Some(service) = service {
                        form.append_pair("service", service);
                    }
                    self.http
                        .post(realm.clone())
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(form.finish())
                }
                Some(Credentials::Basic { username, password }) => self
                    .http
                    .get(realm.clone())
                    .header(AUTHORIZATION, basic_header(username, password)),
                None => self.http.get(realm.clone()),
            })
        };
        let method = if matches!(credentials, Some(Credentials::IdentityToken(_))) {
            "POST"
        } else {
            "GET"
        };
        let response = self.send_retrying(registry, method, &realm, &request)?;
        let status = response.status();
        if !status.is_success() {
            let hint = if credentials.is_some() {
                " (the credentials were refused)"
            } else {
                ""
            };
            return Err(fail(format!("{status}{hint}")));
        }
        let reply: TokenReply = response
            .json()
            .map_err(|_| fail("the reply is not token JSON".to_string()))?;
        let value = reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| fail("the reply holds no token".to_string()))?;
        let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME));
        Ok(Token {
            value,
            expires: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_is_preferred_over_basic() {
        let challenges = parse_challenges(r#"Basic realm="r", Bearer realm="https://a/t""#);
        assert_eq!(usable(challenges).unwrap().scheme, "bearer");
        assert!(usable(parse_challenges("Negotiate abc")).is_none());
    }

    #[test]
    fn token_debug_is_redacted() {
        let token = Token {
            value: "secret-token".into(),
            expires: Instant::now(),
        };
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
    }
}
