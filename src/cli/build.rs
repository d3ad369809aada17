//! `jib-image build`: build an image from a spec and send it to outputs.

use std::path::PathBuf;

use anyhow::{Context, Result};

use jib_image::build::{Builder, BuiltImage};
use jib_image::cache::{self, Cache};
use jib_image::output::{self, OutputReport};
use jib_image::plan;

#[derive(clap::Args)]
pub struct Args {
    /// The image spec (TOML).
    #[arg(default_value = "spec/jib.toml")]
    pub spec: PathBuf,
    /// Where to write the image: oci:DIR[:REF] (repeatable).
    #[arg(short, long = "output", value_name = "KIND:PATH[:REF]")]
    pub outputs: Vec<String>,
    /// The build cache directory [default: $XDG_CACHE_HOME/jib-image].
    #[arg(long, value_name = "DIR", env = "JIB_IMAGE_CACHE")]
    pub cache_dir: Option<PathBuf>,
    /// Write the manifest (or index) digest alone to FILE.
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let outputs = args
        .outputs
        .iter()
        .map(|o| output::parse(o))
        .collect::<Result<Vec<_>>>()?;
    let plan = plan::load(&args.spec)?;
    let cache_dir = args.cache_dir.clone().unwrap_or_else(cache::default_dir);
    let cache = Cache::open(&cache_dir)?;
    let image = Builder::new(&cache).build(&plan)?;
    let mut reports: Vec<OutputReport> = Vec::new();
    for out in &outputs {
        tracing::info!("writing {}", out.describe());
        reports.push(out.write(&image, &cache.blobs)?);
    }
    cache.save()?;
    finish(&args, &image)
}

fn finish(args: &Args, image: &BuiltImage) -> Result<()> {
    if let Some(path) = &args.digest_file {
        std::fs::write(path, format!("{}\n", image.top.digest))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{}", image.top.digest);
    Ok(())
}
