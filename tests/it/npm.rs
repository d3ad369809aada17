//! The real Claude Code CLI package, through the user's npm configuration.
//!
//! This reaches the npm registry that the user's npm config names (never an
//! address of our own). Without `CI` an unreachable registry skips the test;
//! with `CI` set it fails. Tarballs are cached under
//! `$XDG_CACHE_HOME/jib-image/npm`, so only the first run downloads them.

use std::path::Path;
use std::process::Command;

use jib_image::layer::entry::{Content, EntryKind, LayerPath};
use jib_image::npm::config::process_env;
use jib_image::npm::lock::{Lockfile, resolve};
use jib_image::npm::{
    Integrity, NpmCache, NpmClient, NpmConfig, NpmSource, build_tree, resolve_for_build,
};
use jib_image::platform::{Libc, Platform};

const PACKAGE: &str = "@anthropic-ai/claude-code";
const VERSION: &str = "2.1.332";
/// The registry's integrity values for 2.1.332, recorded when this test was
/// written; a registry that serves other bytes under this version fails it.
const MAIN_INTEGRITY: &str = "sha512-tvSh6bLvEbd97APD31AnojOrRC3AmcRj5R8sF8QIQitu3x2ucOb1kKmTkGDw41kjva+CGJfpkt+wYouk6yv56Q==";
const LINUX_X64_INTEGRITY: &str = "sha512-f4JWhzwYutJIHScC7/dYOPX6s28tt7ZADhsOi8zwOHq5fFPEuUeChh2NMfinSg0GrUckYxaeebC4h0DqiKzLcw==";
const LINUX_ARM64_INTEGRITY: &str = "sha512-BlHNEtK38KBPWU31F4lUSS9sHclCyfWbThT1CErvxxH8+XcljYLZlQwdyXBkTD62rw1TgfE1u1a+quMWS0NSJg==";

fn source() -> NpmSource {
    NpmSource {
        package: PACKAGE.into(),
        version: VERSION.into(),
        integrity: Some(MAIN_INTEGRITY.into()),
        bin_dir: None,
        libc: Some("glibc".into()),
        node_modules: false,
    }
}

/// The client, or `None` (test skipped) when the registry cannot be
/// reached outside CI.
fn client() -> Option<NpmClient> {
    let config = NpmConfig::load(Path::new(env!("CARGO_MANIFEST_DIR"))).expect("npm config");
    let client = NpmClient::new(config).expect("npm client");
    match client.packument(PACKAGE) {
        Ok(_) => Some(client),
        Err(err) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: the npm registry is not reachable: {err}");
            None
        }
        Err(err) => panic!("the npm registry must be reachable in CI: {err}"),
    }
}

fn integrity(raw: &str) -> Integrity {
    raw.parse().unwrap()
}

#[test]
fn lock_records_the_real_integrities() {
    let Some(client) = client() else { return };
    let platforms = [
        Platform::new("linux", "amd64"),
        Platform::new("linux", "arm64"),
    ];
    let entry = resolve(&source(), &platforms, &client).unwrap();
    assert_eq!(entry.version, VERSION);
    assert_eq!(entry.integrity, integrity(MAIN_INTEGRITY));
    let find = |name: &str| {
        entry
            .native
            .iter()
            .find(|n| n.package.name == name)
            .unwrap_or_else(|| panic!("{name} missing from {:?}", entry.native))
    };
    let x64 = find("@anthropic-ai/claude-code-linux-x64");
    assert_eq!(x64.package.integrity, integrity(LINUX_X64_INTEGRITY));
    assert_eq!(x64.libc, ["glibc"]);
    let arm64 = find("@anthropic-ai/claude-code-linux-arm64");
    assert_eq!(arm64.package.integrity, integrity(LINUX_ARM64_INTEGRITY));
    assert!(entry.native.iter().all(|n| n.os == ["linux"]));

    let mut lock = Lockfile::default();
    lock.insert(entry);
    let text = lock.to_toml();
    assert!(!text.contains("http"), "a lock names no registry:\n{text}");
}

#[test]
fn claude_code_installs_as_a_native_binary() {
    let Some(client) = client() else { return };
    let platform = Platform::new("linux", "amd64");
    let cache = NpmCache::open(NpmCache::default_root(&process_env()).unwrap()).unwrap();
    let resolved = resolve_for_build(&source(), None, &platform, &client).unwrap();
    let (tree, records) = build_tree(
        &source(),
        &resolved,
        &platform,
        Libc::Glibc,
        0,
        &cache,
        &client,
    )
    .unwrap();

    let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, [PACKAGE, "@anthropic-ai/claude-code-linux-x64"]);
    let entry = &tree[&LayerPath::new("usr/local/bin/claude").unwrap()];
    assert_eq!(entry.mode, 0o755);
    let EntryKind::File {
        content: Content::Path(binary),
        size,
    } = &entry.kind
    else {
        panic!("claude is {:?}", entry.kind);
    };
    assert!(
        *size > 50 << 20,
        "a native binary, not the placeholder: {size} bytes"
    );
    let magic = std::fs::read(binary).unwrap()[..4].to_vec();
    assert_eq!(magic, b"\x7fELF");

    if std::env::consts::ARCH != "x86_64" {
        eprintln!(
            "not running the linux/amd64 binary on {}",
            std::env::consts::ARCH
        );
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(binary)
        .arg("--version")
        .env("HOME", home.path())
        .env("DISABLE_AUTOUPDATER", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout.trim(), "2.1.332 (Claude Code)");
}
