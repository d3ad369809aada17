//! The build: plan → base → layers → config → manifest (→ index).
//!
//! Layers of one platform are built concurrently (the compressor's thread
//! pool keeps the cores busy without oversubscribing them). A layer whose
//! recipe key is already in the cache costs a lookup; a layer shared by
//! several platforms is built once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use crate::base::{self, Base};
use crate::cache::Cache;
use crate::digest::Digest;
use crate::image::{self, Descriptor, History};
use crate::layer::{self, LayerBlob};
use crate::plan::{BaseSource, LayerPlan, LayerSource, Plan, PlatformPlan};
use crate::platform::Platform;
use crate::progress;
use crate::recipe;

/// A layer of the finished image.
#[derive(Clone, Debug)]
pub struct BuiltLayer {
    /// The spec's name for it, or `base`.
    pub name: String,
    pub blob: LayerBlob,
    /// Whether the layer came from the cache rather than being written.
    pub cached: bool,
}

/// One platform's image.
#[derive(Clone, Debug)]
pub struct BuiltManifest {
    pub platform: Platform,
    /// The manifest, with its `platform` filled in.
    pub descriptor: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<BuiltLayer>,
    pub base: BaseSummary,
}

/// What the image was built on, for annotations and the SBOM.
#[derive(Clone, Debug, Default)]
pub struct BaseSummary {
    pub description: String,
    pub name: Option<String>,
    pub digest: Option<Digest>,
    pub facts: crate::cache::RootfsFacts,
}

/// The result of a build: every blob is in the cache's blob store.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub manifests: Vec<BuiltManifest>,
    /// What a tag points to: the manifest, or the index for several platforms.
    pub top: Descriptor,
}

impl BuiltImage {
    /// Every blob of the image, each once: layers, configs, manifests and,
    /// for several platforms, the index.
    pub fn blobs(&self) -> Vec<Digest> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for m in &self.manifests {
            for d in m
                .layers
                .iter()
                .map(|l| &l.blob.digest)
                .chain([&m.config.digest, &m.descriptor.digest])
            {
                if seen.insert(d.clone()) {
                    out.push(d.clone());
                }
            }
        }
        if seen.insert(self.top.digest.clone()) {
            out.push(self.top.digest.clone());
        }
        out
    }

    pub fn is_index(&self) -> bool {
        self.top.media_type == image::INDEX
    }
}

/// Resolves a layer that the plan could not list itself (npm packages).
pub trait LayerResolver: Sync {
    /// Turns a non-tree layer into its entries; `libc` is the base's.
    fn resolve(
        &self,
        layer: &LayerPlan,
        platform: &PlatformPlan,
        libc: Option<&str>,
        epoch: u64,
    ) -> Result<layer::Tree>;
}

/// Pulls registry bases; provided by the registry client.
pub trait BasePuller: Sync {
    fn pull(&self, reference: &str, platform: &Platform, cache: &Cache) -> Result<Base>;
}

pub struct Builder<'a> {
    pub cache: &'a Cache,
    pub resolver: Option<&'a dyn LayerResolver>,
    pub puller: Option<&'a dyn BasePuller>,
    /// Where steps and byte counts go ([`progress::Silent`] by default).
    pub reporter: &'a dyn progress::Reporter,
    /// Layers built in this run, by recipe key, so platforms share them.
    built: Mutex<HashMap<Digest, LayerBlob>>,
}

impl<'a> Builder<'a> {
    pub fn new(cache: &'a Cache) -> Self {
        Builder {
            cache,
            resolver: None,
            puller: None,
            reporter: &progress::Silent,
            built: Mutex::new(HashMap::new()),
        }
    }

    pub fn build(&self, plan: &Plan) -> Result<BuiltImage> {
        let mut manifests = Vec::new();
        for platform in &plan.platforms {
            manifests.push(self.build_platform(plan, platform)?);
        }
        let top = if manifests.len() == 1 {
            manifests[0].descriptor.clone()
        } else {
            let list: Vec<Descriptor> = manifests.iter().map(|m| m.descriptor.clone()).collect();
            let doc = image::index(&list, &BTreeMap::new());
            self.put_document(image::INDEX, &doc)?
        };
        Ok(BuiltImage { manifests, top })
    }

    fn put_document(&self, media_type: &str, doc: &Value) -> Result<Descriptor> {
        let bytes = image::to_bytes(doc);
        let digest = self.cache.blobs.put_bytes(&bytes)?;
        Ok(Descriptor::new(media_type, digest, bytes.len() as u64))
    }

    fn build_platform(&self, plan: &Plan, pp: &PlatformPlan) -> Result<BuiltManifest> {
        let from = format!("FROM {} ({})", describe_base(&pp.base), pp.platform);
        tracing::debug!("{from}");
        self.reporter.step(&from);
        // Layers wait for the base only when they need to know its libc and
        // the spec does not say; otherwise base and layers build side by side.
        let needs_base = pp.libc.is_none()
            && pp
                .layers
                .iter()
                .any(|l| matches!(l.source, LayerSource::Npm { .. }));
        let (base, layers) = std::thread::scope(|s| {
            let mut base_thread = Some(s.spawn(|| self.base(plan, pp)));
            let mut early = None;
            let libc: Option<String> = if needs_base {
                let thread = base_thread.take().expect("base thread");
                let base = thread
                    .join()
                    .map_err(|_| anyhow!("the base thread panicked"))??;
                let libc = base.facts.libc.clone().or_else(|| {
                    base::scan_layers(&base.layers, self.cache)
                        .ok()
                        .and_then(|f| f.libc)
                });
                early = Some(base);
                libc
            } else {
                pp.libc.clone()
            };
            let handles: Vec<_> = pp
                .layers
                .iter()
                .map(|l| {
                    let libc = libc.clone();
                    s.spawn(move || self.layer(plan, pp, l, libc.as_deref()))
                })
                .collect();
            let mut layers = Vec::new();
            for h in handles {
                layers.push(h.join().map_err(|_| anyhow!("a layer thread panicked"))??);
            }
            let base = match early {
                Some(base) => base,
                None => base_thread
                    .take()
                    .expect("base thread")
                    .join()
                    .map_err(|_| anyhow!("the base thread panicked"))??,
            };
            Ok::<_, anyhow::Error>((base, layers))
        })?;

        let mut all: Vec<BuiltLayer> = base
            .layers
            .iter()
            .map(|b| BuiltLayer {
                name: "base".into(),
                blob: b.clone(),
                cached: base.cached,
            })
            .collect();
        all.extend(layers);
        let diff_ids: Vec<_> = all.iter().map(|l| l.blob.diff_id.clone()).collect();
        let mut history: Vec<History> = Vec::new();
        if base.config.is_none() && !base.layers.is_empty() {
            history.push(History {
                created_by: format!("jib-image: {}", base.description),
                empty_layer: false,
            });
        }
        for l in &pp.layers {
            history.push(History {
                created_by: format!("jib-image: layer {}", l.name),
                empty_layer: false,
            });
        }
        let config = image::config(
            base.config.as_ref(),
            &plan.config,
            &pp.platform,
            &diff_ids,
            &history,
            plan.epoch,
        );
        let config = self.put_document(image::CONFIG, &config)?;
        let annotations = manifest_annotations(plan, &base);
        let blobs: Vec<LayerBlob> = all.iter().map(|l| l.blob.clone()).collect();
        let manifest = image::manifest(&config, &blobs, &annotations);
        let mut descriptor = self.put_document(image::MANIFEST, &manifest)?;
        descriptor.platform = Some((&pp.platform).into());
        tracing::info!("image {} for {}", descriptor.digest, pp.platform);
        Ok(BuiltManifest {
            platform: pp.platform.clone(),
            descriptor,
            config,
            layers: all,
            base: BaseSummary {
                description: base.description,
                name: base.name,
                digest: base.digest,
                facts: base.facts,
            },
        })
    }

    fn base(&self, plan: &Plan, pp: &PlatformPlan) -> Result<Base> {
        // A rootfs becomes a layer of the spec's own compression.
        let compression = plan.default_compression.unwrap_or(layer::Compression::Gzip);
        let mut base = match &pp.base {
            BaseSource::Scratch => Base {
                description: "scratch".into(),
                ..Base::default()
            },
            BaseSource::RootfsTar(path) => {
                base::rootfs_tarball(path, compression, self.cache, self.reporter)?
            }
            BaseSource::RootfsDir(path) => {
                base::rootfs_dir(path, compression, plan.epoch, self.cache)?
            }
            BaseSource::Layout { dir, ref_name } => {
                base::layout(dir, ref_name.as_deref(), &pp.platform, self.cache)?
            }
            BaseSource::Image(reference) => {
                let puller = self.puller.ok_or_else(|| {
                    anyhow!(
                        "base image {reference}: registry bases are not available in this build"
                    )
                })?;
                puller.pull(reference, &pp.platform, self.cache)?
            }
        };
        if let Some(libc) = &pp.libc {
            base.facts.libc = Some(libc.clone());
        }
        Ok(base)
    }

    fn layer(
        &self,
        plan: &Plan,
        pp: &PlatformPlan,
        l: &LayerPlan,
        libc: Option<&str>,
    ) -> Result<BuiltLayer> {
        // A planned tree is borrowed; only npm layers make a new one.
        let tree: std::borrow::Cow<'_, layer::Tree> = match &l.source {
            LayerSource::Tree(tree) => std::borrow::Cow::Borrowed(tree),
            LayerSource::Npm { .. } => {
                let resolver = self.resolver.ok_or_else(|| {
                    anyhow!(
                        "layer '{}': npm layers are not available in this build",
                        l.name
                    )
                })?;
                std::borrow::Cow::Owned(resolver.resolve(l, pp, libc, plan.epoch)?)
            }
        };
        let key = recipe::tree_key(&tree, l.compression, self.cache)
            .map_err(|e| anyhow!("layer '{}' ({}): {e}", l.name, l.file.display()))?;
        if let Some(blob) = self.built.lock().expect("layer map lock").get(&key) {
            return Ok(BuiltLayer {
                name: l.name.clone(),
                blob: blob.clone(),
                cached: true,
            });
        }
        if let Some(record) = self.cache.layer(&key) {
            tracing::debug!("layer {}: cached {}", l.name, record.blob.digest);
            self.reporter.step(&format!(
                "layer {}: {} (cached)",
                l.name,
                describe_layer(l, &tree)
            ));
            self.built
                .lock()
                .expect("layer map lock")
                .insert(key, record.blob.clone());
            return Ok(BuiltLayer {
                name: l.name.clone(),
                blob: record.blob,
                cached: true,
            });
        }
        tracing::debug!("layer {}: writing {} entries", l.name, tree.len());
        let text = format!("layer {}: {}", l.name, describe_layer(l, &tree));
        let id = format!("layer {} {}", l.name, pp.platform);
        self.reporter.start(&id, &text, Some(tar_size(&tree)));
        let blob = layer::write_stream(l.compression, &self.cache.blobs, |out| {
            let mut counting = progress::CountingWriter::new(out, self.reporter, &id);
            layer::tar::write_tree(&tree, &mut counting)
        })
        .with_context(|| format!("layer '{}' ({})", l.name, l.file.display()))?;
        self.reporter.finish(&id);
        // The key hashed the sources before they were written; a source
        // changed meanwhile (same size, other bytes) must not be cached
        // under a key that names its old content.
        let after = recipe::tree_key(&tree, l.compression, self.cache)
            .map_err(|e| anyhow!("layer '{}' ({}): {e}", l.name, l.file.display()))?;
        if after != key {
            return Err(anyhow!(
                "layer '{}' ({}): source files changed during the build",
                l.name,
                l.file.display()
            ));
        }
        self.cache.put_layer(
            &key,
            &crate::cache::LayerRecord {
                blob: blob.clone(),
                facts: Default::default(),
            },
        )?;
        self.built
            .lock()
            .expect("layer map lock")
            .insert(key, blob.clone());
        tracing::debug!("layer {}: {} ({} bytes)", l.name, blob.digest, blob.size);
        Ok(BuiltLayer {
            name: l.name.clone(),
            blob,
            cached: false,
        })
    }
}

/// What a layer holds, as a Dockerfile user would say it.
fn describe_layer(l: &LayerPlan, tree: &layer::Tree) -> String {
    match &l.source {
        LayerSource::Npm { source, .. } => {
            format!("npm {}@{} (no scripts run)", source.package, source.version)
        }
        LayerSource::Tree(_) => {
            let files = tree
                .values()
                .filter(|e| matches!(e.kind, layer::EntryKind::File { .. }))
                .count();
            format!("COPY {files} files, {} bytes", content_size(tree))
        }
    }
}

/// The bytes of file content in `tree` (the tar stream is a little more).
/// The length of the tar stream of `tree` (PAX headers aside), which the
/// progress of writing a layer counts.
fn tar_size(tree: &layer::Tree) -> u64 {
    let blocks: u64 = tree
        .values()
        .map(|e| match e.kind {
            layer::EntryKind::File { size, .. } => 1 + size.div_ceil(512),
            _ => 1,
        })
        .sum();
    (blocks + 2) * 512
}

fn content_size(tree: &layer::Tree) -> u64 {
    tree.values()
        .map(|e| match e.kind {
            layer::EntryKind::File { size, .. } => size,
            _ => 0,
        })
        .sum()
}

fn describe_base(base: &BaseSource) -> String {
    match base {
        BaseSource::Scratch => "scratch".into(),
        BaseSource::RootfsTar(p) | BaseSource::RootfsDir(p) => p.display().to_string(),
        BaseSource::Layout { dir, ref_name } => format!(
            "oci:{}{}",
            dir.display(),
            ref_name
                .as_ref()
                .map(|r| format!(":{r}"))
                .unwrap_or_default()
        ),
        BaseSource::Image(r) => r.clone(),
    }
}

/// The manifest's annotations: the spec's own, then the standard
/// `org.opencontainers.image.*` keys from metadata, then the base's.
fn manifest_annotations(plan: &Plan, base: &Base) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let key = |k: &str| format!("org.opencontainers.image.{k}");
    out.insert(key("created"), image::rfc3339(plan.epoch));
    let m = &plan.metadata;
    let git = if m.from_git {
        crate::gitinfo::describe(&plan.spec_file)
    } else {
        None
    };
    let source = m
        .source
        .clone()
        .or_else(|| git.as_ref().and_then(|g| g.source.clone()));
    let revision = m
        .revision
        .clone()
        .or_else(|| git.as_ref().map(|g| g.revision.clone()));
    for (k, v) in [
        ("title", m.title.clone()),
        ("version", m.version.clone()),
        ("source", source),
        ("revision", revision),
    ] {
        if let Some(v) = v {
            out.insert(key(k), v);
        }
    }
    if let Some(name) = &base.name {
        out.insert(key("base.name"), name.clone());
    }
    if let (Some(digest), Some(_)) = (&base.digest, &base.name) {
        out.insert(key("base.digest"), digest.to_string());
    }
    for (k, v) in &plan.annotations {
        out.insert(k.clone(), v.clone());
    }
    out
}
