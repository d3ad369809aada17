//! `jib-image cache`: look after the build cache.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use jib_image::cache;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Remove layers unused for a while, blobs nothing refers to, and
    /// leftovers of interrupted builds. Waits for running builds.
    Prune {
        /// Keep what was used within this many days (0 removes everything).
        #[arg(long, default_value_t = 14)]
        keep_days: u64,
        /// The build cache directory [default: $XDG_CACHE_HOME/jib-image, else ~/.cache/jib-image].
        #[arg(long, value_name = "DIR", env = "JIB_IMAGE_CACHE")]
        cache_dir: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Prune {
            keep_days,
            cache_dir,
        } => {
            let dir = cache_dir.unwrap_or_else(cache::default_dir);
            let report = cache::prune(&dir, Duration::from_secs(keep_days.saturating_mul(86_400)))?;
            super::print_line(format_args!(
                "removed {} layer records and {} blobs ({} bytes) from {}",
                report.records,
                report.blobs,
                report.bytes,
                dir.display()
            ))
        }
    }
}
