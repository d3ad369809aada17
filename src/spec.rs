//! The image spec as written in TOML: plain serde structs, nothing checked
//! beyond types. [`crate::plan`] validates them and resolves paths.
//!
//! Every struct refuses unknown keys; [`parse`] turns serde's message into
//! one line with the file, line and column, and the nearest valid key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::layer::Compression;

/// An image spec (`spec/*.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// One target platform, `os/arch[/variant]` (default `linux/amd64`).
    pub platform: Option<String>,
    /// Several target platforms; the outputs then hold an image index.
    pub platforms: Option<Vec<String>>,
    /// Default compression of every layer this spec builds.
    pub compression: Option<Compression>,
    #[serde(default)]
    pub base: BaseSpec,
    #[serde(default)]
    pub layers: Vec<LayerSpec>,
    #[serde(default)]
    pub config: ConfigSpec,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Settings of the entrypoint shim, passed to it through the environment.
    pub credentials: Option<CredentialsSpec>,
    /// Where `org.opencontainers.image.*` annotations come from.
    #[serde(default)]
    pub metadata: MetadataSpec,
}

/// Where the image starts from: at most one of `rootfs`, `layout`, `image`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSpec {
    /// A rootfs tarball (plain or gzip) or directory.
    pub rootfs: Option<String>,
    /// An OCI image layout directory, with `ref` naming the image in it.
    pub layout: Option<String>,
    #[serde(rename = "ref")]
    pub ref_name: Option<String>,
    /// A registry reference (`host/repo:tag` or `@sha256:…`).
    pub image: Option<String>,
    /// The C library of the base (`glibc` or `musl`), when not detected.
    pub libc: Option<String>,
    /// Per-platform overrides, keyed by `os/arch`.
    #[serde(default)]
    pub platforms: BTreeMap<String, BaseSpec>,
}

/// One layer, inline in the spec or (with `include`) from a layer file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSpec {
    /// A layer file (`layers/*.toml`) that declares this layer.
    pub include: Option<String>,
    pub name: Option<String>,
    pub compression: Option<Compression>,
    /// Lets this layer hold files that look like credentials.
    #[serde(default)]
    pub allow_secrets: bool,
    /// Defaults for the entries of this layer.
    pub mtime: Option<u64>,
    #[serde(default)]
    pub copy: Vec<CopySpec>,
    #[serde(default)]
    pub dir: Vec<DirSpec>,
    #[serde(default)]
    pub symlink: Vec<SymlinkSpec>,
    #[serde(default)]
    pub file: Vec<FileSpec>,
    /// A package from the npm registry, installed without running scripts.
    pub npm: Option<crate::npm::NpmSource>,
}

/// A mode: an octal string (`"0644"`, `"1777"`) or a TOML integer (`0o644`).
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a mode: an octal string such as \"0644\" or a number such as 0o644"
)]
pub enum ModeSpec {
    Octal(String),
    Number(u32),
}

/// Copies a file or a directory tree from the build machine.
///
/// Several copies may fill one directory when they agree on its mode and
/// owner; a `[[dir]]` of the same path decides them instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopySpec {
    pub src: String,
    pub dest: String,
    /// File-name patterns (`*.md`); a directory copy takes only matching files.
    #[serde(default)]
    pub include: Vec<String>,
    /// Name patterns of files and directories left out of a directory copy
    /// (a directory left out takes its whole subtree with it).
    #[serde(default)]
    pub exclude: Vec<String>,
    pub mode: Option<ModeSpec>,
    pub dir_mode: Option<ModeSpec>,
    pub owner: Option<String>,
    pub mtime: Option<u64>,
    /// Only for this platform (`os/arch`); all platforms when absent.
    pub platform: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    pub path: String,
    pub mode: Option<ModeSpec>,
    pub owner: Option<String>,
    pub mtime: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymlinkSpec {
    pub path: String,
    pub target: String,
    pub owner: Option<String>,
    pub mtime: Option<u64>,
}

/// A file whose content is written in the spec itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: String,
    pub content: String,
    pub mode: Option<ModeSpec>,
    pub owner: Option<String>,
    pub mtime: Option<u64>,
}

/// The image config, as in the OCI image spec's `config` object.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
}

/// Settings of the entrypoint shim; they reach it as `JIB_*` and `RUNTIME_*`
/// environment variables of the image.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsSpec {
    pub source: Option<String>,
    pub destination: Option<String>,
    pub required_scopes: Option<Vec<String>>,
    pub runtime_user: Option<String>,
    pub runtime_uid: Option<u32>,
    pub runtime_gid: Option<u32>,
}

/// Values for the `org.opencontainers.image.*` annotations.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataSpec {
    pub title: Option<String>,
    pub version: Option<String>,
    pub source: Option<String>,
    pub revision: Option<String>,
    /// Fill `source` and `revision` from the git checkout holding the spec.
    #[serde(default)]
    pub from_git: bool,
}

/// A spec file that could not be read or parsed, as one line.
#[derive(Debug, thiserror::Error)]
#[error("{path}{location}: {message}")]
pub struct SpecError {
    pub path: PathBuf,
    pub location: String,
    pub message: String,
}

/// Reads and parses a TOML file into `T`.
pub fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SpecError> {
    let text = crate::input::read_to_string(path).map_err(|e| SpecError {
        path: path.to_path_buf(),
        location: String::new(),
        message: crate::plan::io_cause(&e),
    })?;
    parse(path, &text)
}

/// Parses TOML text, reporting errors against `path`.
pub fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, SpecError> {
    toml::from_str(text).map_err(|e| {
        let location = e
            .span()
            .map(|span| {
                let (line, column) = line_column(text, span.start);
                format!(":{line}:{column}")
            })
            .unwrap_or_default();
        SpecError {
            path: path.to_path_buf(),
            location,
            message: explain(e.message()),
        }
    })
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Rewrites serde's "unknown field" message with a suggestion, and folds
/// any message onto one line.
fn explain(message: &str) -> String {
    let one_line = message.trim().replace('\n', " ");
    let Some(rest) = one_line.strip_prefix("unknown field `") else {
        return one_line;
    };
    let Some((unknown, expected)) = rest.split_once('`') else {
        return one_line;
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let nearest = candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(unknown, c), *c))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match nearest {
        Some((_, key)) => format!("unknown key `{unknown}` (did you mean `{key}`?)"),
        None => format!(
            "unknown key `{unknown}` (valid keys: {})",
            candidates.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_line_column_and_nearest_key() {
        let text = "platform = \"linux/amd64\"\n[config]\nentrypiont = [\"/bin/sh\"]\n";
        let err = parse::<ImageSpec>(Path::new("spec/x.toml"), text).unwrap_err();
        let line = err.to_string();
        assert!(
            line.starts_with("spec/x.toml:3:1: unknown key `entrypiont`"),
            "{line}"
        );
        assert!(line.contains("did you mean `entrypoint`"), "{line}");
    }

    #[test]
    fn wrong_type_is_one_line_with_location() {
        let err = parse::<ImageSpec>(Path::new("s.toml"), "[config]\ncmd = 3\n").unwrap_err();
        let line = err.to_string();
        assert!(line.starts_with("s.toml:2:7:"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn full_layer_file_parses() {
        let text = r#"
            name = "docs"
            compression = "zstd"
            [[copy]]
            src = "docs"
            dest = "/usr/share/doc/x/"
            include = ["*.md"]
            mode = "0644"
            owner = "0:0"
            [[dir]]
            path = "/tmp/agent-tmp"
            mode = 0o1777
            [[symlink]]
            path = "/usr/bin/x"
            target = "../share/x"
        "#;
        let layer: LayerSpec = parse(Path::new("l.toml"), text).unwrap();
        assert_eq!(layer.copy.len(), 1);
        assert!(matches!(layer.dir[0].mode, Some(ModeSpec::Number(0o1777))));
        assert_eq!(layer.compression, Some(Compression::Zstd));
    }
}
