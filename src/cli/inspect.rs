//! `jib-image inspect`: show an image's config, layers and annotations.

use anyhow::Result;

use jib_image::inspect::{self, Inspection, Location};
use jib_image::registry::Client;

use super::push::RegistryFlags;

#[derive(clap::Args)]
pub struct Args {
    /// oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE,
    /// docker://REF or a bare registry reference.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub registry: RegistryFlags,
}

pub fn run(args: Args) -> Result<()> {
    let location: Location = args.image.parse()?;
    let client = Client::new(&args.registry.client_options()?)?;
    let inspection = inspect::inspect(&location, &client)?;
    if args.json {
        super::print_line(serde_json::to_string_pretty(&inspection)?)?;
    } else {
        super::write_out(&table(&inspection))?;
    }
    Ok(())
}

fn list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// The readable form: one `key  value` line per fact.
fn table(i: &Inspection) -> String {
    let mut out = String::new();
    let mut line = |indent: &str, key: &str, value: &str| {
        out.push_str(&format!("{indent}{key:<12} {value}\n"));
    };
    line("", "image", &i.location);
    line("", "digest", &i.digest.to_string());
    line("", "media type", &i.media_type);
    for (k, v) in &i.annotations {
        line("", "annotation", &format!("{k}={v}"));
    }
    for m in &i.manifests {
        let what = m
            .platform
            .clone()
            .or_else(|| m.artifact_type.clone())
            .unwrap_or_else(|| m.media_type.clone());
        line("", "manifest", &format!("{} {what}", m.digest));
    }
    for img in &i.images {
        line("", "platform", &img.platform);
        line("  ", "manifest", &img.manifest_digest.to_string());
        line("  ", "config", &img.config_digest.to_string());
        line("  ", "entrypoint", &list(&img.entrypoint));
        line("  ", "cmd", &list(&img.cmd));
        for e in &img.env {
            line("  ", "env", e);
        }
        line("  ", "workdir", &img.working_dir);
        line("  ", "user", &img.user);
        for (k, v) in &img.labels {
            line("  ", "label", &format!("{k}={v}"));
        }
        for (k, v) in &img.annotations {
            line("  ", "annotation", &format!("{k}={v}"));
        }
        for l in &img.layers {
            line(
                "  ",
                "layer",
                &format!("{} {:>12} {}", l.digest, l.size, l.media_type),
            );
        }
    }
    out
}
