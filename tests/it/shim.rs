//! The static `jib-entrypoint` shim inside a real Debian rootfs under podman.
//!
//! The shim is built here (`cargo build --profile shim --target
//! x86_64-unknown-linux-musl --no-default-features`) into its own target
//! directory, `<target>/shim-it`, so the build never waits on the lock of
//! the `cargo test` running it. The rootfs is the shared minbase tarball
//! (`scripts/base.sh`, from the host's apt sources), unpacked once into
//! `${XDG_CACHE_HOME:-~/.cache}/jib-image/test-rootfs`; every run mounts it
//! as an overlay (`--rootfs DIR:O`), so the cache stays pristine, and binds
//! the shim in read-only.
//!
//! Without podman or mmdebstrap the tests skip, unless `CI` is set: then
//! they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const SHIM_IN_CONTAINER: &str = "/jib-entrypoint";
const SOURCE_IN_CONTAINER: &str = "/opt/host-claude-credentials.json";

/// Everything a test needs, made once per test binary.
struct Fixture {
    shim: PathBuf,
    rootfs: PathBuf,
    containers_conf: PathBuf,
}

fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            if !crate::support::require_tools(&["podman", "mmdebstrap"]) {
                return None;
            }
            let scratch = scratch_dir("fixture");
            let containers_conf = crate::support::rootfs::containers_conf(&scratch);
            Some(Fixture {
                shim: crate::support::rootfs::shim("x86_64-unknown-linux-musl"),
                rootfs: debian_rootfs(),
                containers_conf,
            })
        })
        .as_ref()
}

/// The cached Debian rootfs, made under a temporary name and renamed, so a
/// failed or concurrent run never leaves half a rootfs in the cache.
fn debian_rootfs() -> PathBuf {
    let cache = crate::support::rootfs::cache_dir();
    let rootfs = cache.join("test-rootfs");
    if rootfs.join("bin/sh").exists() {
        return rootfs;
    }
    std::fs::create_dir_all(&cache).unwrap();
    let partial = cache.join(format!("test-rootfs.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).unwrap();
    // The shared minbase tarball (from the host's apt sources), unpacked
    // with its owners and modes.
    let tarball = crate::support::rootfs::minbase_tar("amd64");
    let status = Command::new("tar")
        .args(["--numeric-owner", "-xpf"])
        .arg(&tarball)
        .arg("-C")
        .arg(&partial)
        .status()
        .expect("running tar");
    assert!(status.success(), "unpacking {} failed", tarball.display());
    if std::fs::rename(&partial, &rootfs).is_err() {
        // Another run finished first; its rootfs is as good as ours.
        let _ = std::fs::remove_dir_all(&partial);
    }
    rootfs
}

/// A fresh directory under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jib-it-shim-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn credentials(scopes: &[&str]) -> String {
    serde_json::json!({
        "claudeAiOauth": {
            "accessToken": "fake-access-token",
            "refreshToken": "fake-refresh-token",
            "expiresAt": 4_102_444_800_000u64,
            "scopes": scopes,
            "subscriptionType": "pro",
        }
    })
    .to_string()
}

const ALL_SCOPES: [&str; 3] = [
    "user:inference",
    "user:profile",
    "user:sessions:claude_code",
];

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `command` through the shim with `options` for `podman run`.
fn run(fixture: &Fixture, options: &[String], command: &[&str]) -> Output {
    let output = Command::new("podman")
        .env("CONTAINERS_CONF", &fixture.containers_conf)
        .args(["--runtime", "runc", "--storage-driver=vfs", "run", "--rm"])
        .args(["--cgroup-manager=cgroupfs", "--net=none"])
        .arg("-v")
        .arg(format!("{}:{SHIM_IN_CONTAINER}:ro", fixture.shim.display()))
        .args(["--entrypoint", SHIM_IN_CONTAINER])
        .args(["-e", "RUNTIME_UID=1234", "-e", "RUNTIME_GID=1234"])
        .args(options)
        .arg("--rootfs")
        .arg(format!("{}:O", fixture.rootfs.display()))
        .args(command)
        .output()
        .expect("running podman");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn mount_credentials(dir: &Path, content: &str, mode: u32) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let file = dir.join("credentials.json");
    std::fs::write(&file, content).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    vec![
        "-v".into(),
        format!("{}:{SOURCE_IN_CONTAINER}:ro", file.display()),
    ]
}

const STAT_AND_ID: &str = r#"stat -c '%a %u:%g' "$HOME/.claude/.credentials.json"; id -u"#;

#[test]
fn copy_is_private_and_owned_by_the_runtime_user() {
    let Some(fixture) = fixture() else { return };
    let scratch = Scratch(scratch_dir("owned"));
    let options = mount_credentials(&scratch.0, &credentials(&ALL_SCOPES), 0o600);
    let output = run(fixture, &options, &["sh", "-c", STAT_AND_ID]);
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    // stdout is the command's alone; the shim speaks on stderr.
    assert_eq!(output.stdout, "600 1234:1234\n1234\n");
    assert!(
        output.stderr.contains("loaded Claude credentials"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains("warning"), "{}", output.stderr);
    assert!(!output.stderr.contains("fake-access-token"));
    assert!(
        output
            .stderr
            .lines()
            .all(|line| line.starts_with("jib-entrypoint: "))
    );
}

#[test]
fn loose_source_under_umask_000_still_gives_600() {
    let Some(fixture) = fixture() else { return };
    let scratch = Scratch(scratch_dir("umask"));
    let mut options = mount_credentials(&scratch.0, &credentials(&ALL_SCOPES), 0o644);
    options.push("--umask=0000".into());
    let output = run(fixture, &options, &["sh", "-c", STAT_AND_ID]);
    assert_eq!(output.stdout, "600 1234:1234\n1234\n", "{}", output.stderr);
}

#[test]
fn missing_scope_is_named() {
    let Some(fixture) = fixture() else { return };
    let scratch = Scratch(scratch_dir("scope"));
    let options = mount_credentials(
        &scratch.0,
        &credentials(&["user:inference", "user:profile"]),
        0o600,
    );
    let output = run(fixture, &options, &["true"]);
    assert_eq!(output.code, Some(0));
    assert!(
        output.stderr.contains("user:sessions:claude_code"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("log in again"), "{}", output.stderr);
    assert_eq!(output.stdout, "");
}

#[test]
fn no_credentials_gives_a_warning_and_the_command_still_runs() {
    let Some(fixture) = fixture() else { return };
    let output = run(fixture, &[], &["sh", "-c", "echo hello; id -un; exit 7"]);
    assert_eq!(
        output.code,
        Some(7),
        "the command's exit code passes through"
    );
    assert_eq!(output.stdout, "hello\nsandboxed\n");
    assert!(
        output.stderr.contains("warning: no Claude credentials"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("browser"), "{}", output.stderr);
}

#[test]
fn planted_links_in_the_home_are_not_followed() {
    let Some(fixture) = fixture() else { return };
    let scratch = Scratch(scratch_dir("links"));
    let home = scratch.0.join("home");
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", home.join(".claude/.credentials.json")).unwrap();
    let mut options = mount_credentials(&scratch.0, &credentials(&ALL_SCOPES), 0o600);
    options.push("-v".into());
    options.push(format!("{}:/home/sandboxed", home.display()));
    let script = r#"stat -c '%F %a %u %s' /etc/shadow ~/.claude/.credentials.json"#;
    let output = run(fixture, &options, &["sh", "-c", script]);
    let shadow_size = std::fs::metadata(fixture.rootfs.join("etc/shadow"))
        .unwrap()
        .len();
    let copy_size = credentials(&ALL_SCOPES).len();
    let expected = format!("regular file 640 0 {shadow_size}\nregular file 600 1234 {copy_size}\n");
    assert_eq!(output.stdout, expected, "{}", output.stderr);

    // Now the whole directory points at /etc.
    std::fs::remove_dir_all(home.join(".claude")).unwrap();
    std::os::unix::fs::symlink("/etc", home.join(".claude")).unwrap();
    let script =
        r#"stat -c '%F %a' /etc ~/.claude; test ! -e /etc/.credentials.json && echo clean"#;
    let output = run(fixture, &options, &["sh", "-c", script]);
    assert_eq!(
        output.stdout, "directory 755\ndirectory 700\nclean\n",
        "{}",
        output.stderr
    );
}
