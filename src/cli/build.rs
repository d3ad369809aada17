//! `jib-image build`.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The image spec (TOML).
    #[arg(default_value = "spec/image.toml")]
    pub spec: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::bail!("building {} is not available yet", args.spec.display())
}
