//! Image references: `[host[:port]/]repository[:tag][@digest]`.
//!
//! Parsing follows the rules Docker and the distribution tools share: the
//! first path component names a registry only when it looks like a host
//! (it holds a `.` or a `:`, or is `localhost`); otherwise the image lives on
//! Docker Hub, where one-component names sit under `library/`.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// The name Docker Hub images carry in references and credential files.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's distribution API.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("image reference '{0}' is empty")]
    Empty(String),
    #[error("image reference '{reference}' has an invalid repository name '{repository}'")]
    Repository {
        reference: String,
        repository: String,
    },
    #[error("image reference '{reference}' has an invalid tag '{tag}'")]
    Tag { reference: String, tag: String },
    /// The text is kept without the password.
    #[error(
        "image reference '{0}' holds credentials; pass --username and --password-stdin instead"
    )]
    Credentials(String),
    #[error("image reference '{0}' is a URL; write host[:port]/repository[:tag]")]
    Url(String),
    #[error("image reference '{reference}': {source}")]
    Digest {
        reference: String,
        source: crate::digest::DigestError,
    },
}

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The registry as written (`docker.io` for Docker Hub).
    pub registry: String,
    /// The repository path, e.g. `library/debian`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// The `host[:port]` the distribution API is served from.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB || self.registry == "index.docker.io" {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// What to ask the manifest endpoint for: the digest when there is one
    /// (it pins the content), else the tag, else `latest`.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository, with another tag and no digest.
    pub fn with_tag(&self, tag: Option<&str>) -> Reference {
        Reference {
            tag: tag.map(str::to_string),
            digest: None,
            ..self.clone()
        }
    }
}

fn looks_like_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

/// Repository path components: lowercase alphanumerics joined by `.`, `_`,
/// `__` or runs of `-` (the distribution spec's grammar, checked loosely).
fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.split('/').all(|component| {
            let bytes = component.as_bytes();
            !component.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        })
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !tag.is_empty()
        && tag.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Refuses `[scheme://]user:password@host/repo` and URLs, naming the input
/// without its password. A digest's '@' is never followed by a '/'.
fn check_not_url(input: &str) -> Result<(), ReferenceError> {
    let (scheme, bare) = match input.split_once("://") {
        Some((scheme, bare)) => (format!("{scheme}://"), bare),
        None => (String::new(), input),
    };
    let at = bare
        .match_indices('@')
        .map(|(i, _)| i)
        .rfind(|&i| bare[i + 1..].contains('/'));
    if let Some(at) = at {
        let user = bare[..at].split(':').next().unwrap_or_default();
        let rest = &bare[at + 1..];
        return Err(ReferenceError::Credentials(format!(
            "{scheme}{user}:***@{rest}"
        )));
    }
    if !scheme.is_empty() {
        return Err(ReferenceError::Url(input.to_string()));
    }
    Ok(())
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        // `docker://REF` is how skopeo and podman spell a registry image.
        let input = input.strip_prefix("docker://").unwrap_or(input);
        if input.is_empty() {
            return Err(ReferenceError::Empty(input.to_string()));
        }
        check_not_url(input)?;
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                let digest = digest.parse().map_err(|source| ReferenceError::Digest {
                    reference: input.to_string(),
                    source,
                })?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        // A tag follows the last ':' only when no '/' comes after it;
        // otherwise that ':' separates a host from its port.
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag.to_string())),
            _ => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, path)) if looks_like_host(first) => (first.to_string(), path.to_string()),
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !valid_repository(&repository) {
            return Err(ReferenceError::Repository {
                reference: input.to_string(),
                repository,
            });
        }
        if let Some(tag) = tag.as_ref().filter(|tag| !valid_tag(tag)) {
            return Err(ReferenceError::Tag {
                reference: input.to_string(),
                tag: tag.clone(),
            });
        }
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registry, repository, tag, digest.
    type Expected<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);

    fn parts(input: &str) -> (String, String, Option<String>, Option<String>) {
        let r: Reference = input.parse().unwrap();
        (
            r.registry,
            r.repository,
            r.tag,
            r.digest.map(|d| d.to_string()),
        )
    }

    #[test]
    fn credentials_and_urls_are_refused_without_the_password() {
        for (input, shown) in [
            (
                "user:hunter2@127.0.0.1:5000/x:y",
                "user:***@127.0.0.1:5000/x:y",
            ),
            ("u:p@ss/w@host/repo@sha256:00", "u:***@host/repo@sha256:00"),
            ("https://u:hunter2@host/repo", "https://u:***@host/repo"),
            ("u@host/repo", "u:***@host/repo"),
        ] {
            let err = input.parse::<Reference>().unwrap_err().to_string();
            assert!(!err.contains("hunter2") && !err.contains("ss/w"), "{err}");
            assert!(err.contains(shown) && err.contains("--username"), "{err}");
        }
        let err = "https://host/repo:1".parse::<Reference>().unwrap_err();
        assert_eq!(err, ReferenceError::Url("https://host/repo:1".into()));
        let digest = Digest::of(b"x");
        assert!(format!("debian@{digest}").parse::<Reference>().is_ok());
        assert!(format!("host:1/a/b@{digest}").parse::<Reference>().is_ok());
    }

    #[test]
    fn parses_reference_table() {
        let digest = Digest::of(b"x").to_string();
        let table: Vec<(String, Expected)> = vec![
            ("debian".into(), ("docker.io", "library/debian", None, None)),
            (
                "debian:12".into(),
                ("docker.io", "library/debian", Some("12"), None),
            ),
            (
                "user/app:v1".into(),
                ("docker.io", "user/app", Some("v1"), None),
            ),
            (
                "docker.io/debian".into(),
                ("docker.io", "library/debian", None, None),
            ),
            (
                "index.docker.io/x/y".into(),
                ("docker.io", "x/y", None, None),
            ),
            ("localhost/app".into(), ("localhost", "app", None, None)),
            (
                "localhost:5000/app:1".into(),
                ("localhost:5000", "app", Some("1"), None),
            ),
            (
                "127.0.0.1:5000/a/b/c".into(),
                ("127.0.0.1:5000", "a/b/c", None, None),
            ),
            (
                "[::1]:5000/app:t".into(),
                ("[::1]:5000", "app", Some("t"), None),
            ),
            (
                "ghcr.io/o/r:1.2_x-y".into(),
                ("ghcr.io", "o/r", Some("1.2_x-y"), None),
            ),
            (
                format!("reg.example:443/app:t@{digest}"),
                ("reg.example:443", "app", Some("t"), Some(digest.as_str())),
            ),
            (
                format!("app@{digest}"),
                ("docker.io", "library/app", None, Some(digest.as_str())),
            ),
        ];
        for (input, (registry, repository, tag, digest)) in table {
            assert_eq!(
                parts(&input),
                (
                    registry.to_string(),
                    repository.to_string(),
                    tag.map(str::to_string),
                    digest.map(str::to_string)
                ),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_bad_references() {
        for input in [
            "",
            "UPPER/case",
            "app:bad/tag:",
            "app:",
            "a//b",
            "app@sha256:12",
            "-app",
        ] {
            assert!(input.parse::<Reference>().is_err(), "{input}");
        }
    }

    #[test]
    fn display_round_trips_and_docker_hub_maps_to_its_api_host() {
        let r: Reference = "localhost:5000/app:1".parse().unwrap();
        assert_eq!(r.to_string(), "localhost:5000/app:1");
        assert_eq!(r.api_host(), "localhost:5000");
        let hub: Reference = "debian".parse().unwrap();
        assert_eq!(hub.to_string(), "docker.io/library/debian");
        assert_eq!(hub.api_host(), "registry-1.docker.io");
        assert_eq!(hub.manifest_reference(), "latest");
    }
}
