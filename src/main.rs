//! `jib-image`: a thin command-line layer over the library.
//!
//! Exit codes: 0 success, 1 any failure (one `error:` line on stderr),
//! 2 bad command-line usage (from clap).

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(name = "jib-image", version, about, long_about = None)]
struct Cli {
    /// Print only results (digests, tables, JSON) and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more about each step (repeat for more detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an image from a TOML spec.
    Build(cli::build::Args),
    /// Look after the build cache.
    Cache(cli::cache::Args),
    /// Pin the spec's npm inputs to exact versions and integrities.
    Lock(cli::lock::Args),
    /// Inspect Claude Code credentials.
    Creds(cli::creds::Args),
    /// Push an image from an OCI layout to a registry.
    Push(cli::push::Args),
    /// Show an image's config, layers and annotations.
    Inspect(cli::inspect::Args),
    /// Build a spec twice and report whether the image is reproducible.
    Verify(cli::verify::Args),
    /// Print shell completions.
    Completions(cli::completions::CompletionsArgs),
    /// Print the man page.
    Man,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::logging::init(cli.quiet, cli.verbose);
    let result = match cli.command {
        Command::Build(mut args) => {
            args.quiet = cli.quiet;
            cli::build::run(args)
        }
        Command::Lock(args) => cli::lock::run(args),
        Command::Cache(args) => cli::cache::run(args),
        Command::Creds(args) => cli::creds::run(args),
        Command::Push(mut args) => {
            args.quiet = cli.quiet;
            cli::push::run(args)
        }
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Verify(args) => cli::verify::run(args),
        Command::Completions(args) => cli::completions::completions(args, Cli::command()),
        Command::Man => cli::completions::man(Cli::command()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            cli::report_error(&err);
            ExitCode::FAILURE
        }
    }
}
