//! `jib-image creds`: looks at Claude Code credentials on the host.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jib_image::shim::creds;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Check a credentials file the way the image's entrypoint will: JSON,
    /// access token, required scopes, expiry. Exits 1 on any problem.
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The credentials file [default: ~/.claude/.credentials.json].
    path: Option<PathBuf>,
    /// Scopes the file must carry, comma-separated.
    #[arg(
        long,
        env = "JIB_REQUIRED_SCOPES",
        default_value = "user:inference,user:profile,user:sessions:claude_code"
    )]
    scopes: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<()> {
    let path = match args.path {
        Some(path) => path,
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .context("finding the default credentials: HOME is not set")?
            .join(".claude/.credentials.json"),
    };
    let bytes = read_limited(&path)?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        });
    let diagnosis = creds::diagnose(&bytes, now_ms, &creds::parse_scope_list(&args.scopes));
    if diagnosis.is_ok() {
        super::print_line(format_args!("{}: ok", path.display()))?;
        return Ok(());
    }
    for problem in &diagnosis.problems {
        eprintln!("problem: {problem}");
    }
    if let Some(hint) = diagnosis.hint() {
        eprintln!("hint: {hint}");
    }
    anyhow::bail!(
        "credentials {} have {} problem(s)",
        path.display(),
        diagnosis.problems.len()
    )
}

/// Reads the file, refusing what the entrypoint would refuse to copy.
fn read_limited(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let context = || format!("reading credentials {}", path.display());
    let meta = std::fs::metadata(path).with_context(context)?;
    if !meta.is_file() {
        anyhow::bail!("credentials {} are not a regular file", path.display());
    }
    if meta.len() > jib_image::shim::install::MAX_SOURCE_BYTES {
        anyhow::bail!(
            "credentials {} are larger than {} bytes",
            path.display(),
            jib_image::shim::install::MAX_SOURCE_BYTES
        );
    }
    std::fs::read(path).with_context(context)
}
