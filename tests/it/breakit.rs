//! Regressions found by using the CLI the way a careless or hostile user
//! would: each test names the fault it guards against.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use flate2::read::GzDecoder;

use crate::support::check::BIN;

fn jib(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("JIB_IMAGE_CACHE", dir.join("cache"))
        .stdin(Stdio::null())
        .output()
        .expect("running jib-image")
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A merged-/usr base: `/bin -> usr/bin`, a sticky `/tmp`, and a home
/// directory owned by its user.
fn base_tarball(path: &Path) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, mode: u32, uid: u64, link: Option<&str>| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(uid);
        header.set_mtime(0);
        header.set_size(0);
        if let Some(target) = link {
            header.set_link_name(target).unwrap();
        }
        tar.append_data(&mut header, name, std::io::empty())
            .unwrap();
    };
    add("usr/", tar::EntryType::Directory, 0o755, 0, None);
    add("usr/bin/", tar::EntryType::Directory, 0o755, 0, None);
    add("usr/bin/sh", tar::EntryType::Regular, 0o755, 0, None);
    add("bin", tar::EntryType::Symlink, 0o777, 0, Some("usr/bin"));
    add("tmp/", tar::EntryType::Directory, 0o1777, 0, None);
    add("home/", tar::EntryType::Directory, 0o755, 0, None);
    add("home/claude/", tar::EntryType::Directory, 0o700, 1000, None);
    std::fs::write(path, tar.into_inner().unwrap()).unwrap();
}

/// The paths in the last layer of the image in the layout `out`.
fn last_layer_paths(out: &Path) -> Vec<String> {
    let blob = |digest: &str| out.join("blobs/sha256").join(&digest["sha256:".len()..]);
    let json = |digest: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(blob(digest)).unwrap()).unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let manifest = json(index["manifests"][0]["digest"].as_str().unwrap());
    let layers = manifest["layers"].as_array().unwrap();
    let last = layers.last().unwrap()["digest"].as_str().unwrap();
    let mut archive = tar::Archive::new(GzDecoder::new(std::fs::File::open(blob(last)).unwrap()));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

/// A layer writing `/bin/tool`, `/tmp/x/y` or `/home/claude/.config/z` must
/// not carry `bin/`, `tmp/` or `home/claude/` entries of its own: unpacked,
/// they would replace the base's `/bin` symlink with an empty directory
/// (losing `/bin/sh`), drop `/tmp`'s sticky bit, and give the home to root.
#[test]
fn layers_leave_undeclared_parent_directories_to_the_base() {
    let dir = tempfile::tempdir().unwrap();
    base_tarball(&dir.path().join("base.tar"));
    std::fs::write(
        dir.path().join("spec.toml"),
        r#"
[base]
rootfs = "base.tar"
[[layers]]
name = "tools"
[[layers.file]]
path = "/bin/tool"
content = "x"
mode = "0755"
[[layers.file]]
path = "/tmp/x/y"
content = "y"
[[layers.file]]
path = "/home/claude/.config/z"
content = "z"
owner = "1000:1000"
[[layers.dir]]
path = "/opt/app"
"#,
    )
    .unwrap();
    ok(jib(
        dir.path(),
        &["-q", "build", "spec.toml", "-o", "oci:out"],
    ));

    let paths = last_layer_paths(&dir.path().join("out"));
    assert_eq!(
        paths,
        ["bin/tool", "home/claude/.config/z", "opt/app/", "tmp/x/y"],
        "only declared entries belong in the layer"
    );
}

/// Without parent entries, a later layer must still not write under what an
/// earlier layer made a file or a symlink.
#[test]
fn a_path_under_another_layers_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    base_tarball(&dir.path().join("base.tar"));
    std::fs::write(
        dir.path().join("spec.toml"),
        r#"
[base]
rootfs = "base.tar"
[[layers]]
name = "one"
[[layers.symlink]]
path = "/opt/x"
target = "/etc"
[[layers]]
name = "two"
[[layers.file]]
path = "/opt/x/deep/y"
content = ""
"#,
    )
    .unwrap();
    let output = jib(dir.path(), &["-q", "build", "spec.toml", "-o", "oci:out"]);
    let error = crate::support::check::single_error_line(&output);
    assert!(
        error.contains("/opt/x") && error.contains("'one'") && error.contains("'two'"),
        "{error}"
    );
}

/// `jib-image inspect IMAGE | head -1` closes stdout early; that is no
/// reason to panic.
#[test]
fn a_closed_stdout_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    base_tarball(&dir.path().join("base.tar"));
    std::fs::write(
        dir.path().join("spec.toml"),
        "[base]\nrootfs = \"base.tar\"\n",
    )
    .unwrap();
    ok(jib(
        dir.path(),
        &["-q", "build", "spec.toml", "-o", "oci:out"],
    ));

    for args in [&["inspect", "--json", "oci:out"][..], &["man"]] {
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(status.success(), "{args:?}: {status}; {stderr}");
    }
}

/// A huge `--keep-days` means "keep everything", not an overflow (a panic
/// in debug builds, a wrap to a few days that removes everything in
/// release builds).
#[test]
fn prune_with_a_huge_keep_days_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    base_tarball(&dir.path().join("base.tar"));
    std::fs::write(
        dir.path().join("spec.toml"),
        "[base]\nrootfs = \"base.tar\"\n",
    )
    .unwrap();
    ok(jib(
        dir.path(),
        &["-q", "build", "spec.toml", "-o", "oci:out"],
    ));

    let days = (u64::MAX / 86_400 + 1).to_string();
    let output = ok(jib(dir.path(), &["cache", "prune", "--keep-days", &days]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("removed 0 layer records and 0 blobs"),
        "{stdout}"
    );
}

/// A spec, the environment of its build, and texts its error must hold.
type BadCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

/// Inputs the build used to accept and turn into an image that other tools
/// cannot read or that holds what the user did not mean.
#[test]
fn unreadable_configs_are_refused_with_one_line() {
    let cases: [BadCase; 3] = [
        (
            "[config]\nenv = { \"A=B\" = \"c\" }\n",
            &[],
            &["t.toml", "config.env", "'A=B'"],
        ),
        (
            "[config]\nenv = { \"\" = \"c\" }\n",
            &[],
            &["config.env", "''"],
        ),
        // A created time past 9999 has a year RFC 3339 cannot hold.
        (
            "",
            &[("SOURCE_DATE_EPOCH", "99999999999999999")],
            &["SOURCE_DATE_EPOCH", "9999"],
        ),
    ];
    for (spec, env, expect) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.toml"), spec).unwrap();
        let output = Command::new(BIN)
            .args(["-q", "build", "t.toml", "-o", "oci:out"])
            .current_dir(dir.path())
            .env("JIB_IMAGE_CACHE", dir.path().join("cache"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let error = crate::support::check::single_error_line(&output);
        for text in expect {
            assert!(error.contains(text), "{spec:?}: {error}");
        }
        assert!(!dir.path().join("out").exists(), "{spec:?}");
    }
}

/// `user:password@host/repo` is how URLs carry credentials; as a reference
/// it is refused, and the password is not printed back.
#[test]
fn passwords_in_references_are_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    base_tarball(&dir.path().join("base.tar"));
    std::fs::write(
        dir.path().join("spec.toml"),
        "[base]\nrootfs = \"base.tar\"\n",
    )
    .unwrap();
    ok(jib(
        dir.path(),
        &["-q", "build", "spec.toml", "-o", "oci:out"],
    ));

    let target = "me:hunter2@127.0.0.1:1/x:y";
    for args in [
        &["push", "oci:out", target][..],
        &["inspect", "docker://https://me:hunter2@127.0.0.1:1/x:y"],
        &["-q", "build", "spec.toml", "--push", target],
    ] {
        let output = jib(dir.path(), args);
        let error = crate::support::check::single_error_line(&output);
        assert!(!error.contains("hunter2"), "{args:?}: {error}");
        assert!(error.contains("me:***@127.0.0.1:1/x"), "{args:?}: {error}");
    }
}
