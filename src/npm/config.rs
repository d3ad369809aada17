//! npm configuration, found where npm finds it.
//!
//! Sources, first one wins for each key: `npm_config_*` environment
//! variables, the project's `.npmrc`, the user's `.npmrc`
//! (`NPM_CONFIG_USERCONFIG`, else `~/.npmrc`), and, only for the default
//! registry and only when none of those set it, `npm config get registry`
//! (which also knows npm's global config and built-in default). No registry
//! address is built into jib-image: with no npm and no configuration the
//! user is asked to set one.
//!
//! Tokens live in [`Secret`], whose `Debug` and `Display` print nothing of
//! them, and they are sent only to URLs under the `//host/path/` they were
//! configured for.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use url::Url;

/// A credential value that never shows in logs, errors or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself; call this only to build a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How requests under one `//host/path/` prefix authenticate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `_authToken`: sent as `Authorization: Bearer`.
    Token(Secret),
    /// `_auth`: base64 of `user:password`, sent as `Authorization: Basic`.
    Basic(Secret),
    /// A value that names an environment variable that is not set.
    Unresolved { key: String, variable: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading npm config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("npm config key '{key}' in {origin}: '{value}' is not a URL")]
    BadUrl {
        key: String,
        origin: String,
        value: String,
    },
    #[error(
        "no npm registry is configured: set NPM_CONFIG_REGISTRY or 'registry=' in an .npmrc \
         (or install npm, whose default is used)"
    )]
    NoRegistry,
    #[error("npm config '{key}' uses ${{{variable}}}, which is not set in the environment")]
    UnsetVariable { key: String, variable: String },
}

/// Environment variables as seen by the config loader; tests pass their own.
pub type Env = BTreeMap<String, String>;

/// Every process environment variable, for [`NpmConfig::load`].
pub fn process_env() -> Env {
    std::env::vars().collect()
}

/// The settings jib-image uses from npm's configuration.
#[derive(Clone, Debug, Default)]
pub struct NpmConfig {
    registry: Option<Url>,
    /// `@scope` → registry.
    scoped: BTreeMap<String, Url>,
    /// `//host/path/` → credential, longest prefix wins.
    credentials: BTreeMap<String, Credential>,
}

/// One parsed `key=value` with where it came from, for error messages.
struct Setting {
    value: String,
    origin: String,
}

impl NpmConfig {
    /// Loads the configuration for a project directory from the process
    /// environment, the `.npmrc` files and, as the last resort, npm itself.
    pub fn load(project_dir: &Path) -> Result<Self, ConfigError> {
        Self::load_from(&process_env(), Some(project_dir), true)
    }

    /// Like [`load`](Self::load) with an explicit environment; `ask_npm`
    /// allows running `npm config get registry` when nothing set it.
    pub fn load_from(
        env: &Env,
        project_dir: Option<&Path>,
        ask_npm: bool,
    ) -> Result<Self, ConfigError> {
        let mut settings: BTreeMap<String, Setting> = BTreeMap::new();
        let mut add = |key: String, setting: Setting| {
            settings.entry(key).or_insert(setting);
        };
        for (name, value) in env {
            let lower = name.to_ascii_lowercase();
            if let Some(key) = lower.strip_prefix("npm_config_")
                && key != "userconfig"
            {
                let origin = format!("environment variable {name}");
                add(
                    key.to_string(),
                    Setting {
                        value: value.clone(),
                        origin,
                    },
                );
            }
        }
        if let Some(dir) = project_dir {
            for (key, setting) in read_npmrc(&dir.join(".npmrc"), env)? {
                add(key, setting);
            }
        }
        if let Some(path) = user_config_path(env) {
            for (key, setting) in read_npmrc(&path, env)? {
                add(key, setting);
            }
        }
        let mut config = Self::from_settings(settings)?;
        if config.registry.is_none() && ask_npm {
            config.registry = npm_default_registry(project_dir);
        }
        Ok(config)
    }

    /// Parses the text of one `.npmrc`; used by tests and tools that have
    /// the text already.
    pub fn from_npmrc(text: &str, env: &Env) -> Result<Self, ConfigError> {
        let settings = parse_npmrc(text, "npmrc", env).into_iter().collect();
        Self::from_settings(settings)
    }

    /// A configuration with just a default registry.
    pub fn with_registry(registry: Url) -> Self {
        NpmConfig {
            registry: Some(with_trailing_slash(registry)),
            ..Self::default()
        }
    }

    fn from_settings(settings: BTreeMap<String, Setting>) -> Result<Self, ConfigError> {
        let mut config = NpmConfig::default();
        for (key, setting) in settings {
            if key == "registry" {
                config.registry = Some(parse_url(&key, &setting)?);
            } else if let Some(scope) = key.strip_suffix(":registry")
                && scope.starts_with('@')
            {
                config
                    .scoped
                    .insert(scope.to_string(), parse_url(&key, &setting)?);
            } else if let Some(prefix) = key
                .strip_suffix(":_authToken")
                .or(key.strip_suffix(":_authtoken"))
            {
                let credential = credential(&key, setting.value, Credential::Token);
                config.credentials.insert(with_slash(prefix), credential);
            } else if let Some(prefix) = key.strip_suffix(":_auth") {
                let credential = credential(&key, setting.value, Credential::Basic);
                config.credentials.insert(with_slash(prefix), credential);
            }
        }
        Ok(config)
    }

    /// The registry a package is fetched from: its scope's, else the default.
    pub fn registry_for(&self, package: &str) -> Result<&Url, ConfigError> {
        let scoped = package
            .split_once('/')
            .filter(|(scope, _)| scope.starts_with('@'))
            .and_then(|(scope, _)| self.scoped.get(scope));
        scoped
            .or(self.registry.as_ref())
            .ok_or(ConfigError::NoRegistry)
    }

    /// The credential configured for `url`, matched by the longest
    /// `//host[:port]/path/` prefix; `None` for any other host.
    pub fn credential_for(&self, url: &Url) -> Result<Option<&Credential>, ConfigError> {
        let nerfed = nerf_dart(url);
        let found = self
            .credentials
            .iter()
            .filter(|(prefix, _)| nerfed.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, c)| c);
        if let Some(Credential::Unresolved { key, variable }) = found {
            return Err(ConfigError::UnsetVariable {
                key: key.clone(),
                variable: variable.clone(),
            });
        }
        Ok(found)
    }
}

fn credential(key: &str, value: String, make: fn(Secret) -> Credential) -> Credential {
    match unresolved_variable(&value) {
        Some(variable) => Credential::Unresolved {
            key: key.to_string(),
            variable,
        },
        None => make(Secret(value)),
    }
}

/// `//host[:port]/path/` of a URL, the form npm keys credentials by.
fn nerf_dart(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("//{host}{port}{}", url.path())
}

fn with_slash(prefix: &str) -> String {
    if prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

fn parse_url(key: &str, setting: &Setting) -> Result<Url, ConfigError> {
    let url = Url::parse(&setting.value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ConfigError::BadUrl {
            key: key.to_string(),
            origin: setting.origin.clone(),
            value: setting.value.clone(),
        })?;
    Ok(with_trailing_slash(url))
}

fn user_config_path(env: &Env) -> Option<PathBuf> {
    let explicit = env
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("npm_config_userconfig"))
        .map(|(_, v)| PathBuf::from(v));
    explicit.or_else(|| env.get("HOME").map(|home| Path::new(home).join(".npmrc")))
}

/// Reads an `.npmrc`; a missing file is an empty one.
fn read_npmrc(path: &Path, env: &Env) -> Result<Vec<(String, Setting)>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_npmrc(&text, &path.display().to_string(), env)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The `ini` subset npm writes: `key = value` lines, `;` and `#` comments,
/// optional quotes, `${VAR}` expanded in keys and values.
fn parse_npmrc(text: &str, origin: &str, env: &Env) -> Vec<(String, Setting)> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with([';', '#', '[']) {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = expand_env(key.trim(), env);
        let value = expand_env(unquote(value.trim()), env);
        let origin = format!("{origin} line {}", number + 1);
        out.push((key, Setting { value, origin }));
    }
    out
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

/// Replaces `${NAME}` with the variable's value. As in npm, an unset
/// variable stays as written (`${NAME?}` becomes empty instead); a
/// credential still holding one is reported when it is needed.
fn expand_env(text: &str, env: &Env) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        let (name, optional) = match inner.strip_suffix('?') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        match env.get(name) {
            Some(value) => out.push_str(value),
            None if optional => {}
            None => out.push_str(&rest[start..=start + len]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

fn unresolved_variable(value: &str) -> Option<String> {
    let start = value.find("${")?;
    let len = value[start..].find('}')?;
    Some(value[start + 2..start + len].to_string())
}

/// The registry npm itself would use, from its global config or built-in
/// default; `None` when npm is not installed or fails.
fn npm_default_registry(project_dir: Option<&Path>) -> Option<Url> {
    let mut command = Command::new("npm");
    command.args(["config", "get", "registry"]);
    if let Some(dir) = project_dir.filter(|d| d.is_dir()) {
        command.current_dir(dir);
    }
    let output = command.output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8(output.stdout).ok()?;
    let url = Url::parse(text.trim()).ok()?;
    Some(with_trailing_slash(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const NPMRC: &str = r#"
; a comment
registry=http://127.0.0.1:4873
@corp:registry = "http://127.0.0.1:4874/npm/"
//127.0.0.1:4874/npm/:_authToken=${FAKE_NPM_TOKEN}
//127.0.0.1:4873/:_authToken=plain-fake-token
"#;

    #[test]
    fn scoped_registry_wins_for_its_scope() {
        let config = NpmConfig::from_npmrc(NPMRC, &env(&[])).unwrap();
        let default = config.registry_for("left-pad").unwrap();
        assert_eq!(default.as_str(), "http://127.0.0.1:4873/");
        let scoped = config.registry_for("@corp/tool").unwrap();
        assert_eq!(scoped.as_str(), "http://127.0.0.1:4874/npm/");
        let other_scope = config.registry_for("@other/tool").unwrap();
        assert_eq!(other_scope, default);
    }

    #[test]
    fn token_is_expanded_and_matched_by_prefix() {
        let config =
            NpmConfig::from_npmrc(NPMRC, &env(&[("FAKE_NPM_TOKEN", "fake-secret-1")])).unwrap();
        let url = Url::parse("http://127.0.0.1:4874/npm/@corp/tool/-/tool-1.0.0.tgz").unwrap();
        assert_eq!(
            config.credential_for(&url).unwrap(),
            Some(&Credential::Token(Secret::new("fake-secret-1")))
        );
        // Another port is another host: no token is sent there.
        let elsewhere = Url::parse("http://127.0.0.1:9999/npm/x").unwrap();
        assert_eq!(config.credential_for(&elsewhere).unwrap(), None);
    }

    #[test]
    fn token_never_shows_in_debug_or_errors() {
        let config =
            NpmConfig::from_npmrc(NPMRC, &env(&[("FAKE_NPM_TOKEN", "fake-secret-1")])).unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("fake-secret-1"), "{shown}");
        assert!(!shown.contains("plain-fake-token"), "{shown}");
    }

    #[test]
    fn unset_token_variable_is_reported_by_name_when_needed() {
        let config = NpmConfig::from_npmrc(NPMRC, &env(&[])).unwrap();
        let url = Url::parse("http://127.0.0.1:4874/npm/@corp/tool").unwrap();
        let err = config.credential_for(&url).unwrap_err().to_string();
        assert!(err.contains("${FAKE_NPM_TOKEN}"), "{err}");
    }

    #[test]
    fn environment_beats_project_beats_user() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir(&project).unwrap();
        std::fs::write(project.join(".npmrc"), "registry=http://127.0.0.1:2/\n").unwrap();
        let user = dir.path().join("user-npmrc");
        std::fs::write(
            &user,
            "registry=http://127.0.0.1:3/\n@a:registry=http://127.0.0.1:4/\n",
        )
        .unwrap();
        let user = user.to_str().unwrap();

        let vars = env(&[("NPM_CONFIG_USERCONFIG", user)]);
        let config = NpmConfig::load_from(&vars, Some(&project), false).unwrap();
        assert_eq!(
            config.registry_for("x").unwrap().as_str(),
            "http://127.0.0.1:2/"
        );
        assert_eq!(
            config.registry_for("@a/x").unwrap().as_str(),
            "http://127.0.0.1:4/"
        );

        let vars = env(&[
            ("NPM_CONFIG_USERCONFIG", user),
            ("NPM_CONFIG_REGISTRY", "http://127.0.0.1:1"),
        ]);
        let config = NpmConfig::load_from(&vars, Some(&project), false).unwrap();
        assert_eq!(
            config.registry_for("x").unwrap().as_str(),
            "http://127.0.0.1:1/"
        );

        let vars = env(&[("npm_config_userconfig", user)]);
        let config = NpmConfig::load_from(&vars, None, false).unwrap();
        assert_eq!(
            config.registry_for("x").unwrap().as_str(),
            "http://127.0.0.1:3/"
        );
    }

    #[test]
    fn nothing_configured_asks_for_a_registry() {
        let dir = tempfile::tempdir().unwrap();
        let vars = env(&[("HOME", dir.path().to_str().unwrap())]);
        let config = NpmConfig::load_from(&vars, Some(dir.path()), false).unwrap();
        let err = config.registry_for("x").unwrap_err().to_string();
        assert!(err.contains("NPM_CONFIG_REGISTRY"), "{err}");
    }

    #[test]
    fn bad_registry_url_names_its_origin() {
        let err = NpmConfig::from_npmrc("registry=not a url\n", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("npmrc line 1"), "{err}");
    }
}
