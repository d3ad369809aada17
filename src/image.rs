//! Image config, manifest and index documents (OCI image spec v1.1).
//!
//! Documents are built as `serde_json::Value`s, whose objects keep their
//! keys sorted, and serialised compactly: the same inputs always give the
//! same bytes, hence the same digests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::digest::{DiffId, Digest};
use crate::layer::LayerBlob;
use crate::platform::Platform;
use crate::spec::ConfigSpec;

pub use crate::registry::mediatype::{
    OCI_CONFIG as CONFIG, OCI_INDEX as INDEX, OCI_MANIFEST as MANIFEST,
};
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor (image spec, "Descriptors").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformDoc>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
        }
    }
}

/// The `platform` object of an index entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformDoc {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for PlatformDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl From<&Platform> for PlatformDoc {
    fn from(p: &Platform) -> Self {
        PlatformDoc {
            architecture: p.architecture.clone(),
            os: p.os.clone(),
            variant: p.variant.clone(),
        }
    }
}

/// The serialised form of every document we write.
pub fn to_bytes(doc: &Value) -> Vec<u8> {
    serde_json::to_vec(doc).expect("a JSON value always serialises")
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (UTC, proleptic
/// Gregorian), without pulling in a date crate for one format.
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days, after Howard Hinnant's public-domain algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One history entry per layer, as `docker history` shows them.
pub struct History {
    pub created_by: String,
    pub empty_layer: bool,
}

/// Builds the image config: the base's config inherited, then the spec's
/// values applied over it the way a Dockerfile's instructions would.
pub fn config(
    base: Option<&Value>,
    spec: &ConfigSpec,
    platform: &Platform,
    diff_ids: &[DiffId],
    history: &[History],
    created: u64,
) -> Value {
    let base_config = base
        .and_then(|b| b.get("config"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let config = apply(base_config, spec);
    let mut all_history: Vec<Value> = base
        .and_then(|b| b.get("history"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let stamp = rfc3339(created);
    for h in history {
        let mut entry = json!({ "created": stamp, "created_by": h.created_by });
        if h.empty_layer {
            entry["empty_layer"] = json!(true);
        }
        all_history.push(entry);
    }
    let mut doc = json!({
        "created": stamp,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": Value::Object(config),
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": all_history,
    });
    if let Some(v) = &platform.variant {
        doc["variant"] = json!(v);
    }
    doc
}

fn apply(mut config: Map<String, Value>, spec: &ConfigSpec) -> Map<String, Value> {
    if let Some(entrypoint) = &spec.entrypoint {
        config.insert("Entrypoint".into(), json!(entrypoint));
        // As in a Dockerfile, a new ENTRYPOINT drops the base's CMD.
        config.remove("Cmd");
    }
    if let Some(cmd) = &spec.cmd {
        config.insert("Cmd".into(), json!(cmd));
    }
    if !spec.env.is_empty() {
        let mut env: Vec<String> = config
            .get("Env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for (key, value) in &spec.env {
            let item = format!("{key}={value}");
            match env
                .iter_mut()
                .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
            {
                Some(existing) => *existing = item,
                None => env.push(item),
            }
        }
        config.insert("Env".into(), json!(env));
    }
    let mut set = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            config.insert(key.into(), json!(v));
        }
    };
    set("WorkingDir", &spec.workdir);
    set("User", &spec.user);
    set("StopSignal", &spec.stop_signal);
    merge_object(
        &mut config,
        "Labels",
        spec.labels.iter().map(|(k, v)| (k.clone(), json!(v))),
    );
    merge_object(
        &mut config,
        "ExposedPorts",
        spec.exposed_ports.iter().map(|p| (port_key(p), json!({}))),
    );
    merge_object(
        &mut config,
        "Volumes",
        spec.volumes.iter().map(|v| (v.clone(), json!({}))),
    );
    config
}

/// `8080` means `8080/tcp`, as in Docker's `EXPOSE`.
fn port_key(port: &str) -> String {
    if port.contains('/') {
        port.to_string()
    } else {
        format!("{port}/tcp")
    }
}

fn merge_object(
    config: &mut Map<String, Value>,
    key: &str,
    items: impl Iterator<Item = (String, Value)>,
) {
    let mut items = items.peekable();
    if items.peek().is_none() {
        return;
    }
    let entry = config.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    let object = entry.as_object_mut().expect("just made an object");
    for (k, v) in items {
        object.insert(k, v);
    }
}

/// An image manifest over a config blob and layers.
pub fn manifest(
    config: &Descriptor,
    layers: &[LayerBlob],
    annotations: &BTreeMap<String, String>,
) -> Value {
    let layers: Vec<Value> = layers
        .iter()
        .map(|l| json!({ "mediaType": l.media_type, "digest": l.digest, "size": l.size }))
        .collect();
    let mut doc = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config,
        "layers": layers,
    });
    if !annotations.is_empty() {
        doc["annotations"] = json!(annotations);
    }
    doc
}

/// An image index listing one manifest per platform.
pub fn index(manifests: &[Descriptor], annotations: &BTreeMap<String, String>) -> Value {
    let mut doc = json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": manifests,
    });
    if !annotations.is_empty() {
        doc["annotations"] = json!(annotations);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn spec_overrides_base_as_a_dockerfile_would() {
        let base =
            json!({"config": {"Env": ["PATH=/bin", "A=1"], "Cmd": ["bash"], "Labels": {"x": "1"}}});
        let mut spec = ConfigSpec {
            entrypoint: Some(vec!["/init".into()]),
            ..ConfigSpec::default()
        };
        spec.env.insert("A".into(), "2".into());
        spec.env
            .insert("DEBIAN_FRONTEND".into(), "noninteractive".into());
        spec.labels.insert("y".into(), "2".into());
        spec.exposed_ports.push("8080".into());
        let doc = config(Some(&base), &spec, &Platform::linux_amd64(), &[], &[], 0);
        let c = &doc["config"];
        assert_eq!(
            c["Env"],
            json!(["PATH=/bin", "A=2", "DEBIAN_FRONTEND=noninteractive"])
        );
        assert_eq!(c["Entrypoint"], json!(["/init"]));
        assert!(c.get("Cmd").is_none());
        assert_eq!(c["Labels"], json!({"x": "1", "y": "2"}));
        assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(doc["created"], json!("1970-01-01T00:00:00Z"));
    }
}
