//! The repository's own image spec, `spec/jib.toml`, built end to end over
//! a small Debian rootfs and unpacked with umoci.
//!
//! The test copies the spec into a scratch directory with two changes: the
//! base is a `minbase` rootfs (made once by `scripts/base.sh` and cached in
//! the user's cache directory) instead of the full package set, and the
//! entrypoint layer takes the static shim from this build's target
//! directory. Every other layer file, the lock and the config are the
//! repository's. npm downloads are shared with the other tests through the
//! user's cache; everything else the build caches stays in the scratch
//! directory.
//!
//! Without mmdebstrap or umoci the test skips, unless `CI` is set: then it
//! fails. So does an unreachable npm registry in CI.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::require_tools;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const MUSL: &str = "x86_64-unknown-linux-musl";

/// The static shim: the one `make shim` built, else one built for the test.
fn shim() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(REPO).join("target"));
    let made = target.join(MUSL).join("shim/jib-entrypoint");
    if made.is_file() {
        return made;
    }
    crate::support::rootfs::shim(MUSL)
}

/// `spec/jib.toml`, rewritten into `scratch` to build over `base` with
/// `shim`; layer files are the repository's, except the entrypoint's.
fn write_test_spec(scratch: &Path, base: &Path, shim: &Path) -> PathBuf {
    let spec_dir = Path::new(REPO).join("spec");
    let text = std::fs::read_to_string(spec_dir.join("jib.toml")).unwrap();
    let mut spec: toml::Table = toml::from_str(&text).unwrap();

    // The amd64 image only: its base is the minbase rootfs.
    let base_table = spec["base"].as_table_mut().unwrap();
    base_table.remove("platforms");
    base_table.insert(
        "rootfs".into(),
        toml::Value::String(base.display().to_string()),
    );
    for layer in spec["layers"].as_array_mut().unwrap() {
        let include = spec_dir.join(layer["include"].as_str().unwrap());
        let include = if include.ends_with("entrypoint.toml") {
            entrypoint_layer(scratch, &include, shim)
        } else {
            include
        };
        layer["include"] = toml::Value::String(include.display().to_string());
    }

    std::fs::copy(spec_dir.join("jib.lock"), scratch.join("jib.lock")).unwrap();
    let path = scratch.join("jib.toml");
    std::fs::write(&path, toml::to_string(&spec).unwrap()).unwrap();
    path
}

/// The repository's entrypoint layer file with `src` pointing at `shim`.
fn entrypoint_layer(scratch: &Path, original: &Path, shim: &Path) -> PathBuf {
    let text = std::fs::read_to_string(original).unwrap();
    let mut layer: toml::Table = toml::from_str(&text).unwrap();
    layer["copy"][0]["src"] = toml::Value::String(shim.display().to_string());
    let path = scratch.join("entrypoint.toml");
    std::fs::write(&path, toml::to_string(&layer).unwrap()).unwrap();
    path
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn repository_spec_builds_and_unpacks() {
    if !require_tools(&["mmdebstrap", "umoci"]) {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let shim = shim();
    let base = crate::support::rootfs::minbase_tar("amd64");
    let spec = write_test_spec(scratch.path(), &base, &shim);

    // npm tarballs are large and verified by integrity: share them.
    let cache = scratch.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(crate::support::rootfs::cache_dir().join("npm")).unwrap();
    std::os::unix::fs::symlink(
        crate::support::rootfs::cache_dir().join("npm"),
        cache.join("npm"),
    )
    .unwrap();

    let layout = scratch.path().join("layout");
    let output = Command::new(env!("CARGO_BIN_EXE_jib-image"))
        .arg("build")
        .arg(&spec)
        .args(["--platform", "linux/amd64", "-o"])
        .arg(format!("oci:{}:test", layout.display()))
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let bundle = scratch.path().join("bundle");
    let mut unpack = Command::new("umoci");
    unpack.arg("unpack");
    if unsafe { libc::geteuid() } != 0 {
        unpack.arg("--rootless");
    }
    let status = unpack
        .arg("--image")
        .arg(format!("{}:test", layout.display()))
        .arg(&bundle)
        .status()
        .unwrap();
    assert!(status.success(), "umoci unpack failed");
    let rootfs = bundle.join("rootfs");

    let claude = rootfs.join("usr/local/bin/claude");
    assert!(std::fs::metadata(&claude).unwrap().len() > 1_000_000);
    assert_eq!(mode(&claude) & 0o111, 0o111, "claude is executable");
    for dir in ["usr/local/share/claude-commands", "opt/claude-rules"] {
        let docs: Vec<_> = std::fs::read_dir(rootfs.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(!docs.is_empty(), "{dir} is empty");
        for doc in docs {
            assert_eq!(doc.extension().unwrap(), "md");
            assert_eq!(mode(&doc), 0o644, "{}", doc.display());
        }
    }
    assert_eq!(mode(&rootfs.join("tmp/agent-tmp")), 0o1777);
    let entrypoint = rootfs.join("usr/local/bin/jib-entrypoint");
    assert_eq!(mode(&entrypoint), 0o755);
    assert_eq!(std::fs::metadata(&entrypoint).unwrap().uid(), 0);

    // The runtime config umoci derives from the image config.
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let process = &config["process"];
    assert_eq!(process["args"][0], "/usr/local/bin/jib-entrypoint");
    let env: Vec<&str> = process["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for wanted in [
        "DEBIAN_FRONTEND=noninteractive",
        "JIB_CREDENTIALS_SOURCE=/opt/host-claude-credentials.json",
        "JIB_REQUIRED_SCOPES=user:inference,user:profile,user:sessions:claude_code",
        "RUNTIME_UID=1000",
    ] {
        assert!(env.contains(&wanted), "{wanted} missing from {env:?}");
    }
}
