//! One spec, two platforms: an OCI index with linux/amd64 and linux/arm64,
//! pushed under one tag to the real registry and run under podman (arm64
//! through qemu-user emulation).

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{self, registry::TestRegistry, rootfs};

const CLAUDE_INTEGRITY: &str = "sha512-tvSh6bLvEbd97APD31AnojOrRC3AmcRj5R8sF8QIQitu3x2ucOb1kKmTkGDw41kjva+CGJfpkt+wYouk6yv56Q==";

fn jib(args: &[&str], cache: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_jib-image"))
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "jib-image {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_spec(dir: &Path) -> std::path::PathBuf {
    let spec = format!(
        r##"
platforms = ["linux/amd64", "linux/arm64"]

[base]
libc = "glibc"
[base.platforms."linux/amd64"]
rootfs = "{amd64}"
[base.platforms."linux/arm64"]
rootfs = "{arm64}"

[[layers]]
name = "claude-code"
[layers.npm]
package = "@anthropic-ai/claude-code"
version = "2.1.332"
integrity = "{CLAUDE_INTEGRITY}"

[[layers]]
name = "docs"
[[layers.file]]
path = "/usr/local/share/claude-commands/hello.md"
content = "# hello\n"
[[layers.dir]]
path = "/tmp/agent-tmp"
mode = "1777"

[[layers]]
name = "entrypoint"
[[layers.copy]]
src = "{shim_amd64}"
dest = "/usr/local/bin/jib-entrypoint"
mode = "0755"
platform = "linux/amd64"
[[layers.copy]]
src = "{shim_arm64}"
dest = "/usr/local/bin/jib-entrypoint"
mode = "0755"
platform = "linux/arm64"

[config]
entrypoint = ["/usr/local/bin/jib-entrypoint"]

[credentials]
source = "/opt/host-claude-credentials.json"
"##,
        amd64 = rootfs::minbase_tar("amd64").display(),
        arm64 = rootfs::minbase_tar("arm64").display(),
        shim_amd64 = rootfs::shim("x86_64-unknown-linux-musl").display(),
        shim_arm64 = rootfs::shim("aarch64-unknown-linux-musl").display(),
    );
    let path = dir.join("multi.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

fn index_of(reference: &str) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn manifest_of(registry: &TestRegistry, repo: &str, digest: &str) -> serde_json::Value {
    index_of(&format!("docker://{}/{repo}@{digest}", registry.host))
}

/// Runs the pushed image for one platform with fake credentials mounted.
fn run(reference: &str, platform: &str, work: &Path) -> String {
    let creds = work.join("creds.json");
    std::fs::write(
        &creds,
        r#"{"claudeAiOauth":{"accessToken":"fake","refreshToken":"fake","expiresAt":4102444800000,
"scopes":["user:inference","user:profile","user:sessions:claude_code"],"subscriptionType":"pro"}}"#,
    )
    .unwrap();
    let script =
        "uname -m; claude --version; stat -c '%a %u:%g' \"$HOME/.claude/.credentials.json\"";
    let out = Command::new("timeout")
        .args([
            "-k",
            "10",
            "600",
            "podman",
            "--runtime",
            "runc",
            "--storage-driver=vfs",
        ])
        .arg("--root")
        .arg(work.join("storage"))
        .arg("--runroot")
        .arg(work.join("run"))
        .args([
            "run",
            "--rm",
            "--init",
            "--cgroup-manager=cgroupfs",
            "--net=none",
            "--tls-verify=false",
        ])
        .args([
            "--platform",
            platform,
            "-e",
            "RUNTIME_UID=1234",
            "-e",
            "RUNTIME_GID=1234",
        ])
        .arg("-v")
        .arg(format!(
            "{}:/opt/host-claude-credentials.json:ro",
            creds.display()
        ))
        .args([reference, "sh", "-c", script])
        .env("CONTAINERS_CONF", rootfs::containers_conf(work))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "podman run {platform}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn one_spec_builds_and_runs_on_amd64_and_arm64() {
    if !support::require_tools(&["mmdebstrap", "skopeo", "podman", "docker-registry"])
        || !rootfs::arm64_emulation()
    {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let spec = write_spec(work.path());
    let spec = spec.to_str().unwrap();
    // Downloads are shared with the user's cache; layers start from nothing.
    let shared = rootfs::cache_dir();
    let cache = work.path().join("cache");
    let reference = format!("{}/multi:latest", registry.host);

    let first = jib(&["build", spec, "-q", "--push", &reference], &shared);
    let digest = String::from_utf8(first.stdout).unwrap().trim().to_string();

    let index = index_of(&registry.docker_ref("multi:latest"));
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let manifests = index["manifests"].as_array().unwrap();
    let arches: Vec<&str> = manifests
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);

    // The docs layer is the same blob on both platforms; the others differ.
    let layers: Vec<Vec<String>> = manifests
        .iter()
        .map(|m| {
            let manifest = manifest_of(&registry, "multi", m["digest"].as_str().unwrap());
            manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["digest"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(layers[0].len(), 4);
    assert_eq!(
        layers[0][2], layers[1][2],
        "the shared docs layer differs between platforms"
    );
    assert_ne!(
        layers[0][1], layers[1][1],
        "the claude layer must be per platform"
    );
    assert_ne!(
        layers[0][3], layers[1][3],
        "the shim layer must be per platform"
    );

    // A build from an empty layer cache gives the same index.
    std::fs::create_dir_all(&cache).unwrap();
    let again = jib(
        &[
            "build",
            spec,
            "-q",
            "-o",
            &format!("oci:{}/layout", work.path().display()),
        ],
        &cache,
    );
    assert_eq!(String::from_utf8(again.stdout).unwrap().trim(), digest);
    let layout_index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("layout/index.json")).unwrap())
            .unwrap();
    let entries = layout_index["manifests"].as_array().unwrap();
    // The named entry is the index; every platform's manifest is listed
    // beside it, and the index lists manifests only.
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["digest"].as_str().unwrap(), digest);
    let platforms: Vec<&str> = entries[1..]
        .iter()
        .map(|e| e["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);

    let arm = run(&reference, "linux/arm64", work.path());
    assert_eq!(
        arm.lines().collect::<Vec<_>>(),
        ["aarch64", "2.1.332 (Claude Code)", "600 1234:1234"],
        "{arm}"
    );
    let amd = run(&reference, "linux/amd64", work.path());
    assert_eq!(
        amd.lines().collect::<Vec<_>>(),
        ["x86_64", "2.1.332 (Claude Code)", "600 1234:1234"],
        "{amd}"
    );
}
