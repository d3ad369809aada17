//! `build --load`: hand the image to the local container engine, through a
//! docker archive in a temporary file and `podman load` (or `docker load`
//! when podman is not installed).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::docker_archive::DockerArchiveOutput;
use super::{Output, OutputReport};
use crate::build::BuiltImage;
use crate::store::BlobStore;

/// The engines tried, in order.
const ENGINES: [&str; 2] = ["podman", "docker"];

pub struct LoadOutput {
    tag: String,
}

impl LoadOutput {
    pub fn new(tag: &str) -> Self {
        LoadOutput {
            tag: tag.to_string(),
        }
    }
}

/// The first engine on `PATH`.
fn engine() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ENGINES.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl Output for LoadOutput {
    fn describe(&self) -> String {
        format!("load:{}", self.tag)
    }

    fn write(&self, image: &BuiltImage, store: &BlobStore) -> Result<OutputReport> {
        let Some(engine) = engine() else {
            bail!(
                "--load: neither podman nor docker is on PATH; \
                 write the image with --output docker-archive:FILE instead"
            );
        };
        let dir = tempfile::tempdir().context("--load: creating a temporary directory")?;
        let file = dir.path().join("image.tar");
        let archive = DockerArchiveOutput::new(&file, Some(&self.tag));
        let report = archive.write(image, store)?;
        run_load(&engine, &file)?;
        Ok(OutputReport {
            kind: "load".into(),
            location: format!("{}:{}", name_of(&engine), self.tag),
            digest: report.digest,
        })
    }
}

fn name_of(engine: &Path) -> String {
    engine
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

fn run_load(engine: &Path, file: &Path) -> Result<()> {
    let output = Command::new(engine)
        .arg("load")
        .arg("-i")
        .arg(file)
        .output()
        .with_context(|| format!("--load: running {}", engine.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        bail!(
            "--load: {} load failed ({}): {}",
            name_of(engine),
            output.status,
            last.trim()
        );
    }
    tracing::info!("{}", String::from_utf8_lossy(&output.stdout).trim());
    Ok(())
}
