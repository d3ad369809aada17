//! `jib-image push`: copy an image from an OCI layout to a registry.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use jib_image::registry::{self, Client, ClientOptions, Reference};

/// Flags for reaching a registry, shared by every command that talks to one.
#[derive(clap::Args, Debug, Default)]
pub struct RegistryFlags {
    /// Use plain HTTP for the registry (loopback registries always use it).
    #[arg(long)]
    pub insecure: bool,
    /// Trust the CA certificates in this PEM file beside the system roots.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// User name for the registry (overrides stored credentials).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the password for --username from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Seconds to wait for a registry to answer, or to send more of a body,
    /// before the request counts as failed (and is retried) [default: 60].
    #[arg(long, value_name = "SECS", env = "JIB_IMAGE_TIMEOUT")]
    pub timeout: Option<u64>,
}

impl RegistryFlags {
    /// The client options these flags ask for (reads stdin for a password).
    pub fn client_options(&self) -> anyhow::Result<ClientOptions> {
        let password = if self.password_stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the password from standard input")?;
            Some(text.trim_end_matches(['\r', '\n']).to_string())
        } else {
            None
        };
        Ok(ClientOptions {
            insecure: self.insecure,
            ca_cert: self.ca_cert.clone(),
            username: self.username.clone(),
            password,
            timeout: self.timeout.map(std::time::Duration::from_secs),
            ..ClientOptions::default()
        })
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The image to push: `oci:DIR[:REF]`, REF naming an index.json entry.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Where to push it: `host[:port]/repository[:tag]`.
    #[arg(value_name = "TARGET")]
    pub target: String,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Set from the global `-q`: no progress on stderr.
    #[arg(skip)]
    pub quiet: bool,
}

/// `oci:DIR[:REF]` as a directory and an optional entry name, split the
/// way `--output oci:` values are.
fn parse_source(source: &str) -> anyhow::Result<(PathBuf, Option<String>)> {
    let rest = source
        .strip_prefix("oci:")
        .with_context(|| format!("source '{source}' is not of the form oci:DIR[:REF]"))?;
    let (dir, name) = jib_image::output::split_ref(rest);
    Ok((PathBuf::from(dir), name.map(str::to_string)))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (dir, name) = parse_source(&args.source)?;
    let target: Reference = args.target.parse()?;
    let progress = std::sync::Arc::new(super::progress::Progress::for_stderr(args.quiet));
    let client = Client::new(&args.registry.client_options()?)?.with_reporter(progress);
    let digest = registry::push_layout(&client, &dir, name.as_deref(), &target)
        .with_context(|| format!("pushing {} to {target}", dir.display()))?;
    super::print_line(&digest)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_a_directory_and_maybe_an_entry() {
        let table = [
            ("oci:out", ("out", None)),
            ("oci:out:v1", ("out", Some("v1"))),
            ("oci:/a:b/layout", ("/a:b/layout", None)),
            ("oci:/a:b/layout:x", ("/a:b/layout", Some("x"))),
        ];
        for (source, (dir, name)) in table {
            let (d, n) = parse_source(source).unwrap();
            assert_eq!((d, n.as_deref()), (PathBuf::from(dir), name), "{source}");
        }
        assert!(parse_source("docker://x").is_err());
    }
}
