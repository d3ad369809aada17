//! The image builder core through the real binary: layouts that other
//! tools accept, tar streams that other readers accept, reproducible
//! digests, base sources, and errors that name their input.
//!
//! Every build gets a fresh cache directory, so that a digest compared
//! between two builds comes from two real writes, never from a cache hit.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use jib_image::digest::Digest;
use serde_json::{Value, json};

use crate::support::layout::write_image_layout;
use crate::support::require_tools;
use crate::support::validate::{CheckedManifest, blob_path, check_layout};

/// The manifest digest of [`GOLDEN_SPEC`] with gzip layers, recorded when
/// this test was written. It changes only when the bytes of the tar writer,
/// the gzip writer (including the deflate library it uses) or the image
/// documents change: such a change must be deliberate, noted in the change
/// log, and this constant updated with it.
const GOLDEN_GZIP: &str = "sha256:237e05ee5557b93f1fe86293a9bca2feeb5b80efb36c5722a3bcc803a88ce84c";
/// The same spec with zstd layers.
const GOLDEN_ZSTD: &str = "sha256:8bd7415c473386c8c9f30bf684b32a273ec0de34d88745cfebd60588952aead1";

/// A small spec of inline entries only: nothing from the build machine.
const GOLDEN_SPEC: &str = r##"
platform = "linux/amd64"
compression = "COMPRESSION"

[[layers]]
name = "files"
[[layers.file]]
path = "/etc/motd"
content = "hello from jib-image\n"
[[layers.file]]
path = "/usr/local/bin/hello"
content = "#!/bin/sh\necho hello\n"
mode = "0755"
[[layers.file]]
path = "/home/user/.profile"
content = "export PS1='$ '\n"
owner = "1000:1000"
mode = "0600"
[[layers.dir]]
path = "/home/user"
owner = "1000:1000"
mode = "0750"
[[layers.symlink]]
path = "/usr/bin/hello"
target = "../local/bin/hello"

[[layers]]
name = "tmp"
[[layers.dir]]
path = "/tmp/agent-tmp"
mode = "1777"

[config]
entrypoint = ["/usr/local/bin/hello"]
env = { LANG = "C.UTF-8" }
"##;

/// A scratch directory holding specs, sources, caches and outputs.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        Project {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    /// `jib-image build SPEC -o oci:OUT:REF` with a fresh cache.
    fn build_command(&self, spec: &str, out: &str, reference: &str) -> Command {
        let cache = tempfile::tempdir_in(self.dir.path()).unwrap().keep();
        let mut cmd = jib();
        cmd.arg("build")
            .arg(self.path(spec))
            .arg("-o")
            .arg(format!("oci:{}:{reference}", self.path(out).display()))
            .arg("--cache-dir")
            .arg(cache);
        cmd
    }

    /// Builds and returns the printed manifest digest.
    fn build(&self, spec: &str, out: &str) -> String {
        success(self.build_command(spec, out, "latest"))
    }

    /// Builds expecting failure and returns stderr.
    fn build_fails(&self, spec: &str, out: &str) -> String {
        failure(self.build_command(spec, out, "latest"))
    }
}

fn jib() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jib-image"));
    cmd.env_remove("SOURCE_DATE_EPOCH")
        .env_remove("JIB_IMAGE_CACHE")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn success(cmd: Command) -> String {
    let shown = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{shown} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn failure(cmd: Command) -> String {
    let shown = format!("{cmd:?}");
    let out = run(cmd);
    assert!(!out.status.success(), "{shown} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

/// The one `error:` line of a failed build.
fn error_line(stderr: &str) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected in:\n{stderr}");
    errors[0].to_string()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The only image of a single-platform layout, checked.
fn only_image(dir: &Path) -> CheckedManifest {
    let mut images = check_layout(dir);
    assert_eq!(images.len(), 1, "one image in {}", dir.display());
    images.remove(0)
}

/// A tar entry as our tests compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TarEntry {
    path: String,
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: String,
    content: Vec<u8>,
}

/// Reads a tar stream with the `tar` crate.
fn tar_entries(tar: &[u8]) -> Vec<TarEntry> {
    use std::io::Read;
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut content = Vec::new();
            e.read_to_end(&mut content).unwrap();
            TarEntry {
                path: path.trim_end_matches('/').to_string(),
                kind: h.entry_type().as_byte() as char,
                mode: h.mode().unwrap(),
                uid: e.header().uid().unwrap(),
                gid: e.header().gid().unwrap(),
                mtime: h.mtime().unwrap(),
                link,
                content,
            }
        })
        .collect()
}

fn entry<'a>(entries: &'a [TarEntry], path: &str) -> &'a TarEntry {
    entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no entry {path} in {:#?}", names(entries)))
}

fn names(entries: &[TarEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

/// Every entry's parent that the layer holds comes earlier as a directory,
/// and every hard link names an earlier entry by a relative path.
fn assert_parents_and_links_first(members: &[(String, char, String)]) {
    let held: BTreeSet<&str> = members.iter().map(|(name, _, _)| name.as_str()).collect();
    let mut seen: BTreeMap<&str, char> = BTreeMap::new();
    for (name, kind, link) in members {
        if let Some((parent, _)) = name.rsplit_once('/')
            && held.contains(parent)
        {
            assert_eq!(
                seen.get(parent),
                Some(&'5'),
                "parent of {name} not written before it"
            );
        }
        if *kind == '1' {
            assert!(!link.starts_with('/'), "hard link {name} -> {link}");
            assert!(
                seen.contains_key(link.as_str()),
                "hard link {name} comes before its target {link}"
            );
        }
        seen.insert(name, *kind);
    }
}

/// Members as Python's `tarfile` reads them (gzip undone by Python too):
/// `(name, type, mode, uid, gid, linkname, size)`.
fn python_members(archive: &Path) -> Vec<(String, char, u32, u64, u64, String, u64)> {
    let script = r#"
import json, sys, tarfile
with tarfile.open(sys.argv[1], "r:*") as t:
    for m in t.getmembers():
        print(json.dumps([m.name, m.type.decode(), m.mode, m.uid, m.gid, m.linkname, m.size]))
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).arg(archive);
    success(cmd)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let kind = v[1].as_str().unwrap();
            // Python reports a regular file as "0" (or "\0" for old tars).
            let kind = kind
                .chars()
                .next()
                .map_or('0', |c| if c == '\0' { '0' } else { c });
            (
                v[0].as_str().unwrap().to_string(),
                kind,
                v[2].as_u64().unwrap() as u32,
                v[3].as_u64().unwrap(),
                v[4].as_u64().unwrap(),
                v[5].as_str().unwrap().to_string(),
                v[6].as_u64().unwrap(),
            )
        })
        .collect()
}

/// `tar -tvzf --numeric-owner` lines of a gzip layer blob.
fn gnu_tar_listing(archive: &Path) -> Vec<String> {
    let mut cmd = Command::new("tar");
    cmd.args(["--numeric-owner", "-tvzf"]).arg(archive);
    success(cmd).lines().map(str::to_string).collect()
}

// ---------------------------------------------------------------------------
// Golden digests and reproducibility
// ---------------------------------------------------------------------------

fn golden_digest(compression: &str) -> String {
    let p = Project::new();
    p.write("spec.toml", GOLDEN_SPEC.replace("COMPRESSION", compression));
    let digest = p.build("spec.toml", "out");
    let image = only_image(&p.path("out"));
    assert_eq!(image.digest.to_string(), digest);
    digest
}

#[test]
fn golden_manifest_digest_gzip() {
    assert_eq!(golden_digest("gzip"), GOLDEN_GZIP);
}

#[test]
fn golden_manifest_digest_zstd() {
    assert_eq!(golden_digest("zstd"), GOLDEN_ZSTD);
}

/// Creates the same source tree under `root` in the given `order`, with a
/// shell running under `umask`, and file times set to `stamp`.
fn make_sources(root: &Path, umask: &str, reverse: bool, stamp: &str) {
    let mut steps = vec![
        "mkdir -p docs/guides/deep && printf '# a\\n' > docs/a.md",
        "printf '# b\\n' > docs/guides/b.md",
        "printf 'deep\\n' > docs/guides/deep/c.md",
        "printf 'skip\\n' > docs/guides/notes.txt",
        "mkdir -p bin && printf '#!/bin/sh\\n' > bin/tool && chmod +x bin/tool",
        "mkdir -p tree/x/y && printf 'one\\n' > tree/x/one && ln -s ../one tree/x/y/up",
        "mkdir -p tree/z && printf 'two\\n' > tree/z/two && ln tree/z/two tree/x/same",
    ];
    if reverse {
        // Same content, other creation order: directory iteration order
        // and inode numbers differ.
        steps = vec![
            "mkdir -p tree/z && printf 'two\\n' > tree/z/two",
            "mkdir -p tree/x/y && ln -s ../one tree/x/y/up && ln tree/z/two tree/x/same",
            "printf 'one\\n' > tree/x/one",
            "mkdir -p bin && printf '#!/bin/sh\\n' > bin/tool && chmod +x bin/tool",
            "mkdir -p docs/guides/deep && printf 'deep\\n' > docs/guides/deep/c.md",
            "printf 'skip\\n' > docs/guides/notes.txt",
            "printf '# b\\n' > docs/guides/b.md",
            "printf '# a\\n' > docs/a.md",
        ];
    }
    let script = format!(
        "set -e; umask {umask}; mkdir -p '{root}'; cd '{root}'; {}; \
         find . -exec touch -h -d '{stamp}' {{}} +",
        steps.join("; "),
        root = root.display()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    success(cmd);
}

const REPRO_SPEC: &str = r#"
[[layers]]
name = "docs"
[[layers.copy]]
src = "src/docs"
dest = "/usr/local/share/docs/"
include = ["*.md"]
[[layers.copy]]
src = "src/bin/tool"
dest = "/usr/local/bin/"
[[layers.copy]]
src = "src/tree"
dest = "/opt/tree"
[[layers.dir]]
path = "/tmp/agent-tmp"
mode = "1777"
[config]
entrypoint = ["/usr/local/bin/tool"]
"#;

/// Builds [`REPRO_SPEC`] in a fresh project; `umask` is the umask of both
/// the source tree's creation and the build.
fn repro_build(umask: &str, reverse: bool, stamp: &str) -> String {
    let p = Project::new();
    make_sources(&p.path("src"), umask, reverse, stamp);
    p.write("spec.toml", REPRO_SPEC);
    let inner = p.build_command("spec.toml", "out", "latest");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(inner.get_program())
        .args(inner.get_args())
        .stdin(Stdio::null())
        .env_remove("SOURCE_DATE_EPOCH");
    let digest = success(cmd);
    let image = only_image(&p.path("out"));
    assert_eq!(image.digest.to_string(), digest);
    digest
}

#[test]
fn same_spec_gives_same_digest_across_dirs_times_umasks_and_orders() {
    let first = repro_build("022", false, "2001-02-03 04:05:06");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let later = repro_build("022", false, "2020-10-10 10:10:10");
    assert_eq!(first, later, "different directory, time and file mtimes");
    let umask = repro_build("077", false, "2001-02-03 04:05:06");
    assert_eq!(first, umask, "umask 077 for sources and build");
    let reversed = repro_build("027", true, "1999-12-31 23:59:59");
    assert_eq!(first, reversed, "tree created in another order");
}

#[test]
fn umask_does_not_change_modes() {
    let p = Project::new();
    make_sources(&p.path("src"), "077", false, "2001-02-03 04:05:06");
    p.write("spec.toml", REPRO_SPEC);
    let inner = p.build_command("spec.toml", "out", "latest");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 077; exec \"$0\" \"$@\"")
        .arg(inner.get_program())
        .args(inner.get_args());
    success(cmd);
    let image = only_image(&p.path("out"));
    let entries = tar_entries(&image.layers[0].1);
    for e in &entries {
        let expected = match (e.kind, e.path.as_str()) {
            ('5', "tmp/agent-tmp") => 0o1777,
            ('5', _) => 0o755,
            ('2', _) => 0o777,
            (_, "usr/local/bin/tool") => 0o755,
            _ => 0o644,
        };
        assert_eq!(e.mode, expected, "mode of {}", e.path);
    }
}

// ---------------------------------------------------------------------------
// Other tools accept the layout
// ---------------------------------------------------------------------------

const CHECKED_SPEC: &str = r##"
platforms = ["linux/amd64", "linux/arm64"]
[[layers]]
name = "app"
[[layers.copy]]
src = "app"
dest = "/opt/app"
[[layers.file]]
path = "/etc/motd"
content = "welcome\n"
owner = "5000000:5000001"
mode = "0640"
[[layers.file]]
path = "/usr/local/bin/run"
content = "#!/bin/sh\n"
mode = "4755"
[[layers.dir]]
path = "/srv/shared"
mode = "2775"
owner = "1000:1000"
[[layers]]
name = "tmp"
[[layers.dir]]
path = "/tmp/agent-tmp"
mode = "1777"
[config]
entrypoint = ["/usr/local/bin/run"]
"##;

fn checked_project() -> Project {
    let p = Project::new();
    p.write("app/readme.md", "read me\n");
    p.write("app/lib/data.bin", [0u8, 1, 2, 255]);
    symlink("lib/data.bin", p.path("app/data")).unwrap();
    std::fs::hard_link(p.path("app/readme.md"), p.path("app/lib/readme-again.md")).unwrap();
    p.write("spec.toml", CHECKED_SPEC);
    p
}

#[test]
fn umoci_oci_image_tool_and_skopeo_accept_the_layout() {
    if !require_tools(&["umoci", "oci-image-tool", "skopeo"]) {
        return;
    }
    let p = checked_project();
    let mut cmd = p.build_command("spec.toml", "out", "v1");
    cmd.args(["--platform", "linux/amd64"]);
    success(cmd);
    success(p.build_command("spec.toml", "multi", "both"));
    assert_eq!(check_layout(&p.path("multi")).len(), 2);
    only_image(&p.path("out"));

    // oci-image-tool 1.0 predates image indexes: any index entry in
    // index.json makes every lookup "not unique", so the multi-platform
    // layout is checked by our validator and by skopeo for each platform.
    for (dir, reference) in [("out", "v1"), ("multi", "both")] {
        let layout = p.path(dir);
        if dir == "out" {
            let mut validate = Command::new("oci-image-tool");
            validate
                .args(["validate", "--type", "image", "--ref"])
                .arg(format!("name={reference}"))
                .arg(&layout);
            success(validate);
        }
        for arch in ["amd64", "arm64"] {
            if dir == "out" && arch == "arm64" {
                continue;
            }
            let mut inspect = Command::new("skopeo");
            inspect
                .args(["--insecure-policy", "--override-arch", arch, "inspect"])
                .arg(format!("oci:{}:{reference}", layout.display()));
            let inspected: Value = serde_json::from_str(&success(inspect)).unwrap();
            assert_eq!(inspected["Architecture"], arch);
            assert_eq!(inspected["Layers"].as_array().unwrap().len(), 2);
        }

        if dir == "multi" {
            // umoci 0.4 cannot choose a platform: it refuses any reference
            // that leads to more than one manifest ("tag is ambiguous").
            continue;
        }
        let mut unpack = Command::new("umoci");
        unpack.arg("unpack");
        if !is_root() {
            unpack.arg("--rootless");
        }
        unpack
            .arg("--image")
            .arg(format!("{}:{reference}", layout.display()))
            .arg(p.path(&format!("bundle-{dir}")));
        success(unpack);
    }
}

#[test]
fn umoci_unpacks_every_declared_entry() {
    if !require_tools(&["umoci"]) {
        return;
    }
    let p = checked_project();
    let mut cmd = p.build_command("spec.toml", "out", "v1");
    cmd.args(["--platform", "linux/amd64"]);
    success(cmd);
    let bundle = p.path("bundle");
    let mut unpack = Command::new("umoci");
    unpack.arg("unpack");
    let root = is_root();
    if !root {
        unpack.arg("--rootless");
    }
    unpack
        .arg("--image")
        .arg(format!("{}:v1", p.path("out").display()))
        .arg(&bundle);
    success(unpack);
    let rootfs = bundle.join("rootfs");

    // (path, content or None for directories, mode, uid, gid)
    type Expected<'a> = (&'a str, Option<&'a [u8]>, u32, u32, u32);
    let expected: [Expected; 9] = [
        ("etc/motd", Some(b"welcome\n"), 0o640, 5_000_000, 5_000_001),
        ("usr/local/bin/run", Some(b"#!/bin/sh\n"), 0o4755, 0, 0),
        ("srv/shared", None, 0o2775, 1000, 1000),
        ("tmp/agent-tmp", None, 0o1777, 0, 0),
        ("opt/app", None, 0o755, 0, 0),
        ("opt/app/readme.md", Some(b"read me\n"), 0o644, 0, 0),
        ("opt/app/lib", None, 0o755, 0, 0),
        ("opt/app/lib/data.bin", Some(&[0, 1, 2, 255]), 0o644, 0, 0),
        (
            "opt/app/lib/readme-again.md",
            Some(b"read me\n"),
            0o644,
            0,
            0,
        ),
    ];
    for (path, content, mode, uid, gid) in expected {
        let full = rootfs.join(path);
        let meta = std::fs::symlink_metadata(&full).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "mode of {path}");
        if root {
            assert_eq!((meta.uid(), meta.gid()), (uid, gid), "owner of {path}");
        }
        match content {
            Some(bytes) => assert_eq!(std::fs::read(&full).unwrap(), bytes, "{path}"),
            None => assert!(meta.is_dir(), "{path} is a directory"),
        }
    }
    let link = std::fs::read_link(rootfs.join("opt/app/data")).unwrap();
    assert_eq!(link, Path::new("lib/data.bin"));
    let a = std::fs::metadata(rootfs.join("opt/app/readme.md")).unwrap();
    let b = std::fs::metadata(rootfs.join("opt/app/lib/readme-again.md")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hard link kept as one inode");
}

// ---------------------------------------------------------------------------
// Tar streams that any reader accepts
// ---------------------------------------------------------------------------

#[test]
fn gnu_tar_and_python_read_long_names_big_ids_special_bits_and_links() {
    if !require_tools(&["tar", "python3"]) {
        return;
    }
    let p = Project::new();
    let long_dir = format!("{}/{}", "d".repeat(90), "e".repeat(120));
    let long_name = format!("{long_dir}/{}", "f".repeat(160));
    let long_target = format!("/{long_name}/{}", "t".repeat(140));
    // `b/x` and its hard link `b-c`: the link sorts first in the tar, so the
    // file's content must move to it.
    p.write("tree/b/x", "linked\n");
    std::fs::hard_link(p.path("tree/b/x"), p.path("tree/b-c")).unwrap();
    p.write(
        "spec.toml",
        format!(
            r#"
[[layers]]
name = "t"
[[layers.copy]]
src = "tree"
dest = "/links"
[[layers.file]]
path = "/{long_name}"
content = "long\n"
owner = "5000000:4294967294"
mode = "6755"
[[layers.symlink]]
path = "/long-link"
target = "{long_target}"
[[layers.dir]]
path = "/sticky"
mode = "1777"
"#
        ),
    );
    p.build("spec.toml", "out");
    let image = only_image(&p.path("out"));
    let (descriptor, tar) = &image.layers[0];
    let blob = blob_path(
        &p.path("out"),
        &descriptor["digest"].as_str().unwrap().parse().unwrap(),
    );

    let ours = tar_entries(tar);
    let file = entry(&ours, &long_name);
    assert_eq!(
        (file.uid, file.gid, file.mode),
        (5_000_000, 4_294_967_294, 0o6755)
    );
    assert_eq!(entry(&ours, "long-link").link, long_target);

    let members = python_members(&blob);
    let py = |name: &str| {
        members
            .iter()
            .find(|m| m.0 == name)
            .unwrap_or_else(|| panic!("python: no member {name}"))
            .clone()
    };
    assert_eq!(
        py(&long_name),
        (
            long_name.clone(),
            '0',
            0o6755,
            5_000_000,
            4_294_967_294,
            String::new(),
            5
        )
    );
    assert_eq!(py("long-link").5, long_target);
    assert_eq!(py("sticky").2, 0o1777);
    assert_eq!(
        py("links/b-c").1,
        '0',
        "first in tar order holds the content"
    );
    assert_eq!(py("links/b/x").1, '1');
    assert_eq!(py("links/b/x").5, "links/b-c");
    let order: Vec<(String, char, String)> = members
        .iter()
        .map(|m| (m.0.clone(), m.1, m.5.clone()))
        .collect();
    assert_parents_and_links_first(&order);

    let listing = gnu_tar_listing(&blob);
    let line = |suffix: &str| {
        listing
            .iter()
            .find(|l| l.ends_with(suffix))
            .unwrap_or_else(|| panic!("GNU tar: no line ending in {suffix}: {listing:#?}"))
            .clone()
    };
    let l = line(&long_name);
    assert!(l.starts_with("-rwsr-sr-x 5000000/4294967294 "), "{l}");
    assert!(line(&format!("long-link -> {long_target}")).starts_with("lrwxrwxrwx 0/0 "));
    assert!(line("sticky/").starts_with("drwxrwxrwt 0/0 "));
    assert!(line("links/b/x link to links/b-c").starts_with('h'));

    // GNU tar extracts it too, hard link after its target.
    let extract = p.path("extracted");
    std::fs::create_dir(&extract).unwrap();
    let mut cmd = Command::new("tar");
    cmd.args(["--numeric-owner", "-xpzf"])
        .arg(&blob)
        .arg("-C")
        .arg(&extract);
    success(cmd);
    assert_eq!(
        std::fs::read(extract.join("links/b/x")).unwrap(),
        b"linked\n"
    );
    let meta = std::fs::metadata(extract.join(&long_name)).unwrap();
    if is_root() {
        assert_eq!((meta.uid(), meta.gid()), (5_000_000, 4_294_967_294));
        assert_eq!(meta.permissions().mode() & 0o7777, 0o6755);
    }
}

#[test]
fn undeclared_parents_are_left_to_the_base_and_source_symlinks_are_not_followed() {
    let p = Project::new();
    p.write("rootfs/etc/hostname", "base\n");
    p.write("src/real/file", "content\n");
    symlink("/etc/passwd", p.path("src/absolute")).unwrap();
    symlink("../../nowhere/at/all", p.path("src/dangling")).unwrap();
    symlink("real", p.path("src/dirlink")).unwrap();
    symlink("real/file", p.path("src/filelink")).unwrap();
    p.write(
        "spec.toml",
        r#"
[base]
rootfs = "rootfs"
[[layers]]
name = "links"
[[layers.copy]]
src = "src"
dest = "/a/b/c"
[[layers.copy]]
src = "src/filelink"
dest = "/single/"
"#,
    );
    p.build("spec.toml", "out");
    let image = only_image(&p.path("out"));
    let entries = tar_entries(&image.layers[1].1);
    for (path, target) in [
        ("a/b/c/absolute", "/etc/passwd"),
        ("a/b/c/dangling", "../../nowhere/at/all"),
        ("a/b/c/dirlink", "real"),
        ("a/b/c/filelink", "real/file"),
        ("single/filelink", "real/file"),
    ] {
        let e = entry(&entries, path);
        assert_eq!((e.kind, e.link.as_str()), ('2', target), "{path}");
    }
    assert!(
        !names(&entries)
            .iter()
            .any(|n| n.starts_with("a/b/c/dirlink/"))
    );
    assert_eq!(
        &names(&entries)[..5],
        [
            "a/b/c",
            "a/b/c/absolute",
            "a/b/c/dangling",
            "a/b/c/dirlink",
            "a/b/c/filelink"
        ]
    );
    let members: Vec<_> = entries
        .iter()
        .map(|e| (e.path.clone(), e.kind, e.link.clone()))
        .collect();
    assert_parents_and_links_first(&members);
}

#[test]
fn gzip_header_has_no_name_no_time_and_a_fixed_os() {
    let p = Project::new();
    p.write("spec.toml", GOLDEN_SPEC.replace("COMPRESSION", "gzip"));
    p.build("spec.toml", "out");
    let image = only_image(&p.path("out"));
    for (descriptor, _) in &image.layers {
        assert_eq!(
            descriptor["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let digest: Digest = descriptor["digest"].as_str().unwrap().parse().unwrap();
        let blob = std::fs::read(blob_path(&p.path("out"), &digest)).unwrap();
        // Magic, deflate, no flags (so no name or comment), zero mtime,
        // no extra flags, OS 255 ("unknown").
        assert_eq!(blob[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }
}

#[test]
fn config_created_and_mtimes_follow_source_date_epoch() {
    let p = Project::new();
    p.write("spec.toml", GOLDEN_SPEC.replace("COMPRESSION", "gzip"));
    let mut cmd = p.build_command("spec.toml", "out", "latest");
    cmd.env("SOURCE_DATE_EPOCH", "1700000000");
    success(cmd);
    let image = only_image(&p.path("out"));
    assert_eq!(image.config["created"], "2023-11-14T22:13:20Z");
    for h in image.config["history"].as_array().unwrap() {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z");
    }
    assert!(
        tar_entries(&image.layers[0].1)
            .iter()
            .all(|e| e.mtime == 1_700_000_000)
    );

    p.build("spec.toml", "epoch");
    let image = only_image(&p.path("epoch"));
    assert_eq!(image.config["created"], "1970-01-01T00:00:00Z");
    assert!(tar_entries(&image.layers[0].1).iter().all(|e| e.mtime == 0));

    let mut cmd = p.build_command("spec.toml", "bad", "latest");
    cmd.env("SOURCE_DATE_EPOCH", "yesterday");
    let line = error_line(&failure(cmd));
    assert!(line.contains("SOURCE_DATE_EPOCH"), "{line}");
}

// ---------------------------------------------------------------------------
// Base sources
// ---------------------------------------------------------------------------

/// A small rootfs tar with a file, a directory, a symlink and a hard link.
fn rootfs_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_ustar();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_mtime(12345);
    b.append_data(&mut dir, "etc/", &[][..]).unwrap();
    let mut file = tar::Header::new_ustar();
    file.set_mode(0o644);
    file.set_size(5);
    file.set_mtime(12345);
    b.append_data(&mut file, "etc/os-release", &b"base\n"[..])
        .unwrap();
    let mut link = tar::Header::new_ustar();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    b.append_link(&mut link, "etc/link", "os-release").unwrap();
    let mut hard = tar::Header::new_ustar();
    hard.set_entry_type(tar::EntryType::Link);
    hard.set_size(0);
    b.append_link(&mut hard, "etc/hard", "etc/os-release")
        .unwrap();
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn rootfs_tarball_passes_through_plain_and_gzip() {
    let p = Project::new();
    let tar = rootfs_tar();
    p.write("base.tar", &tar);
    p.write("base.tar.gz", gzip(&tar));
    for (name, base) in [("plain", "base.tar"), ("gz", "base.tar.gz")] {
        p.write(
            &format!("{name}.toml"),
            format!(
                "[base]\nrootfs = \"{base}\"\n[[layers]]\nname = \"x\"\n[[layers.file]]\n\
                 path = \"/x\"\ncontent = \"x\"\n"
            ),
        );
        p.build(&format!("{name}.toml"), name);
        let image = only_image(&p.path(name));
        assert_eq!(image.layers.len(), 2);
        assert_eq!(
            image.config["rootfs"]["diff_ids"][0],
            Digest::of(&tar).to_string(),
            "{base}: diff_id is the sha256 of the uncompressed tarball"
        );
        assert_eq!(image.layers[0].1, tar, "{base}: the tar stream unchanged");
    }
}

#[test]
fn rootfs_directory_keeps_owners_and_modes() {
    let p = Project::new();
    p.write("root/etc/os-release", "dir base\n");
    p.write("root/usr/bin/tool", "#!/bin/sh\n");
    std::fs::set_permissions(
        p.path("root/usr/bin/tool"),
        std::fs::Permissions::from_mode(0o4750),
    )
    .unwrap();
    std::fs::create_dir(p.path("root/tmp")).unwrap();
    std::fs::set_permissions(p.path("root/tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    symlink("usr/bin", p.path("root/bin")).unwrap();
    // `b/x` is found first, but its hard link `b-c` comes first in the tar.
    p.write("root/b/x", "same\n");
    std::fs::hard_link(p.path("root/b/x"), p.path("root/b-c")).unwrap();
    if is_root() {
        std::os::unix::fs::lchown(p.path("root/etc/os-release"), Some(123), Some(456)).unwrap();
    }
    p.write("spec.toml", "[base]\nrootfs = \"root\"\n");
    p.build("spec.toml", "out");
    let image = only_image(&p.path("out"));
    let entries = tar_entries(&image.layers[0].1);
    assert_eq!(entry(&entries, "usr/bin/tool").mode, 0o4750);
    assert_eq!(entry(&entries, "tmp").mode, 0o1777);
    assert_eq!(entry(&entries, "bin").link, "usr/bin");
    if is_root() {
        let e = entry(&entries, "etc/os-release");
        assert_eq!((e.uid, e.gid), (123, 456));
    }
    assert_eq!(entry(&entries, "b-c").content, b"same\n");
    assert_eq!(entry(&entries, "b/x").link, "b-c");
    let members: Vec<_> = entries
        .iter()
        .map(|e| (e.path.clone(), e.kind, e.link.clone()))
        .collect();
    assert_parents_and_links_first(&members);
}

#[test]
fn layout_base_keeps_layer_digests_and_inherits_config() {
    let p = Project::new();
    let base = write_image_layout(&p.path("base"), "seed", "b1");
    let base_image = only_image(&p.path("base"));
    assert_eq!(base_image.digest, base.digest);
    p.write(
        "spec.toml",
        r#"
[base]
layout = "base"
ref = "b1"
[[layers]]
name = "top"
[[layers.file]]
path = "/top"
content = "top\n"
[config]
env = { SEED = "mine", EXTRA = "1" }
"#,
    );
    p.build("spec.toml", "out");
    let image = only_image(&p.path("out"));
    assert_eq!(image.layers.len(), 3);
    for i in 0..2 {
        assert_eq!(
            image.layers[i].0["digest"],
            base_image.layers[i].0["digest"]
        );
        assert_eq!(image.layers[i].0["size"], base_image.layers[i].0["size"]);
        assert_eq!(
            image.config["rootfs"]["diff_ids"][i],
            base_image.config["rootfs"]["diff_ids"][i]
        );
    }
    assert_eq!(
        image.config["config"]["Env"],
        json!(["SEED=mine", "EXTRA=1"])
    );

    // A base built by us: its entrypoint and cmd are inherited; a new
    // entrypoint drops the base's cmd, as FROM + ENTRYPOINT would.
    p.write(
        "first.toml",
        r#"
[[layers]]
name = "one"
[[layers.file]]
path = "/one"
content = "1"
[config]
entrypoint = ["/bin/first"]
cmd = ["--help"]
env = { PATH = "/bin", KEEP = "yes" }
workdir = "/w"
"#,
    );
    p.build("first.toml", "first");
    let first = only_image(&p.path("first"));
    p.write(
        "inherit.toml",
        "[base]\nlayout = \"first\"\nref = \"latest\"\n[config]\nenv = { PATH = \"/usr/bin\" }\n",
    );
    p.build("inherit.toml", "inherit");
    let inherited = only_image(&p.path("inherit"));
    let c = &inherited.config["config"];
    assert_eq!(c["Entrypoint"], json!(["/bin/first"]));
    assert_eq!(c["Cmd"], json!(["--help"]));
    assert_eq!(c["WorkingDir"], "/w");
    // The base's order is kept; the spec's value replaces it in place.
    assert_eq!(
        first.config["config"]["Env"],
        json!(["KEEP=yes", "PATH=/bin"])
    );
    assert_eq!(c["Env"], json!(["KEEP=yes", "PATH=/usr/bin"]));
    assert_eq!(inherited.layers[0].0, first.layers[0].0);
    assert_eq!(
        inherited.config["history"].as_array().unwrap().len(),
        first.config["history"].as_array().unwrap().len()
    );

    p.write(
        "override.toml",
        "[base]\nlayout = \"first\"\n[config]\nentrypoint = [\"/bin/second\"]\n",
    );
    p.build("override.toml", "override");
    let c = &only_image(&p.path("override")).config["config"];
    assert_eq!(c["Entrypoint"], json!(["/bin/second"]));
    assert!(c.get("Cmd").is_none(), "{c}");

    p.write(
        "missing.toml",
        "[base]\nlayout = \"first\"\nref = \"nope\"\n",
    );
    let line = error_line(&p.build_fails("missing.toml", "x"));
    assert!(line.contains("nope"), "{line}");
}

/// A ustar stream of entries `(name, type, link)`, names written raw so
/// that hostile ones can be made.
fn raw_tar(entries: &[(&str, u8, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link) in entries {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(tar::EntryType::new(*kind));
        h.set_mode(0o644);
        h.set_size(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn bad_rootfs_tarballs_fail_with_one_line_naming_the_file() {
    let p = Project::new();
    let good = rootfs_tar();
    let mut big = tar::Builder::new(Vec::new());
    for name in ["one", "two"] {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(3000);
        big.append_data(&mut h, name, &[7u8; 3000][..]).unwrap();
    }
    let big = big.into_inner().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.tar", good[..700].to_vec(), "truncated"),
        (
            "in-content.tar",
            big[..1500].to_vec(),
            "truncated after 1 entry",
        ),
        (
            "in-header.tar",
            big[..3584 + 100].to_vec(),
            "truncated after 1 entry",
        ),
        ("no-end.tar", big[..7168].to_vec(), "truncated"),
        ("truncated.tar.gz", gzip(&good)[..60].to_vec(), "truncated"),
        (
            "text.tar",
            b"this is not a tar archive\n".to_vec(),
            "not a tar archive",
        ),
        ("empty.tar", Vec::new(), "empty"),
        (
            "dotdot.tar",
            raw_tar(&[("ok", b'0', ""), ("../x", b'0', "")]),
            "'../x'",
        ),
        (
            "inner.tar",
            raw_tar(&[("a/../../x", b'0', "")]),
            "'a/../../x'",
        ),
        ("absolute.tar", raw_tar(&[("/abs", b'0', "")]), "'/abs'"),
        (
            "hardlink.tar",
            raw_tar(&[("f", b'0', ""), ("h", b'1', "../etc/shadow")]),
            "'../etc/shadow'",
        ),
    ];
    for (name, bytes, cause) in cases {
        p.write(name, &bytes);
        p.write("spec.toml", format!("[base]\nrootfs = \"{name}\"\n"));
        let stderr = p.build_fails("spec.toml", "out");
        let line = error_line(&stderr);
        assert!(line.contains(name), "{name}: {line}");
        assert!(line.contains(cause), "{name}: {line}");
        assert!(!p.path("out").exists(), "{name}: no layout written");
    }
}

// ---------------------------------------------------------------------------
// Spec errors
// ---------------------------------------------------------------------------

#[test]
fn unknown_keys_name_file_line_column_and_nearest_key() {
    let p = Project::new();
    p.write(
        "spec.toml",
        "platform = \"linux/amd64\"\n\n[config]\n  entrypiont = [\"/bin/sh\"]\n",
    );
    let line = error_line(&p.build_fails("spec.toml", "out"));
    let spec = p.path("spec.toml");
    assert!(
        line.starts_with(&format!(
            "error: {}:4:3: unknown key `entrypiont`",
            spec.display()
        )),
        "{line}"
    );
    assert!(line.contains("did you mean `entrypoint`"), "{line}");

    p.write(
        "layers/docs.toml",
        "name = \"docs\"\n[[copy]]\nsrc = \"x\"\ndset = \"/y\"\n",
    );
    p.write("spec.toml", "[[layers]]\ninclude = \"layers/docs.toml\"\n");
    let line = error_line(&p.build_fails("spec.toml", "out"));
    assert!(line.contains("docs.toml:4:1: unknown key `dset`"), "{line}");
    assert!(line.contains("did you mean `dest`"), "{line}");
}

#[test]
fn whiteout_names_are_refused_naming_the_path() {
    let p = Project::new();
    p.write(
        "spec.toml",
        "[[layers]]\nname = \"w\"\n[[layers.file]]\npath = \"/etc/.wh.passwd\"\ncontent = \"\"\n",
    );
    let line = error_line(&p.build_fails("spec.toml", "out"));
    assert!(line.contains("/etc/.wh.passwd"), "{line}");
    assert!(line.contains("layers[0].file[0]"), "{line}");

    p.write("src/ok", "ok");
    p.write("src/sub/.wh..wh..opq", "");
    p.write(
        "spec.toml",
        "[[layers]]\nname = \"w\"\n[[layers.copy]]\nsrc = \"src\"\ndest = \"/x\"\n",
    );
    let line = error_line(&p.build_fails("spec.toml", "out"));
    assert!(line.contains("src/sub/.wh..wh..opq"), "{line}");
    assert!(line.contains("'.wh.'"), "{line}");
}

#[test]
fn non_utf8_source_names_are_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let p = Project::new();
    std::fs::create_dir_all(p.path("src")).unwrap();
    let bad = p.path("src").join(OsStr::from_bytes(b"caf\xe9"));
    if std::fs::write(&bad, "x").is_err() {
        eprintln!("skipping: this file system refuses non-UTF-8 names");
        return;
    }
    p.write(
        "spec.toml",
        "[[layers]]\nname = \"u\"\n[[layers.copy]]\nsrc = \"src\"\ndest = \"/x\"\n",
    );
    let line = error_line(&p.build_fails("spec.toml", "out"));
    assert!(line.contains("not UTF-8"), "{line}");
    assert!(line.contains("layers[0].copy[0]"), "{line}");

    // The same in a rootfs directory base, for a name and a link target.
    p.write("spec.toml", "[base]\nrootfs = \"src\"\n");
    let line = error_line(&p.build_fails("spec.toml", "out"));
    assert!(line.contains("caf") && line.contains("not UTF-8"), "{line}");
    std::fs::remove_file(&bad).unwrap();
    symlink(OsStr::from_bytes(b"caf\xe9"), p.path("src/link")).unwrap();
    let line = error_line(&p.build_fails("spec.toml", "out"));
    assert!(
        line.contains("src/link: link target is not UTF-8"),
        "{line}"
    );
}

// ---------------------------------------------------------------------------
// How copies, dirs and layers combine
// ---------------------------------------------------------------------------

#[test]
fn copies_into_root_nested_includes_and_dir_modes() {
    let p = Project::new();
    p.write("rootdir/etc/issue", "issue\n");
    p.write("docs/top.md", "top\n");
    p.write("docs/skip.txt", "skip\n");
    p.write("docs/a/b/deep.md", "deep\n");
    p.write("docs/empty/nothing.txt", "nothing\n");
    p.write("docs/build/generated.md", "generated\n");
    p.write("single.txt", "single\n");
    p.write(
        "spec.toml",
        r#"
[[layers]]
name = "c"
[[layers.copy]]
src = "rootdir"
dest = "/"
[[layers.copy]]
src = "single.txt"
dest = "/"
[[layers.copy]]
src = "docs"
dest = "/usr/share/docs"
include = ["*.md"]
exclude = ["build"]
dir_mode = "0750"
owner = "7:8"
mtime = 99
"#,
    );
    p.build("spec.toml", "out");
    let entries = tar_entries(&only_image(&p.path("out")).layers[0].1);
    assert_eq!(entry(&entries, "etc/issue").content, b"issue\n");
    assert_eq!(entry(&entries, "single.txt").content, b"single\n");
    assert_eq!(
        entry(&entries, "usr/share/docs/a/b/deep.md").content,
        b"deep\n"
    );
    assert_eq!(entry(&entries, "usr/share/docs/top.md").content, b"top\n");
    let listed = names(&entries);
    assert!(!listed.contains(&"usr/share/docs/skip.txt"));
    assert!(!listed.contains(&"usr/share/docs/empty"), "{listed:?}");
    assert!(!listed.iter().any(|n| n.contains("build")), "{listed:?}");
    // Every directory the copy made carries its dir_mode, owner and mtime;
    // with no base below, the parents above its destination are written
    // explicitly, 0755 root.
    for dir in ["usr/share/docs", "usr/share/docs/a", "usr/share/docs/a/b"] {
        let e = entry(&entries, dir);
        assert_eq!((e.mode, e.uid, e.gid, e.mtime), (0o750, 7, 8, 99), "{dir}");
    }
    for parent in ["usr", "usr/share"] {
        let e = entry(&entries, parent);
        assert_eq!(
            (e.kind, e.mode, e.uid, e.gid),
            ('5', 0o755, 0, 0),
            "{parent}"
        );
    }
    let f = entry(&entries, "usr/share/docs/a/b/deep.md");
    assert_eq!((f.mode, f.uid, f.gid, f.mtime), (0o644, 7, 8, 99));
}

#[test]
fn copies_merge_into_one_destination_and_an_explicit_dir() {
    let p = Project::new();
    p.write("a/x", "x\n");
    p.write("a/shared/from-a", "a\n");
    p.write("b/y", "y\n");
    p.write("b/shared/from-b", "b\n");
    p.write(
        "spec.toml",
        r#"
[[layers]]
name = "m"
[[layers.copy]]
src = "a"
dest = "/opt/merged"
[[layers.copy]]
src = "b"
dest = "/opt/merged/"
[[layers.copy]]
src = "a/x"
dest = "/tmp/agent-tmp/x"
[[layers.dir]]
path = "/opt/merged"
mode = "0700"
owner = "1:1"
[[layers.dir]]
path = "/tmp/agent-tmp"
mode = "1777"
"#,
    );
    p.build("spec.toml", "out");
    let entries = tar_entries(&only_image(&p.path("out")).layers[0].1);
    for f in ["x", "y", "shared/from-a", "shared/from-b"] {
        entry(&entries, &format!("opt/merged/{f}"));
    }
    let merged = entry(&entries, "opt/merged");
    assert_eq!(
        (merged.mode, merged.uid),
        (0o700, 1),
        "the explicit dir wins"
    );
    assert_eq!(entry(&entries, "tmp/agent-tmp").mode, 0o1777);
    assert_eq!(entry(&entries, "tmp/agent-tmp/x").content, b"x\n");

    // Two copies that disagree about a directory's metadata are an error.
    p.write(
        "spec.toml",
        r#"
[[layers]]
name = "m"
[[layers.copy]]
src = "a"
dest = "/opt/merged"
[[layers.copy]]
src = "b"
dest = "/opt/merged"
dir_mode = "0700"
"#,
    );
    let line = error_line(&p.build_fails("spec.toml", "bad"));
    assert!(line.contains("/opt/merged"), "{line}");
    assert!(
        line.contains("layers[0].copy[0]") && line.contains("layers[0].copy[1]"),
        "{line}"
    );

    // Two explicit declarations of one path remain an error.
    p.write(
        "spec.toml",
        "[[layers]]\nname = \"d\"\n[[layers.dir]]\npath = \"/d\"\n[[layers.dir]]\npath = \"/d\"\n",
    );
    let line = error_line(&p.build_fails("spec.toml", "bad"));
    assert!(line.contains("/d is declared twice"), "{line}");
}

#[test]
fn hardlinks_across_copied_dirs() {
    let p = Project::new();
    p.write("one/data", "shared\n");
    std::fs::create_dir_all(p.path("two")).unwrap();
    std::fs::hard_link(p.path("one/data"), p.path("two/data")).unwrap();
    p.write(
        "spec.toml",
        r#"
[[layers]]
name = "h"
[[layers.copy]]
src = "two"
dest = "/z"
[[layers.copy]]
src = "one"
dest = "/a"
[[layers.copy]]
src = "one"
dest = "/exec"
mode = "0755"
"#,
    );
    p.build("spec.toml", "out");
    let entries = tar_entries(&only_image(&p.path("out")).layers[0].1);
    let a = entry(&entries, "a/data");
    assert_eq!((a.kind, a.content.as_slice()), ('0', &b"shared\n"[..]));
    let z = entry(&entries, "z/data");
    assert_eq!((z.kind, z.link.as_str()), ('1', "a/data"));
    // Another mode means another inode in the image: a file, not a link.
    let exec = entry(&entries, "exec/data");
    assert_eq!((exec.kind, exec.mode), ('0', 0o755));
    assert_eq!(exec.content, b"shared\n");
}

#[test]
fn one_path_with_two_types_in_two_layers_names_both() {
    let p = Project::new();
    p.write(
        "spec.toml",
        r#"
[[layers]]
name = "first"
[[layers.file]]
path = "/opt/thing"
content = "file"
[[layers]]
name = "second"
[[layers.dir]]
path = "/opt/thing"
"#,
    );
    let line = error_line(&p.build_fails("spec.toml", "out"));
    assert!(line.contains("/opt/thing"), "{line}");
    assert!(
        line.contains("'first'") && line.contains("'second'"),
        "{line}"
    );

    p.write(
        "spec.toml",
        r#"
[[layers]]
name = "first"
[[layers.symlink]]
path = "/opt"
target = "/srv"
[[layers]]
name = "second"
[[layers.file]]
path = "/opt/inside"
content = "x"
"#,
    );
    let line = error_line(&p.build_fails("spec.toml", "out"));
    assert!(line.contains("/opt"), "{line}");
    assert!(
        line.contains("'first'") && line.contains("'second'"),
        "{line}"
    );
}

// ---------------------------------------------------------------------------
// Failed builds leave nothing half-written
// ---------------------------------------------------------------------------

/// The names in `dir` other than `keep`.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

#[test]
fn failed_builds_leave_the_old_layout_and_no_temporary_files() {
    let p = Project::new();
    p.write("spec.toml", GOLDEN_SPEC.replace("COMPRESSION", "gzip"));
    let outputs = p.path("outputs");
    std::fs::create_dir(&outputs).unwrap();
    let good = p.build("spec.toml", "outputs/image");
    let before = std::fs::read(outputs.join("image/index.json")).unwrap();

    // A source whose size changes between plan and write: /proc files
    // report a size of 0 and then give bytes.
    p.write(
        "changing.toml",
        "[[layers]]\nname = \"c\"\n[[layers.copy]]\nsrc = \"/proc/self/status\"\ndest = \"/status\"\n",
    );
    let line = error_line(&p.build_fails("changing.toml", "outputs/image"));
    assert!(line.contains("changed during the build"), "{line}");

    // A truncated base.
    p.write("bad.tar", &rootfs_tar()[..700]);
    p.write("bad.toml", "[base]\nrootfs = \"bad.tar\"\n");
    error_line(&p.build_fails("bad.toml", "outputs/image"));

    assert_eq!(
        std::fs::read(outputs.join("image/index.json")).unwrap(),
        before
    );
    assert_eq!(only_image(&outputs.join("image")).digest.to_string(), good);
    // The good build wrote its SBOM beside the layout; nothing else stays.
    assert_eq!(
        leftovers(&outputs, &["image", "image.spdx.json"]),
        Vec::<String>::new()
    );

    // An output that is not a layout is not replaced.
    p.write("outputs/notes/keep.txt", "mine\n");
    let line = error_line(&p.build_fails("spec.toml", "outputs/notes"));
    assert!(line.contains("not an OCI image layout"), "{line}");
    assert_eq!(
        std::fs::read(outputs.join("notes/keep.txt")).unwrap(),
        b"mine\n"
    );

    // An output below a regular file cannot be made.
    p.write("outputs/file", "x");
    let line = error_line(&p.build_fails("spec.toml", "outputs/file/image"));
    assert!(line.contains("outputs/file"), "{line}");
    assert_eq!(
        leftovers(&outputs, &["image", "image.spdx.json", "notes", "file"]),
        Vec::<String>::new()
    );
}
