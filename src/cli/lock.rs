//! `jib-image lock`: pin every npm input of a spec to an exact version and
//! integrity, for every platform the spec builds.

use std::path::PathBuf;

use anyhow::Result;

use jib_image::npm::{self, NpmClient, NpmConfig};
use jib_image::plan::{self, LayerSource};

#[derive(clap::Args)]
pub struct Args {
    /// The image spec (TOML); the lock is written beside it as NAME.lock.
    #[arg(default_value = "spec/jib.toml")]
    pub spec: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let plan = plan::load(&args.spec)?;
    let mut sources = Vec::new();
    for layer in plan.platforms.iter().flat_map(|p| &p.layers) {
        if let LayerSource::Npm { source, .. } = &layer.source
            && !sources.iter().any(|s: &npm::NpmSource| {
                s.package == source.package && s.version == source.version
            })
        {
            sources.push(source.clone());
        }
    }
    let platforms: Vec<npm::Platform> = plan
        .platforms
        .iter()
        .map(|p| npm::Platform::new(&p.platform.os, &p.platform.architecture))
        .collect();
    let client = NpmClient::new(NpmConfig::load(&std::env::current_dir()?)?)?;
    let (path, lock) = npm::lock::write_for_spec(&args.spec, &sources, &platforms, &client)?;
    for entry in &lock.npm {
        eprintln!(
            "locked {}@{} ({})",
            entry.name, entry.version, entry.requested
        );
    }
    println!("{}", path.display());
    Ok(())
}
