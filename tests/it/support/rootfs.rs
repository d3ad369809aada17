//! Real inputs shared by the end-to-end tests, made once and cached in
//! `${XDG_CACHE_HOME:-~/.cache}/jib-image/`: Debian minbase rootfs tarballs
//! (by `mmdebstrap`, from the host's own apt sources) and the static
//! entrypoint shim for each target.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The cache directory the tests share with the user's builds.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME must be set")
        .join("jib-image")
}

/// A Debian bookworm minbase rootfs tarball for `arch` (Debian's name:
/// `amd64`, `arm64`), made once by `scripts/base.sh` from the host's own
/// apt sources and cached in the user's cache directory.
pub fn minbase_tar(arch: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let empty_list = scratch.path().join("no-packages.txt");
    std::fs::write(&empty_list, "").unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(repo.join("scripts/base.sh"))
        .env("VARIANT", "minbase")
        .env("ARCH", arch)
        .arg("bookworm")
        .arg(&empty_list)
        .arg(scratch.path().join("link.tar"))
        .output()
        .expect("running scripts/base.sh");
    assert!(
        out.status.success(),
        "scripts/base.sh for {arch}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The static shim for a Rust target, built into `<target>/shim-it` so the
/// build never waits on the lock of the running `cargo test`.
pub fn shim(rust_target: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("target"))
        .join("shim-it");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--profile",
            "shim",
            "--no-default-features",
        ])
        .args(["--target", rust_target, "--bin", "jib-entrypoint"])
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .status()
        .expect("running cargo to build the shim");
    assert!(
        status.success(),
        "building the shim for {rust_target} failed"
    );
    target_dir.join(rust_target).join("shim/jib-entrypoint")
}

/// A containers.conf that podman accepts on this kind of machine.
pub fn containers_conf(dir: &Path) -> PathBuf {
    let path = dir.join("containers.conf");
    std::fs::write(&path, "[containers]\ndefault_ulimits = []\n").unwrap();
    path
}

/// Whether arm64 binaries run here (qemu-user through binfmt_misc). With
/// `CI` set, missing emulation fails the test.
pub fn arm64_emulation() -> bool {
    let on = std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64")
        .is_ok_and(|s| s.starts_with("enabled"));
    if !on {
        assert!(
            std::env::var_os("CI").is_none(),
            "arm64 emulation (qemu-aarch64 binfmt) is required when CI is set"
        );
        eprintln!("skipping: arm64 emulation is not enabled");
    }
    on
}
