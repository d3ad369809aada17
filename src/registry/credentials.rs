//! Finding registry credentials the way Docker and Podman store them.
//!
//! Sources, first match wins: `$DOCKER_CONFIG/config.json` (or
//! `~/.docker/config.json`), `$REGISTRY_AUTH_FILE`, then
//! `$XDG_RUNTIME_DIR/containers/auth.json`. In each file a `credHelpers`
//! entry for the registry comes first, then an `auths` entry holding a
//! secret, then the default `credsStore`. Explicit credentials given to the
//! client override all of these (see [`super::Client`]).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use super::reference::DOCKER_HUB;

/// The key Docker uses for Docker Hub in credential files and helpers.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A secret for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), traded at the token realm.
    IdentityToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("reading credentials file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("credentials file {path} is not valid JSON: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "credentials file {path}: entry '{key}' has an 'auth' value that is not base64 'user:password'"
    )]
    Auth { path: PathBuf, key: String },
    #[error("credential helper docker-credential-{helper} for {registry}: {reason}")]
    Helper {
        helper: String,
        registry: String,
        reason: String,
    },
}

/// Where to look for credentials.
#[derive(Clone, Debug, Default)]
pub struct CredentialSources {
    /// Files in the Docker `config.json` / containers `auth.json` format.
    pub files: Vec<PathBuf>,
    /// The `PATH` used to find `docker-credential-*` helpers; the process
    /// `PATH` when `None`.
    pub helper_path: Option<OsString>,
}

impl CredentialSources {
    /// The standard locations, read from the environment.
    pub fn from_env() -> Self {
        let mut files = Vec::new();
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
            files.push(PathBuf::from(dir).join("config.json"));
        } else if let Some(home) = std::env::var_os("HOME") {
            files.push(PathBuf::from(home).join(".docker/config.json"));
        }
        if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE") {
            files.push(PathBuf::from(file));
        }
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
            files.push(PathBuf::from(dir).join("containers/auth.json"));
        }
        CredentialSources {
            files,
            helper_path: None,
        }
    }

    /// Credentials for `registry` (as written in references, e.g.
    /// `docker.io` or `host:port`), or `None` when no source has any.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>, CredentialError> {
        for path in &self.files {
            let Some(config) = ConfigFile::load(path)? else {
                continue;
            };
            if let Some(credentials) = config.lookup(path, registry, self)? {
                return Ok(Some(credentials));
            }
        }
        Ok(None)
    }
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

/// The registry host a credentials key names: keys are written as `host`,
/// `host:port`, `https://host/`, `http://host:port/v2/` and so on.
fn key_host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// Whether a credentials key names `registry`; Docker Hub goes by several names.
fn key_matches(key: &str, registry: &str) -> bool {
    let host = key_host(key);
    let hub = |h: &str| matches!(h, "docker.io" | "index.docker.io" | "registry-1.docker.io");
    host == registry || (registry == DOCKER_HUB && hub(host))
}

/// The server URL helpers are asked about.
fn helper_server(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_KEY
    } else {
        registry
    }
}

impl ConfigFile {
    fn load(path: &Path) -> Result<Option<ConfigFile>, CredentialError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CredentialError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| CredentialError::Parse {
                path: path.to_path_buf(),
                source,
            })
    }

    fn lookup(
        &self,
        path: &Path,
        registry: &str,
        sources: &CredentialSources,
    ) -> Result<Option<Credentials>, CredentialError> {
        if let Some((_, helper)) = self
            .cred_helpers
            .iter()
            .find(|(k, _)| key_matches(k, registry))
        {
            return run_helper(helper, registry, sources);
        }
        for (key, entry) in &self.auths {
            if key_matches(key, registry)
                && let Some(credentials) = entry.credentials(path, key)?
            {
                return Ok(Some(credentials));
            }
        }
        match &self.creds_store {
            Some(store) => run_helper(store, registry, sources),
            None => Ok(None),
        }
    }
}

impl AuthEntry {
    fn credentials(&self, path: &Path, key: &str) -> Result<Option<Credentials>, CredentialError> {
        if let Some(token) = self.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::IdentityToken(token.clone())));
        }
        if let Some(auth) = self.auth.as_ref().filter(|a| !a.is_empty()) {
            let bad = || CredentialError::Auth {
                path: path.to_path_buf(),
                key: key.to_string(),
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad())?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credentials::Basic {
                username: username.to_string(),
                password: password.to_string(),
            }));
        }
        match (&self.username, &self.password) {
            (Some(username), Some(password)) if !username.is_empty() => {
                Ok(Some(Credentials::Basic {
                    username: username.clone(),
                    password: password.clone(),
                }))
            }
            _ => Ok(None),
        }
    }
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Runs `docker-credential-NAME get` with the server URL on stdin (the
/// Docker credential helper protocol).
fn run_helper(
    name: &str,
    registry: &str,
    sources: &CredentialSources,
) -> Result<Option<Credentials>, CredentialError> {
    let fail = |reason: String| CredentialError::Helper {
        helper: name.to_string(),
        registry: registry.to_string(),
        reason,
    };
    let program = format!("docker-credential-{name}");
    let program = match &sources.helper_path {
        Some(path) => std::env::split_paths(path)
            .map(|dir| dir.join(&program))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| fail("not found on the helper search path".to_string()))?,
        None => PathBuf::from(program),
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(helper_server(registry).as_bytes())
            .map_err(|e| fail(format!("writing its input: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for it: {e}")))?;
    if !output.status.success() {
        // Helpers say "credentials not found" on stdout when they have none.
        let said = String::from_utf8_lossy(&output.stdout).to_lowercase();
        if said.contains("not found") {
            return Ok(None);
        }
        return Err(fail(format!("it exited with {}", output.status)));
    }
    let reply: HelperReply = serde_json::from_slice(&output.stdout)
        .map_err(|_| fail("its output is not the expected JSON".to_string()))?;
    // Helpers report identity tokens under this conventional user name.
    if reply.username == "<token>" {
        return Ok(Some(Credentials::IdentityToken(reply.secret)));
    }
    Ok(Some(Credentials::Basic {
        username: reply.username,
        password: reply.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources_with(json: &str) -> (tempfile::TempDir, CredentialSources) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        let sources = CredentialSources {
            files: vec![path],
            helper_path: Some(dir.path().as_os_str().to_owned()),
        };
        (dir, sources)
    }

    fn basic(user: &str, pass: &str) -> Option<Credentials> {
        Some(Credentials::Basic {
            username: user.into(),
            password: pass.into(),
        })
    }

    #[test]
    fn every_common_key_spelling_matches() {
        let auth = base64::engine::general_purpose::STANDARD.encode("u:p:with:colons");
        for key in [
            "reg.test:5000",
            "https://reg.test:5000",
            "https://reg.test:5000/",
            "http://reg.test:5000/v2/",
            "reg.test:5000/v1/",
        ] {
            let json = format!(r#"{{"auths": {{"{key}": {{"auth": "{auth}"}}}}}}"#);
            let (_dir, sources) = sources_with(&json);
            assert_eq!(
                sources.lookup("reg.test:5000").unwrap(),
                basic("u", "p:with:colons"),
                "{key}"
            );
            assert_eq!(sources.lookup("reg.test").unwrap(), None, "{key}");
        }
    }

    #[test]
    fn docker_hub_keys_and_other_entry_forms() {
        let json = r#"{"auths": {
            "https://index.docker.io/v1/": {"username": "hub", "password": "pw"},
            "tok.test": {"identitytoken": "refresh"},
            "empty.test": {}
        }}"#;
        let (_dir, sources) = sources_with(json);
        assert_eq!(sources.lookup("docker.io").unwrap(), basic("hub", "pw"));
        assert_eq!(
            sources.lookup("tok.test").unwrap(),
            Some(Credentials::IdentityToken("refresh".into()))
        );
        assert_eq!(sources.lookup("empty.test").unwrap(), None);
    }

    #[test]
    fn bad_auth_value_is_reported_without_its_content() {
        let (_dir, sources) =
            sources_with(r#"{"auths": {"r.test": {"auth": "bm90LXNlY3JldA=="}}}"#);
        let err = sources.lookup("r.test").unwrap_err().to_string();
        assert!(err.contains("r.test") && !err.contains("bm90"), "{err}");
    }

    #[test]
    fn credential_helper_is_asked_with_the_server_on_stdin() {
        let json = r#"{"credHelpers": {"helped.test": "fake"}, "credsStore": "none-such"}"#;
        let (dir, sources) = sources_with(json);
        let script = dir.path().join("docker-credential-fake");
        std::fs::write(
            &script,
            "#!/bin/sh\nread server\n[ \"$1\" = get ] && [ \"$server\" = helped.test ] || exit 1\n\
             echo '{\"ServerURL\":\"helped.test\",\"Username\":\"hu\",\"Secret\":\"hs\"}'\n",
        )
        .unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        assert_eq!(sources.lookup("helped.test").unwrap(), basic("hu", "hs"));
        // Other registries fall to the credsStore helper, which is missing.
        let err = sources.lookup("other.test").unwrap_err().to_string();
        assert!(err.contains("docker-credential-none-such"), "{err}");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let shown = format!(
            "{:?} {:?}",
            basic("alice", "hunter2").unwrap(),
            Credentials::IdentityToken("tok-secret".into())
        );
        assert!(shown.contains("alice"));
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok-secret"),
            "{shown}"
        );
    }
}
