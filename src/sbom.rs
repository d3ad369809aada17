//! A software bill of materials for a built image, as an SPDX 2.3 JSON
//! document: the Debian packages the base's dpkg status records as
//! installed, every npm package installed by npm layers (with its
//! integrity), and every file of the spec's local layers with its sha256.
//!
//! The document is deterministic: its creation time is the build's epoch,
//! its namespace is derived from the image digest, and every list is sorted.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::build::BuiltImage;
use crate::cache::Cache;
use crate::digest::Digest;
use crate::image;
use crate::layer::{Content, EntryKind};
use crate::npm::NpmPackageRecord;
use crate::plan::{LayerSource, Plan};

pub const SPDX_JSON: &str = "application/spdx+json";

/// One installed Debian package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DebPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
}

impl DebPackage {
    pub fn purl(&self) -> String {
        format!(
            "pkg:deb/debian/{}@{}?arch={}",
            encode(&self.name),
            encode(&self.version),
            encode(&self.architecture)
        )
    }
}

/// A file of a local layer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct LayerFile {
    path: String,
    layer: String,
    sha256: String,
}

/// Percent-encodes everything but the characters a purl keeps as they are.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// The packages a dpkg status file marks `install ok installed`.
pub fn parse_dpkg_status(text: &str) -> Vec<DebPackage> {
    let mut out = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        for line in paragraph.lines() {
            // Continuation lines (descriptions, conffiles) start with a space.
            if line.starts_with([' ', '\t']) {
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                fields.insert(key.trim(), value.trim());
            }
        }
        if fields.get("Status") != Some(&"install ok installed") {
            continue;
        }
        if let (Some(name), Some(version)) = (fields.get("Package"), fields.get("Version")) {
            out.push(DebPackage {
                name: name.to_string(),
                version: version.to_string(),
                architecture: fields.get("Architecture").unwrap_or(&"all").to_string(),
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Characters allowed in an SPDX identifier are letters, digits, `.` and `-`.
fn spdx_id(prefix: &str, text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{prefix}-{clean}")
}

/// The SPDX document for `image`, built from `plan`; `npm` are the npm
/// packages the build installed.
pub fn document(
    image: &BuiltImage,
    plan: &Plan,
    npm: &[NpmPackageRecord],
    cache: &Cache,
) -> Result<Vec<u8>> {
    let debs = debian_packages(image, cache)?;
    let files = layer_files(plan, cache)?;
    let digest = &image.top.digest;
    let name = plan
        .metadata
        .title
        .clone()
        .unwrap_or_else(|| "image".to_string());

    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": name,
        "versionInfo": digest.to_string(),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{ "algorithm": "SHA256", "checksumValue": digest.hex() }],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    let mut contains = |id: &str| {
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    };
    for deb in &debs {
        let id = spdx_id(
            "deb",
            &format!("{}-{}-{}", deb.name, deb.version, deb.architecture),
        );
        contains(&id);
        packages.push(package(&id, &deb.name, &deb.version, &deb.purl(), None));
    }
    // Several platforms install the same packages; list each once.
    let npm: BTreeMap<(&str, &str), &NpmPackageRecord> = npm
        .iter()
        .map(|r| ((r.name.as_str(), r.version.as_str()), r))
        .collect();
    for ((name, version), record) in npm {
        let id = spdx_id("npm", &format!("{name}-{version}"));
        contains(&id);
        // `sha512-<hex>`: the SPDX algorithm name and hex value.
        let key = record.integrity.cache_key();
        let (algorithm, hex) = key.split_once('-').unwrap_or_default();
        let checksum = (algorithm.to_uppercase(), hex);
        packages.push(package(
            &id,
            name,
            version,
            &record.purl(),
            Some((&checksum.0, checksum.1)),
        ));
    }
    let mut file_docs = Vec::new();
    for (n, f) in files.iter().enumerate() {
        let id = format!("SPDXRef-File-{n}");
        contains(&id);
        file_docs.push(json!({
            "SPDXID": id,
            "fileName": f.path,
            "checksums": [{ "algorithm": "SHA256", "checksumValue": f.sha256 }],
            "comment": format!("layer {}", f.layer),
        }));
    }
    let doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{name}@{digest}"),
        "documentNamespace": format!("https://spdx.org/spdxdocs/jib-image/{}", digest.hex()),
        "creationInfo": {
            "created": image::rfc3339(plan.epoch),
            "creators": [concat!("Tool: jib-image-", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "files": file_docs,
        "relationships": relationships,
    });
    Ok(serde_json::to_vec_pretty(&doc).expect("a JSON value always serialises"))
}

fn package(id: &str, name: &str, version: &str, purl: &str, sha: Option<(&str, &str)>) -> Value {
    let mut p = json!({
        "SPDXID": id,
        "name": name,
        "versionInfo": version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }],
    });
    if let Some((algorithm, hex)) = sha {
        p["checksums"] = json!([{ "algorithm": algorithm, "checksumValue": hex }]);
    }
    p
}

/// Every platform's base packages, each once.
fn debian_packages(image: &BuiltImage, cache: &Cache) -> Result<Vec<DebPackage>> {
    let mut all = BTreeSet::new();
    for m in &image.manifests {
        let Some(status) = &m.base.facts.dpkg_status else {
            continue;
        };
        let bytes = cache
            .blobs
            .read(status)
            .with_context(|| format!("reading the base's dpkg status {status}"))?;
        all.extend(parse_dpkg_status(&String::from_utf8_lossy(&bytes)));
    }
    Ok(all.into_iter().collect())
}

/// The regular files of the spec's local layers, sorted by path.
fn layer_files(plan: &Plan, cache: &Cache) -> Result<Vec<LayerFile>> {
    let mut out = BTreeSet::new();
    for pp in &plan.platforms {
        for layer in &pp.layers {
            let LayerSource::Tree(tree) = &layer.source else {
                continue;
            };
            for (path, entry) in tree {
                let EntryKind::File { content, .. } = &entry.kind else {
                    continue;
                };
                let digest = match content {
                    Content::Path(p) => cache
                        .file_digest(p)
                        .with_context(|| format!("hashing {}", p.display()))?,
                    Content::Bytes(b) => Digest::of(b),
                };
                out.insert(LayerFile {
                    path: path.to_string(),
                    layer: layer.name.clone(),
                    sha256: digest.hex().to_string(),
                });
            }
        }
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_installed_packages_are_listed() {
        let status = "Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13\n\
                      Architecture: amd64\nDescription: x\n more\n\n\
                      Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
                      Package: base-files\nStatus: install ok installed\nVersion: 12.4+deb12u5\n\
                      Architecture: amd64\n";
        let packages = parse_dpkg_status(status);
        let names: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["base-files", "zlib1g"]);
        assert_eq!(
            packages[1].purl(),
            "pkg:deb/debian/zlib1g@1%3A1.2.13?arch=amd64"
        );
        assert_eq!(
            packages[0].purl(),
            "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64"
        );
    }

    #[test]
    fn spdx_ids_keep_only_allowed_characters() {
        assert_eq!(spdx_id("npm", "@a/b-1.0"), "SPDXRef-npm--a-b-1.0");
    }
}
