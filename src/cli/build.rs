//! `jib-image build`: build an image from a spec and send it to outputs.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use jib_image::build::{Builder, BuiltImage};
use jib_image::cache::{self, Cache};
use jib_image::output::{self, OutputReport};
use jib_image::plan;
use jib_image::platform::Platform;
use jib_image::progress::Reporter as _;
use jib_image::registry::{self, Client, Reference};
use jib_image::{referrer, sbom};

use super::push::RegistryFlags;

#[derive(clap::Args)]
pub struct Args {
    /// The image spec (TOML).
    #[arg(default_value = "spec/jib.toml")]
    pub spec: PathBuf,
    /// Where to write the image (repeatable): oci:DIR[:REF],
    /// oci-archive:FILE[:REF] or docker-archive:FILE[:NAME[:TAG]].
    #[arg(short, long = "output", value_name = "KIND:PATH[:REF]")]
    pub outputs: Vec<String>,
    /// Push the image to this registry reference after building it.
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,
    /// Build only these of the spec's platforms (os/arch, repeatable).
    #[arg(long = "platform", value_name = "OS/ARCH")]
    pub platforms: Vec<String>,
    /// Compress every layer this way, whatever the spec says (gzip, zstd).
    #[arg(long, value_name = "KIND")]
    pub compression: Option<jib_image::layer::Compression>,
    /// The build cache directory [default: $XDG_CACHE_HOME/jib-image, else ~/.cache/jib-image].
    #[arg(long, value_name = "DIR", env = "JIB_IMAGE_CACHE")]
    pub cache_dir: Option<PathBuf>,
    /// Write the manifest (or index) digest alone to FILE.
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<PathBuf>,
    /// Print one JSON object describing the result instead of the digest.
    #[arg(long)]
    pub json: bool,
    /// Load the image into podman (or docker) as NAME[:TAG]
    /// [default name: the spec's title, or the spec file's name].
    #[arg(
        long,
        value_name = "NAME[:TAG]",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub load: Option<String>,
    /// Write the image's SBOM (SPDX 2.3 JSON) to FILE.
    #[arg(long, value_name = "FILE")]
    pub sbom: Option<PathBuf>,
    /// Write no SBOM beside the outputs and attach none to a pushed image.
    #[arg(long)]
    pub no_sbom: bool,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Set from the global `-q`: no progress on stderr.
    #[arg(skip)]
    pub quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    // Everything the user typed is checked before any work starts.
    let mut outputs = args
        .outputs
        .iter()
        .map(|o| output::parse(o))
        .collect::<Result<Vec<_>>>()?;
    let push: Option<Reference> = args.push.as_deref().map(str::parse).transpose()?;
    let wanted: Vec<Platform> = args
        .platforms
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_, _>>()?;
    let mut plan = plan::load_for(&args.spec, &wanted)?;
    if let Some(compression) = args.compression {
        plan.force_compression(compression);
    }
    if let Some(name) = &args.load {
        let name = if name.is_empty() {
            default_load_name(&args, &plan)
        } else {
            name.clone()
        };
        outputs.push(Box::new(output::load::LoadOutput::new(&name)));
    }

    let cache_dir = args.cache_dir.clone().unwrap_or_else(cache::default_dir);
    let cache = Cache::open(&cache_dir)?;
    let progress = std::sync::Arc::new(super::progress::Progress::for_stderr(args.quiet));
    let client = Client::new(&args.registry.client_options()?)?.with_reporter(progress.clone());
    let mut builder = Builder::new(&cache);
    builder.reporter = &*progress;
    builder.puller = Some(&client);
    let npm = jib_image::npm::layer::NpmLayers::new(cache.root(), &args.spec)?;
    builder.resolver = Some(&npm);
    let image = builder.build(&plan)?;

    let mut reports: Vec<OutputReport> = Vec::new();
    for out in &outputs {
        progress.step(&format!("writing {}", out.describe()));
        reports.push(out.write(&image, &cache.blobs)?);
    }
    if let Some(target) = &push {
        progress.step(&format!("pushing {target}"));
        let digest = registry::push_image(&client, cache.root(), &image.top, target)
            .with_context(|| format!("pushing {target}"))?;
        reports.push(OutputReport {
            kind: "registry".into(),
            location: target.to_string(),
            digest,
        });
    }
    // The SBOM goes where asked, beside every file or directory output,
    // and with a push; `--no-sbom` keeps it to `--sbom FILE` alone.
    let mut sbom_paths: Vec<PathBuf> = args.sbom.iter().cloned().collect();
    if !args.no_sbom {
        sbom_paths.extend(outputs.iter().filter_map(|o| o.sbom_path()));
    }
    let wants_sbom = !sbom_paths.is_empty() || (push.is_some() && !args.no_sbom);
    if wants_sbom {
        let records = npm.records.lock().expect("records lock").clone();
        let document = sbom::document(&image, &plan, &records, &cache)?;
        for path in &sbom_paths {
            cache::write_atomic(path, &document)
                .with_context(|| format!("writing the SBOM {}", path.display()))?;
        }
        if let (Some(target), false) = (&push, args.no_sbom) {
            reports.push(push_sbom(
                &client, &cache, &image, &plan, &document, target,
            )?);
        }
    }
    cache.save()?;
    finish(&args, &image, &reports)
}

/// Attaches the SBOM to the pushed image: the artifact manifest by digest,
/// and the referrers index under the fallback tag `sha256-<hex>`, since not
/// every registry serves the referrers API.
fn push_sbom(
    client: &Client,
    cache: &Cache,
    image: &BuiltImage,
    plan: &plan::Plan,
    document: &[u8],
    target: &Reference,
) -> Result<OutputReport> {
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.created".to_string(),
        jib_image::image::rfc3339(plan.epoch),
    );
    let artifact = referrer::put_artifact(
        &cache.blobs,
        &image.top,
        sbom::SPDX_JSON,
        document,
        &annotations,
    )?;
    let index = referrer::put_referrers_index(&cache.blobs, std::slice::from_ref(&artifact))?;
    let tag = referrer::referrers_tag(&image.top.digest);
    let tagged = target.with_tag(Some(&tag));
    tracing::info!("attaching the SBOM to {target} as {}", artifact.digest);
    registry::push_image(client, cache.root(), &index, &tagged)
        .with_context(|| format!("pushing the SBOM to {tagged}"))?;
    Ok(OutputReport {
        kind: "sbom".into(),
        location: tagged.to_string(),
        digest: artifact.digest,
    })
}

/// `--load` without a name: the spec's title, else the spec file's stem.
fn default_load_name(args: &Args, plan: &plan::Plan) -> String {
    let stem = args
        .spec
        .file_stem()
        .map_or_else(|| "image".to_string(), |s| s.to_string_lossy().into_owned());
    let name = plan.metadata.title.clone().unwrap_or(stem);
    let name: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{name}:latest")
}

fn finish(args: &Args, image: &BuiltImage, reports: &[OutputReport]) -> Result<()> {
    if let Some(path) = &args.digest_file {
        std::fs::write(path, format!("{}\n", image.top.digest))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        super::print_line(serde_json::to_string_pretty(&result_json(image, reports))?)?;
    } else {
        super::print_line(&image.top.digest)?;
    }
    Ok(())
}

/// The `--json` document: everything a CI script needs to know.
pub fn result_json(image: &BuiltImage, reports: &[OutputReport]) -> serde_json::Value {
    let manifests: Vec<_> = image
        .manifests
        .iter()
        .map(|m| {
            let layers: Vec<_> = m
                .layers
                .iter()
                .map(|l| {
                    json!({
                        "name": l.name,
                        "digest": l.blob.digest,
                        "diff_id": l.blob.diff_id,
                        "size": l.blob.size,
                        "media_type": l.blob.media_type,
                        "cached": l.cached,
                    })
                })
                .collect();
            let size = m.descriptor.size
                + m.config.size
                + m.layers.iter().map(|l| l.blob.size).sum::<u64>();
            json!({
                "platform": m.platform.to_string(),
                "manifest_digest": m.descriptor.digest,
                "config_digest": m.config.digest,
                "size": size,
                "layers": layers,
            })
        })
        .collect();
    json!({
        "digest": image.top.digest,
        "media_type": image.top.media_type,
        "manifests": manifests,
        "outputs": reports,
    })
}
