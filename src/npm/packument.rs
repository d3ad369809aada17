//! Package documents ("packuments") as the npm registry serves them, and
//! the choice of one version for a requested version, tag or range.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::integrity::{Integrity, IntegrityError};
use super::semver::{Range, Version};

/// The parts of a packument jib-image reads. The abbreviated form
/// (`application/vnd.npm.install-v1+json`) carries all of them.
#[derive(Clone, Debug, Deserialize)]
pub struct Packument {
    pub name: String,
    #[serde(rename = "dist-tags", default)]
    pub dist_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub versions: BTreeMap<String, PackageVersion>,
}

/// One published version of a package.
#[derive(Clone, Debug, Deserialize)]
pub struct PackageVersion {
    pub name: String,
    pub version: String,
    #[serde(default, deserialize_with = "string_or_list")]
    pub os: Vec<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    pub cpu: Vec<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    pub libc: Vec<String>,
    #[serde(default)]
    pub dependencies: BTreeMap<String, String>,
    #[serde(rename = "optionalDependencies", default)]
    pub optional_dependencies: BTreeMap<String, String>,
    pub dist: Dist,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Dist {
    pub integrity: Option<String>,
    /// Hex sha1, all that packages published before 2017 carry.
    pub shasum: Option<String>,
    pub tarball: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "{package}: no version matches '{requested}' (dist-tags: {tags}; newest versions: {newest})"
    )]
    NoMatch {
        package: String,
        requested: String,
        tags: String,
        newest: String,
    },
    #[error(
        "{package}@{version}: dist-tag '{tag}' points to a version the packument does not list"
    )]
    DanglingTag {
        package: String,
        tag: String,
        version: String,
    },
    #[error("{package}@{version}: the registry gives no usable integrity")]
    NoIntegrity { package: String, version: String },
    #[error("{package}@{version}: {source}")]
    Integrity {
        package: String,
        version: String,
        source: IntegrityError,
    },
}

fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

impl PackageVersion {
    /// The tarball's integrity: `dist.integrity`, else the old sha1 `shasum`.
    pub fn integrity(&self) -> Result<Integrity, ResolveError> {
        let sri = match (&self.dist.integrity, &self.dist.shasum) {
            (Some(sri), _) => sri.clone(),
            (None, Some(shasum)) => {
                let bytes = hex::decode(shasum).map_err(|_| self.no_integrity())?;
                use base64::Engine as _;
                format!(
                    "sha1-{}",
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                )
            }
            (None, None) => return Err(self.no_integrity()),
        };
        sri.parse().map_err(|source| ResolveError::Integrity {
            package: self.name.clone(),
            version: self.version.clone(),
            source,
        })
    }

    fn no_integrity(&self) -> ResolveError {
        ResolveError::NoIntegrity {
            package: self.name.clone(),
            version: self.version.clone(),
        }
    }
}

/// How a spec names a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requested {
    Exact(Version),
    Range(Range),
    Tag(String),
}

impl Requested {
    /// npm's reading: a full version, else a range, else a dist-tag name.
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        if let Ok(version) = raw.parse::<Version>() {
            return Requested::Exact(version);
        }
        match raw.parse::<Range>() {
            Ok(range) => Requested::Range(range),
            Err(_) => Requested::Tag(raw.to_string()),
        }
    }

    /// Whether `version` is an answer to this request; a tag can only be
    /// checked against the registry, so it accepts any version here.
    pub fn accepts(&self, version: &Version) -> Option<bool> {
        match self {
            Requested::Exact(v) => Some(v == version),
            Requested::Range(r) => Some(r.matches(version)),
            Requested::Tag(_) => None,
        }
    }
}

impl Packument {
    /// The version a request picks: an exact version, the target of a
    /// dist-tag, or the highest version inside a range.
    pub fn pick(&self, requested: &str) -> Result<&PackageVersion, ResolveError> {
        let found =
            match Requested::parse(requested) {
                Requested::Exact(version) => self.versions.get(&version.to_string()),
                Requested::Tag(tag) => match self.dist_tags.get(&tag) {
                    Some(version) => Some(self.versions.get(version).ok_or_else(|| {
                        ResolveError::DanglingTag {
                            package: self.name.clone(),
                            tag: tag.clone(),
                            version: version.clone(),
                        }
                    })?),
                    None => None,
                },
                Requested::Range(range) => {
                    let parsed = self.parsed_versions();
                    range
                        .max_satisfying(parsed.iter().map(|(v, _)| v))
                        .and_then(|best| parsed.iter().find(|(v, _)| v == best))
                        .map(|(_, p)| *p)
                }
            };
        found.ok_or_else(|| self.no_match(requested))
    }

    fn parsed_versions(&self) -> Vec<(Version, &PackageVersion)> {
        self.versions
            .iter()
            .filter_map(|(raw, p)| raw.parse().ok().map(|v| (v, p)))
            .collect()
    }

    fn no_match(&self, requested: &str) -> ResolveError {
        let mut versions: Vec<Version> =
            self.parsed_versions().into_iter().map(|(v, _)| v).collect();
        versions.sort();
        let newest: Vec<String> = versions
            .iter()
            .rev()
            .take(5)
            .map(ToString::to_string)
            .collect();
        let tags: Vec<String> = self
            .dist_tags
            .iter()
            .map(|(t, v)| format!("{t}={v}"))
            .collect();
        ResolveError::NoMatch {
            package: self.name.clone(),
            requested: requested.to_string(),
            tags: if tags.is_empty() {
                "none".into()
            } else {
                tags.join(", ")
            },
            newest: if newest.is_empty() {
                "none".into()
            } else {
                newest.join(", ")
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packument() -> Packument {
        let mut versions = serde_json::Map::new();
        for v in ["1.0.0", "1.4.2", "2.0.0-beta.1", "2.0.0", "2.1.0"] {
            let integrity = Integrity::sha512_of(v.as_bytes()).to_string();
            versions.insert(
                v.to_string(),
                serde_json::json!({
                    "name": "pkg", "version": v, "os": "linux",
                    "dist": { "integrity": integrity, "tarball": "http://127.0.0.1:1/pkg.tgz" }
                }),
            );
        }
        let doc = serde_json::json!({
            "name": "pkg",
            "dist-tags": { "latest": "2.0.0", "next": "2.0.0-beta.1" },
            "versions": versions,
        });
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn picks_exact_tag_and_range() {
        let p = packument();
        assert_eq!(p.pick("1.4.2").unwrap().version, "1.4.2");
        assert_eq!(p.pick("latest").unwrap().version, "2.0.0");
        assert_eq!(p.pick("next").unwrap().version, "2.0.0-beta.1");
        assert_eq!(p.pick("^1").unwrap().version, "1.4.2");
        assert_eq!(p.pick(">=2").unwrap().version, "2.1.0");
        assert_eq!(p.pick("*").unwrap().os, ["linux"]);
    }

    #[test]
    fn no_match_lists_tags_and_versions() {
        let err = packument().pick("^3").unwrap_err().to_string();
        assert!(
            err.contains("latest=2.0.0") && err.contains("2.1.0"),
            "{err}"
        );
        let err = packument().pick("canary").unwrap_err().to_string();
        assert!(err.contains("'canary'"), "{err}");
    }

    #[test]
    fn shasum_stands_in_for_missing_integrity() {
        let doc = serde_json::json!({
            "name": "old", "version": "0.1.0",
            "dist": { "shasum": "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33", "tarball": "x" }
        });
        let version: PackageVersion = serde_json::from_value(doc).unwrap();
        assert!(
            version
                .integrity()
                .unwrap()
                .to_string()
                .starts_with("sha1-")
        );
    }
}
