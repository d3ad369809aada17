//! Finding where two builds of one spec differ, for `jib-image verify`.
//!
//! Two OCI layouts are compared from the top: the image digests, then each
//! platform's layers in order, and inside the first layer that differs,
//! its tar entries in order: name, then each header field, then content.
//! The first difference found is the answer; later ones usually follow
//! from it.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::digest::Digest;
use crate::layer::Compression;

/// Where two builds first differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// A layer (by index in the manifest) differs; `entry` says where.
    Layer {
        platform: String,
        index: usize,
        digests: (Digest, Digest),
        entry: String,
    },
    /// Layers are equal; the image config or the manifest is not.
    Document { platform: String, what: String },
    /// The images have different platforms or layer counts.
    Shape(String),
}

/// One layout's image: the top digest, and per platform its layers.
struct Image {
    top: Digest,
    manifests: Vec<(String, Value)>,
}

fn read_json(dir: &Path, digest: &Digest) -> Result<Value> {
    let path = blob_path(dir, digest);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))
}

fn blob_path(dir: &Path, digest: &Digest) -> std::path::PathBuf {
    dir.join("blobs")
        .join(digest.algorithm())
        .join(digest.hex())
}

fn digest_of(value: &Value) -> Result<Digest> {
    Ok(value["digest"].as_str().unwrap_or_default().parse()?)
}

fn open(dir: &Path) -> Result<Image> {
    let path = dir.join("index.json");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let index: Value = serde_json::from_slice(&bytes)?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let mut manifests = Vec::new();
    let mut top = None;
    for entry in &entries {
        let digest = digest_of(entry)?;
        let manifest = read_json(dir, &digest)?;
        // A single-platform layout's entry has no platform; its config says.
        let platform = if entry["platform"].is_object() {
            &entry["platform"]
        } else {
            &read_json(dir, &digest_of(&manifest["config"])?)?
        };
        let platform = format!(
            "{}/{}",
            platform["os"].as_str().unwrap_or("?"),
            platform["architecture"].as_str().unwrap_or("?")
        );
        manifests.push((platform, manifest));
        top = Some(digest);
    }
    let Some(top) = top else {
        bail!("{}: index.json lists no image", dir.display());
    };
    // A layout of several platforms lists each manifest; the image's
    // identity is then the set of them, compared manifest by manifest.
    Ok(Image { top, manifests })
}

/// Compares two layouts; `None` when they hold the same image.
pub fn compare(a: &Path, b: &Path) -> Result<Option<Difference>> {
    let left = open(a)?;
    let right = open(b)?;
    if left.manifests.len() != right.manifests.len() {
        return Ok(Some(Difference::Shape(
            "the builds have different platforms".into(),
        )));
    }
    for ((platform, ma), (_, mb)) in left.manifests.iter().zip(&right.manifests) {
        if ma == mb {
            continue;
        }
        let la = ma["layers"].as_array().cloned().unwrap_or_default();
        let lb = mb["layers"].as_array().cloned().unwrap_or_default();
        if la.len() != lb.len() {
            return Ok(Some(Difference::Shape(format!(
                "{platform}: {} layers against {}",
                la.len(),
                lb.len()
            ))));
        }
        for (index, (x, y)) in la.iter().zip(&lb).enumerate() {
            let (dx, dy) = (digest_of(x)?, digest_of(y)?);
            if dx == dy {
                continue;
            }
            let compression = match x["mediaType"].as_str() {
                Some(t) if t.ends_with("zstd") => Compression::Zstd,
                _ => Compression::Gzip,
            };
            let entry =
                first_entry_difference(&blob_path(a, &dx), &blob_path(b, &dy), compression)?;
            return Ok(Some(Difference::Layer {
                platform: platform.clone(),
                index,
                digests: (dx, dy),
                entry,
            }));
        }
        let what = if ma["config"] != mb["config"] {
            let ca = read_json(a, &digest_of(&ma["config"])?)?;
            let cb = read_json(b, &digest_of(&mb["config"])?)?;
            let keys: Vec<String> = differing_keys(&ca, &cb);
            format!("the image config differs in {}", keys.join(", "))
        } else {
            "the manifest differs (annotations)".to_string()
        };
        return Ok(Some(Difference::Document {
            platform: platform.clone(),
            what,
        }));
    }
    if left.top != right.top {
        return Ok(Some(Difference::Shape("the index differs".into())));
    }
    Ok(None)
}

fn differing_keys(a: &Value, b: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let (Some(x), Some(y)) = (a.as_object(), b.as_object()) {
        for (k, v) in x {
            if y.get(k) != Some(v) {
                for (k2, v2) in v.as_object().into_iter().flatten() {
                    if y[k].get(k2) != Some(v2) {
                        keys.push(format!("{k}.{k2}"));
                    }
                }
                if !v.is_object() {
                    keys.push(k.clone());
                }
            }
        }
    }
    keys
}

fn decoder(path: &Path, compression: Compression) -> Result<Box<dyn Read>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let file = std::io::BufReader::new(file);
    Ok(match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(file)?),
    })
}

/// Walks two layer tarballs side by side; says where they first differ.
fn first_entry_difference(a: &Path, b: &Path, compression: Compression) -> Result<String> {
    let mut ta = tar::Archive::new(decoder(a, compression)?);
    let mut tb = tar::Archive::new(decoder(b, compression)?);
    let mut ea = ta.entries()?;
    let mut eb = tb.entries()?;
    loop {
        let (mut x, mut y) = match (ea.next(), eb.next()) {
            (None, None) => return Ok("the tar streams differ after the last entry".into()),
            (Some(_), None) | (None, Some(_)) => {
                return Ok("one layer has more entries than the other".into());
            }
            (Some(x), Some(y)) => (x?, y?),
        };
        let (px, py) = (x.path()?.into_owned(), y.path()?.into_owned());
        if px != py {
            return Ok(format!(
                "entry names differ: /{} against /{}",
                px.display(),
                py.display()
            ));
        }
        let (hx, hy) = (x.header().clone(), y.header().clone());
        let fields: [(&str, String, String); 7] = [
            (
                "type",
                format!("{:?}", hx.entry_type()),
                format!("{:?}", hy.entry_type()),
            ),
            (
                "mode",
                format!("{:o}", hx.mode()?),
                format!("{:o}", hy.mode()?),
            ),
            ("uid", hx.uid()?.to_string(), hy.uid()?.to_string()),
            ("gid", hx.gid()?.to_string(), hy.gid()?.to_string()),
            ("mtime", hx.mtime()?.to_string(), hy.mtime()?.to_string()),
            ("size", hx.size()?.to_string(), hy.size()?.to_string()),
            (
                "link target",
                format!("{:?}", hx.link_name()?),
                format!("{:?}", hy.link_name()?),
            ),
        ];
        for (field, vx, vy) in fields {
            if vx != vy {
                return Ok(format!(
                    "entry /{}: {field} {vx} against {vy}",
                    px.display()
                ));
            }
        }
        let (mut cx, mut cy) = (Vec::new(), Vec::new());
        x.read_to_end(&mut cx)?;
        y.read_to_end(&mut cy)?;
        if cx != cy {
            return Ok(format!("entry /{}: content differs", px.display()));
        }
    }
}
