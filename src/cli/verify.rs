//! `jib-image verify`: build a spec twice and compare the results.
//!
//! The two builds run as child processes of this binary with what a second
//! machine would do differently: a separate empty cache (nothing reused),
//! a different umask (022, then 077), a different temporary directory and
//! working directory, and a later wall clock (the second build starts at
//! least one second after the first). `SOURCE_DATE_EPOCH`, when set, is
//! passed to both. Equal digests mean the spec builds reproducibly under
//! those changes; otherwise the first layer and tar entry that differ are
//! named.
//!
//! Test hook: when `JIB_IMAGE_VERIFY_BETWEEN` is set, it is run with
//! `sh -c` between the two builds (the tests use it to change an input on
//! purpose). It is meant for tests only.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use jib_image::verify::{self, Difference};

#[derive(clap::Args)]
pub struct Args {
    /// The image spec (TOML).
    #[arg(default_value = "spec/jib.toml")]
    pub spec: PathBuf,
    /// Build only these of the spec's platforms (os/arch, repeatable).
    #[arg(long = "platform", value_name = "OS/ARCH")]
    pub platforms: Vec<String>,
}

const HOOK: &str = "JIB_IMAGE_VERIFY_BETWEEN";

pub fn run(args: Args) -> Result<()> {
    let spec = std::path::absolute(&args.spec)
        .with_context(|| format!("resolving {}", args.spec.display()))?;
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let first = build(&args, &spec, work.path(), "first", "022")?;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    if let Some(hook) = std::env::var_os(HOOK) {
        let status = Command::new("sh").arg("-c").arg(&hook).status()?;
        if !status.success() {
            bail!("{HOOK} failed: {status}");
        }
    }
    let second = build(&args, &spec, work.path(), "second", "077")?;
    match verify::compare(&first.layout, &second.layout)? {
        None => {
            eprintln!("reproducible: both builds gave {}", first.digest);
            super::print_line(&first.digest)?;
            Ok(())
        }
        Some(difference) => bail!(
            "{} is not reproducible: {}",
            args.spec.display(),
            describe(&difference, &first.result)
        ),
    }
}

struct Build {
    layout: PathBuf,
    digest: String,
    result: Value,
}

/// One build in its own directory, cache, umask and temporary directory.
fn build(args: &Args, spec: &Path, work: &Path, name: &str, umask: &str) -> Result<Build> {
    let dir = work.join(name);
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let layout = dir.join("image");
    let exe = std::env::current_exe().context("finding this program")?;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(exe)
        .arg("-q")
        .arg("build")
        .arg(spec)
        .arg("--json")
        .arg("--output")
        .arg(format!("oci:{}", layout.display()))
        .arg("--cache-dir")
        .arg(dir.join("cache"));
    for p in &args.platforms {
        command.arg("--platform").arg(p);
    }
    let output = command
        .current_dir(&dir)
        .env("TMPDIR", &tmp)
        .env_remove("JIB_IMAGE_CACHE")
        .output()
        .with_context(|| format!("running the {name} build"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("the {name} build failed: {}", stderr.trim());
    }
    let result: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("reading the {name} build's result"))?;
    let digest = result["digest"].as_str().unwrap_or_default().to_string();
    Ok(Build {
        layout,
        digest,
        result,
    })
}

fn describe(difference: &Difference, result: &Value) -> String {
    match difference {
        Difference::Layer {
            platform,
            index,
            digests,
            entry,
        } => {
            let name = result["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["platform"] == platform.as_str())
                .and_then(|m| m["layers"][*index]["name"].as_str())
                .unwrap_or("?");
            format!(
                "{platform}: layer {index} ({name}) differs ({} against {}): {entry}",
                digests.0, digests.1
            )
        }
        Difference::Document { platform, what } => format!("{platform}: {what}"),
        Difference::Shape(what) => what.clone(),
    }
}
