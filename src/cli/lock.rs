//! `jib-image lock`: pin every npm input of a spec to an exact version and
//! integrity, for every platform the spec builds.

use std::path::PathBuf;

use anyhow::Result;

use jib_image::npm::{self, NpmClient, NpmConfig};
use jib_image::plan;

#[derive(clap::Args)]
pub struct Args {
    /// The image spec (TOML); the lock is written beside it as NAME.lock.
    #[arg(default_value = "spec/jib.toml")]
    pub spec: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let (sources, platforms) = plan::npm_inputs(&args.spec)?;
    let client = NpmClient::new(NpmConfig::load(&std::env::current_dir()?)?)?;
    let (path, lock) = npm::lock::write_for_spec(&args.spec, &sources, &platforms, &client)?;
    for entry in &lock.npm {
        eprintln!(
            "locked {}@{} ({})",
            entry.name, entry.version, entry.requested
        );
    }
    super::print_line(path.display())?;
    Ok(())
}
