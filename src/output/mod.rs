//! Where a built image goes. Every destination implements [`Output`], so a
//! new one touches no builder code.

pub mod docker_archive;
pub mod layout;
pub mod load;
pub mod oci_archive;
pub mod tarball;

use anyhow::{Result, bail};

use crate::build::BuiltImage;
use crate::digest::Digest;
use crate::store::BlobStore;

/// What an output did, for people and for `--json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutputReport {
    /// `oci`, `oci-archive`, `docker-archive`, `registry`, …
    pub kind: String,
    /// The directory, file or reference written.
    pub location: String,
    /// The digest the destination knows the image by.
    pub digest: Digest,
}

pub trait Output {
    /// The destination as the user wrote it.
    fn describe(&self) -> String;
    /// Where the image's SBOM goes beside this output, if anywhere.
    fn sbom_path(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// Writes the image; all its blobs are in `store`.
    fn write(&self, image: &BuiltImage, store: &BlobStore) -> Result<OutputReport>;
}

/// Splits `PATH[:REF]`; the reference is whatever follows the last colon
/// when it looks like a tag (a path may itself hold colons).
pub fn split_ref(rest: &str) -> (&str, Option<&str>) {
    match rest.rsplit_once(':') {
        Some((path, r)) if !path.is_empty() && !r.is_empty() && !r.contains('/') => (path, Some(r)),
        _ => (rest, None),
    }
}

/// Parses `--output` values: `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
/// `docker-archive:FILE[:NAME[:TAG]]`.
pub fn parse(value: &str) -> Result<Box<dyn Output>> {
    let Some((kind, rest)) = value.split_once(':') else {
        bail!("output '{value}': expected KIND:PATH such as oci:build/image");
    };
    if rest.is_empty() {
        bail!("output '{value}': no path after '{kind}:'");
    }
    match kind {
        "oci" => {
            let (dir, reference) = split_ref(rest);
            check_ref_name(value, reference)?;
            Ok(Box::new(layout::LayoutOutput::new(dir, reference)))
        }
        "oci-archive" => {
            let (file, reference) = split_ref(rest);
            check_ref_name(value, reference)?;
            Ok(Box::new(oci_archive::OciArchiveOutput::new(
                file, reference,
            )))
        }
        "docker-archive" => {
            // As skopeo reads it: the file ends at the first colon, the
            // rest is an image name that may hold a port and a tag.
            let (file, name) = match rest.split_once(':') {
                Some((file, name)) if !name.is_empty() => (file, Some(name)),
                _ => (rest.trim_end_matches(':'), None),
            };
            check_repo_tag(value, name)?;
            Ok(Box::new(docker_archive::DockerArchiveOutput::new(
                file, name,
            )))
        }
        other => bail!(
            "output '{value}': unknown kind '{other}' (expected oci, oci-archive or docker-archive)"
        ),
    }
}

/// An `org.opencontainers.image.ref.name` must follow the grammar of the
/// image-layout spec (components of alphanumerics joined by `-._:@+` or
/// `--`, separated by `/`); other names cannot be addressed by skopeo.
fn check_ref_name(value: &str, reference: Option<&str>) -> Result<()> {
    let Some(reference) = reference else {
        return Ok(());
    };
    let component = |c: &str| {
        let alnum =
            |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric());
        c.replace("--", "-")
            .split(['-', '.', '_', ':', '@', '+'])
            .all(alnum)
    };
    if !reference.split('/').all(component) {
        bail!(
            "output '{value}': '{reference}' is not a valid reference name              (letters and digits joined by one of -._:@+ or --)"
        );
    }
    Ok(())
}

/// A docker-archive's `RepoTags` entry must be a `name[:tag]` that
/// `docker load` accepts: a valid reference without a digest.
fn check_repo_tag(value: &str, name: Option<&str>) -> Result<()> {
    let Some(name) = name else {
        return Ok(());
    };
    match name.parse::<crate::registry::Reference>() {
        Ok(parsed) if parsed.digest.is_none() => Ok(()),
        Ok(_) => bail!("output '{value}': a docker-archive name takes a tag, not a digest"),
        Err(e) => bail!("output '{value}': {e}"),
    }
}

/// `PATH.spdx.json`: the SBOM's place beside a file or directory output.
pub fn beside(path: &std::path::Path) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".spdx.json");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ref_keeps_paths_with_colons() {
        assert_eq!(split_ref("out:latest"), ("out", Some("latest")));
        assert_eq!(split_ref("out"), ("out", None));
        assert_eq!(split_ref("a:b/c"), ("a:b/c", None));
    }

    #[test]
    fn reference_names_follow_the_layout_grammar() {
        for good in [
            "oci:o:latest",
            "oci:o:v1.0-rc_1",
            "oci:o:a--b",
            "oci-archive:f:x+y",
        ] {
            assert!(parse(good).is_ok(), "{good}");
        }
        for bad in [
            "oci:o:a b",
            "oci:o:-x",
            "oci:o:x.",
            "oci:o:a..b",
            "oci-archive:f:a$b",
        ] {
            let err = parse(bad).err().unwrap().to_string();
            assert!(err.contains("not a valid reference name"), "{bad}: {err}");
        }
    }

    #[test]
    fn docker_archive_names_are_references() {
        assert!(parse("docker-archive:f.tar:app:1").is_ok());
        assert!(parse("docker-archive:f.tar:localhost:5000/app:1").is_ok());
        for bad in ["docker-archive:f.tar:UPPER:1", "docker-archive:f.tar:a b:1"] {
            let err = parse(bad).err().unwrap().to_string();
            assert!(err.starts_with(&format!("output '{bad}': ")), "{err}");
        }
    }

    #[test]
    fn unknown_output_kind_is_named() {
        let err = parse("tarball:x").err().unwrap().to_string();
        assert!(err.contains("unknown kind 'tarball'"), "{err}");
    }
}
