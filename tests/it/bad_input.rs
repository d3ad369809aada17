//! The bad input catalogue: small broken inputs, each written by its case,
//! each ending in exactly one `error:` line that names the input and the
//! cause, exit status 1, and nothing half-written in the output or the cache.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use jib_image::digest::Digest;

use crate::support::check::{BIN, Tmpfs, leftovers, run_bounded, single_error_line, verify_cache};
use crate::support::mock::{Answer, MockServer, integrity_of, pseudo_random};

/// What one case works with: its own directory, output and cache.
struct Ctx {
    dir: PathBuf,
    out: PathBuf,
    cache: PathBuf,
    /// Arguments after `jib-image -q`; the default builds `spec.toml`.
    args: Option<Vec<String>>,
    env: Vec<(String, String)>,
    /// Kept alive for the run (mock servers, mounts).
    keep: Vec<Box<dyn std::any::Any>>,
    /// The output exists before the run and must be left as it was.
    out_before: Option<Vec<(PathBuf, Vec<u8>)>>,
}

impl Ctx {
    fn write(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn spec(&self, text: &str) {
        self.write("spec.toml", text);
    }

    fn args(&mut self, args: &[&str]) {
        self.args = Some(args.iter().map(|s| s.to_string()).collect());
    }

    fn default_args(&self) -> Vec<String> {
        vec![
            "build".into(),
            self.dir.join("spec.toml").display().to_string(),
            "-o".into(),
            format!("oci:{}", self.out.display()),
            "--cache-dir".into(),
            self.cache.display().to_string(),
        ]
    }
}

struct Case {
    name: &'static str,
    setup: fn(&mut Ctx),
    /// Texts the error line must hold (the input named, the cause).
    expect: &'static [&'static str],
}

const LAYER_HEAD: &str = "[[layers]]\nname = \"l\"\n";

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        // Written raw: the tar crate refuses to write `..` names itself.
        let bytes = name.as_bytes();
        header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        header.set_cksum();
        tar.append(&header, *data).unwrap();
    }
    tar.into_inner().unwrap()
}

fn rootfs_spec(ctx: &Ctx, tar: &[u8]) {
    ctx.write("base.tar", tar);
    ctx.spec("[base]\nrootfs = \"base.tar\"\n");
}

/// A layout whose layer blob holds other bytes than its digest names.
fn corrupt_layout(ctx: &Ctx, what: &str) {
    let layout = ctx.dir.join("baselayout");
    let image = crate::support::layout::write_image_layout(&layout, "bad", "base");
    // The first blob written is the first layer.
    let layer = layout.join("blobs/sha256").join(image.blobs[0].hex());
    match what {
        "content" => {
            let mut bytes = std::fs::read(&layer).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            std::fs::write(&layer, bytes).unwrap();
        }
        _ => std::fs::remove_file(&layer).unwrap(),
    }
    ctx.spec("[base]\nlayout = \"baselayout\"\nref = \"base\"\n");
}

/// An npm package served by a mock registry on 127.0.0.1, with the spec
/// pointing at it; `answer` replaces the tarball's answer.
fn npm_case(ctx: &mut Ctx, integrity: Option<&str>, answer: Option<fn(Vec<u8>) -> Answer>) {
    let mock = MockServer::start();
    let tgz = mock.publish_tool("tool", "1.0.0", 64 * 1024);
    if let Some(answer) = answer {
        mock.route("/tool/-/tool-1.0.0.tgz", answer(tgz.clone()));
    }
    let integrity = integrity.map_or_else(|| integrity_of(&tgz), str::to_string);
    ctx.spec(&format!(
        "{LAYER_HEAD}[layers.npm]\npackage = \"tool\"\nversion = \"1.0.0\"\n\
         integrity = \"{integrity}\"\nlibc = \"glibc\"\n"
    ));
    ctx.env.push(("NPM_CONFIG_REGISTRY".into(), mock.url()));
    ctx.env.push((
        "NPM_CONFIG_USERCONFIG".into(),
        ctx.dir.join("no-npmrc").display().to_string(),
    ));
    ctx.keep.push(Box::new(mock));
}

/// A registry on 127.0.0.1 serving `repo:tag` whose layer blob answers
/// with other bytes than its digest.
fn wrong_digest_registry(ctx: &mut Ctx, manifest_too: bool) {
    let mock = MockServer::start();
    let layer = b"not the layer you asked for".to_vec();
    let claimed = Digest::of(b"the real layer");
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [claimed.to_string()]},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = Digest::of(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": claimed.to_string(), "size": layer.len()}],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    mock.route("/v2/", Answer::Ok(b"{}".to_vec()));
    if manifest_too {
        // Asked for by digest, the registry serves a different manifest.
        let wanted = Digest::of(b"another manifest");
        mock.route(
            &format!("/v2/repo/manifests/{wanted}"),
            Answer::Ok(manifest),
        );
        let host = format!("127.0.0.1:{}", mock.port);
        ctx.spec(&format!("[base]\nimage = \"{host}/repo@{wanted}\"\n"));
    } else {
        mock.route("/v2/repo/manifests/tag", Answer::Ok(manifest));
        mock.route(
            &format!("/v2/repo/blobs/{config_digest}"),
            Answer::Ok(config),
        );
        mock.route(&format!("/v2/repo/blobs/{claimed}"), Answer::Ok(layer));
        let host = format!("127.0.0.1:{}", mock.port);
        ctx.spec(&format!("[base]\nimage = \"{host}/repo:tag\"\n"));
    }
    ctx.keep.push(Box::new(mock));
}

fn full_disk(ctx: &mut Ctx, output_on_it: bool) -> bool {
    let Some(tmpfs) = Tmpfs::mount("1m") else {
        return false;
    };
    ctx.write("big.bin", pseudo_random(3 << 20, 7));
    ctx.spec(&format!(
        "{LAYER_HEAD}[[layers.copy]]\nsrc = \"big.bin\"\ndest = \"/big.bin\"\n"
    ));
    if output_on_it {
        ctx.out = tmpfs.dir.join("out");
    } else {
        ctx.cache = tmpfs.dir.join("cache");
    }
    ctx.keep.push(Box::new(tmpfs));
    true
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    files.sort();
    files
}

fn cases() -> Vec<Case> {
    vec![
        // The spec file itself.
        Case {
            name: "malformed toml",
            setup: |c| c.spec("platform = \"linux/amd64\"\n[[layers]\nname = 1\n"),
            expect: &["spec.toml:2:", "unclosed"],
        },
        Case {
            name: "duplicate key",
            setup: |c| c.spec("platform = \"linux/amd64\"\nplatform = \"linux/arm64\"\n"),
            expect: &["spec.toml:2:", "duplicate key"],
        },
        Case {
            name: "string not closed",
            setup: |c| c.spec("platform = \"linux/amd64\n"),
            expect: &["spec.toml:1:", "string"],
        },
        Case {
            name: "not utf-8",
            setup: |c| {
                c.write("spec.toml", b"platform = \"linux/\xff\"\n");
            },
            expect: &["spec.toml", "utf-8"],
        },
        Case {
            name: "wrong type: platform",
            setup: |c| c.spec("platform = 5\n"),
            expect: &["spec.toml:1:", "invalid type", "string"],
        },
        Case {
            name: "wrong type: layers",
            setup: |c| c.spec("layers = \"everything\"\n"),
            expect: &["spec.toml:1:", "invalid type"],
        },
        Case {
            name: "wrong type: mode",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.dir]]\npath = \"/d\"\nmode = true\n"
                ))
            },
            expect: &["spec.toml:5:", "mode", "octal string"],
        },
        Case {
            name: "wrong type: file content",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.file]]\npath = \"/f\"\ncontent = [1, 2]\n"
                ))
            },
            expect: &["spec.toml:5:", "invalid type"],
        },
        Case {
            name: "wrong type: env",
            setup: |c| c.spec("[config]\nenv = [\"A=1\"]\n"),
            expect: &["spec.toml:2:", "invalid type"],
        },
        Case {
            name: "unknown top-level key",
            setup: |c| c.spec("plattform = \"linux/amd64\"\n"),
            expect: &["spec.toml:1:", "unknown key `plattform`", "`platform`"],
        },
        Case {
            name: "unknown copy key",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.copy]]\nsource = \"a\"\ndest = \"/a\"\n"
                ))
            },
            expect: &["spec.toml:4:", "unknown key `source`", "`src`"],
        },
        Case {
            name: "unknown base key",
            setup: |c| c.spec("[base]\nimag = \"debian:12\"\n"),
            expect: &["spec.toml:2:", "unknown key `imag`"],
        },
        Case {
            name: "unknown compression",
            setup: |c| c.spec("compression = \"brotli\"\n"),
            expect: &["spec.toml:1:", "brotli"],
        },
        // Files that are missing or cannot be read.
        Case {
            name: "spec missing",
            setup: |c| c.args(&["build", "/nonexistent/dir/spec.toml"]),
            expect: &["/nonexistent/dir/spec.toml", "no such file"],
        },
        Case {
            name: "spec is a directory",
            setup: |c| {
                std::fs::create_dir(c.dir.join("spec.toml")).unwrap();
            },
            expect: &["spec.toml", "directory"],
        },
        Case {
            name: "spec is a fifo",
            setup: |c| mkfifo(&c.dir.join("spec.toml")),
            expect: &["spec.toml", "not a regular file"],
        },
        Case {
            name: "spec is a dangling symlink",
            setup: |c| symlink(c.dir.join("gone.toml"), c.dir.join("spec.toml")).unwrap(),
            expect: &["spec.toml", "no such file"],
        },
        Case {
            name: "layer file missing",
            setup: |c| c.spec("[[layers]]\ninclude = \"layers/missing.toml\"\n"),
            expect: &["layers[0].include", "layers/missing.toml", "no such file"],
        },
        Case {
            name: "layer file is a fifo",
            setup: |c| {
                std::fs::create_dir(c.dir.join("layers")).unwrap();
                mkfifo(&c.dir.join("layers/pipe.toml"));
                c.spec("[[layers]]\ninclude = \"layers/pipe.toml\"\n");
            },
            expect: &["layers/pipe.toml", "not a regular file"],
        },
        Case {
            name: "layer file malformed",
            setup: |c| {
                c.write("layers/bad.toml", "[[copy]]\nsrc = \"a\"\ndest = \n");
                c.spec("[[layers]]\ninclude = \"layers/bad.toml\"\n");
            },
            expect: &["layers/bad.toml:3:"],
        },
        Case {
            name: "layer file includes another",
            setup: |c| {
                c.write("layers/a.toml", "include = \"b.toml\"\n");
                c.spec("[[layers]]\ninclude = \"layers/a.toml\"\n");
            },
            expect: &["layers/a.toml", "cannot include another"],
        },
        Case {
            name: "copy source missing",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.copy]]\nsrc = \"nothere.txt\"\ndest = \"/x\"\n"
                ))
            },
            expect: &["layers[0].copy[0].src", "nothere.txt", "no such file"],
        },
        Case {
            name: "copy source is a fifo",
            setup: |c| {
                mkfifo(&c.dir.join("pipe"));
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.copy]]\nsrc = \"pipe\"\ndest = \"/pipe\"\n"
                ));
            },
            expect: &["layers[0].copy[0].src", "pipe", "not a regular file"],
        },
        Case {
            name: "fifo inside a copied directory",
            setup: |c| {
                std::fs::create_dir(c.dir.join("tree")).unwrap();
                c.write("tree/ok.txt", "ok");
                mkfifo(&c.dir.join("tree/pipe"));
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.copy]]\nsrc = \"tree\"\ndest = \"/tree\"\n"
                ));
            },
            expect: &["layers[0].copy[0].src", "tree/pipe", "not a regular file"],
        },
        Case {
            name: "base rootfs missing",
            setup: |c| c.spec("[base]\nrootfs = \"missing.tar\"\n"),
            expect: &["base.rootfs", "missing.tar", "no such file"],
        },
        Case {
            name: "base rootfs dangling symlink",
            setup: |c| {
                symlink(c.dir.join("gone.tar"), c.dir.join("base.tar")).unwrap();
                c.spec("[base]\nrootfs = \"base.tar\"\n");
            },
            expect: &["base.rootfs", "base.tar", "no such file"],
        },
        Case {
            name: "base rootfs is a fifo",
            setup: |c| {
                mkfifo(&c.dir.join("base.tar"));
                c.spec("[base]\nrootfs = \"base.tar\"\n");
            },
            expect: &["base.rootfs", "base.tar", "not a regular file"],
        },
        Case {
            name: "base layout not a layout",
            setup: |c| {
                std::fs::create_dir(c.dir.join("notlayout")).unwrap();
                c.spec("[base]\nlayout = \"notlayout\"\n");
            },
            expect: &["base.layout", "notlayout", "no index.json"],
        },
        // Paths that leave the image root, and conflicting entries.
        Case {
            name: "copy dest escapes through ..",
            setup: |c| {
                c.write("a.txt", "a");
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.copy]]\nsrc = \"a.txt\"\ndest = \"../../etc/a\"\n"
                ));
            },
            expect: &["layers[0].copy[0].dest", ".."],
        },
        Case {
            name: "dir path escapes from the root",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.dir]]\npath = \"/../../x\"\n"
                ))
            },
            expect: &["layers[0].dir[0]", ".."],
        },
        Case {
            name: "file path escapes midway",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.file]]\npath = \"/etc/../../root/x\"\ncontent = \"\"\n"
                ))
            },
            expect: &["layers[0].file[0]", ".."],
        },
        Case {
            name: "symlink path escapes",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.symlink]]\npath = \"../x\"\ntarget = \"/y\"\n"
                ))
            },
            expect: &["layers[0].symlink[0]", ".."],
        },
        Case {
            name: "empty symlink target",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.symlink]]\npath = \"/x\"\ntarget = \"\"\n"
                ))
            },
            expect: &["layers[0].symlink[0]", "target is empty"],
        },
        Case {
            name: "file and directory at one path in one layer",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.dir]]\npath = \"/opt/x\"\n\
                     [[layers.file]]\npath = \"/opt/x\"\ncontent = \"\"\n"
                ))
            },
            expect: &["layers[0].file[0]", "/opt/x", "declared twice"],
        },
        Case {
            name: "two layers, file then directory at one path",
            setup: |c| {
                c.spec(
                    "[[layers]]\nname = \"one\"\n[[layers.file]]\npath = \"/opt/x\"\ncontent = \"\"\n\
                     [[layers]]\nname = \"two\"\n[[layers.dir]]\npath = \"/opt/x\"\n",
                )
            },
            expect: &["/opt/x", "one", "two"],
        },
        Case {
            name: "two layers, file under another layer's file",
            setup: |c| {
                c.spec(
                    "[[layers]]\nname = \"one\"\n[[layers.file]]\npath = \"/opt\"\ncontent = \"\"\n\
                     [[layers]]\nname = \"two\"\n[[layers.file]]\npath = \"/opt/y\"\ncontent = \"\"\n",
                )
            },
            expect: &["/opt", "one", "two"],
        },
        // Modes and owners.
        Case {
            name: "mode not octal",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.dir]]\npath = \"/d\"\nmode = \"0999\"\n"
                ))
            },
            expect: &["layers[0].dir[0].mode", "0999", "octal"],
        },
        Case {
            name: "mode with type bits",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.dir]]\npath = \"/d\"\nmode = \"40755\"\n"
                ))
            },
            expect: &["layers[0].dir[0].mode", "0o7777"],
        },
        Case {
            name: "mode symbolic",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.file]]\npath = \"/f\"\ncontent = \"\"\nmode = \"rwxr-xr-x\"\n"
                ))
            },
            expect: &["layers[0].file[0].mode", "rwxr-xr-x"],
        },
        Case {
            name: "copy mode negative",
            setup: |c| {
                c.write("a.txt", "a");
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.copy]]\nsrc = \"a.txt\"\ndest = \"/a\"\nmode = -1\n"
                ));
            },
            expect: &["spec.toml:6:", "octal string"],
        },
        Case {
            name: "owner by name",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.dir]]\npath = \"/d\"\nowner = \"root:root\"\n"
                ))
            },
            expect: &["layers[0].dir[0].owner", "root:root", "uid:gid"],
        },
        Case {
            name: "owner without group",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.file]]\npath = \"/f\"\ncontent = \"\"\nowner = \"1000\"\n"
                ))
            },
            expect: &["layers[0].file[0].owner", "'1000'"],
        },
        Case {
            name: "owner negative",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.symlink]]\npath = \"/s\"\ntarget = \"x\"\nowner = \"-1:0\"\n"
                ))
            },
            expect: &["layers[0].symlink[0].owner", "-1:0"],
        },
        Case {
            name: "owner past the id range",
            setup: |c| {
                c.spec(&format!(
                    "{LAYER_HEAD}[[layers.dir]]\npath = \"/d\"\nowner = \"4294967295:0\"\n"
                ))
            },
            expect: &["layers[0].dir[0].owner", "4294967295:0"],
        },
        // Image references and platforms.
        Case {
            name: "push reference with spaces",
            setup: |c| {
                c.spec("");
                let mut args = c.default_args();
                args.extend(["--push".into(), "localhost:5000/my image:tag".into()]);
                c.args = Some(args);
            },
            expect: &["localhost:5000/my image:tag"],
        },
        Case {
            name: "push reference upper case",
            setup: |c| {
                c.spec("");
                let mut args = c.default_args();
                args.extend(["--push".into(), "localhost:5000/Repo:tag".into()]);
                c.args = Some(args);
            },
            expect: &["localhost:5000/Repo:tag"],
        },
        Case {
            name: "push reference with a short digest",
            setup: |c| {
                c.spec("");
                let mut args = c.default_args();
                args.extend(["--push".into(), "localhost:5000/repo@sha256:abc".into()]);
                c.args = Some(args);
            },
            expect: &["localhost:5000/repo@sha256:abc"],
        },
        Case {
            name: "push command, bad target",
            setup: |c| {
                let layout = c.dir.join("layout");
                crate::support::layout::write_image_layout(&layout, "p", "latest");
                let src = format!("oci:{}", layout.display());
                c.args(&["push", &src, "registry.invalid/:tag"]);
            },
            expect: &["registry.invalid/:tag"],
        },
        Case {
            name: "base image reference empty tag",
            setup: |c| c.spec("[base]\nimage = \"localhost:5000/repo:\"\n"),
            expect: &["base.image", "localhost:5000/repo:"],
        },
        Case {
            name: "base image reference with bad characters",
            setup: |c| c.spec("[base]\nimage = \"debian!:12\"\n"),
            expect: &["base.image", "debian!:12"],
        },
        Case {
            name: "unknown platform os",
            setup: |c| c.spec("platform = \"plan9/amd64\"\n"),
            expect: &["spec.toml", "platforms", "plan9/amd64"],
        },
        Case {
            name: "platform without architecture",
            setup: |c| c.spec("platform = \"linux\"\n"),
            expect: &["spec.toml", "platforms", "linux"],
        },
        Case {
            name: "--platform not in the spec",
            setup: |c| {
                c.spec("platform = \"linux/amd64\"\n");
                let mut args = c.default_args();
                args.extend(["--platform".into(), "linux/arm64".into()]);
                c.args = Some(args);
            },
            expect: &["--platform linux/arm64", "linux/amd64"],
        },
        Case {
            name: "--platform unknown",
            setup: |c| {
                c.spec("");
                let mut args = c.default_args();
                args.extend(["--platform".into(), "linux/vax".into()]);
                c.args = Some(args);
            },
            expect: &["linux/vax"],
        },
        // Broken base tarballs.
        Case {
            name: "base tarball truncated",
            setup: |c| {
                let data = pseudo_random(20_000, 1);
                let tar = tar_of(&[("etc/a", &data), ("etc/b", b"b")]);
                rootfs_spec(c, &tar[..10_000]);
            },
            expect: &["base", "base.tar", "truncated"],
        },
        Case {
            name: "base tarball without end marker",
            setup: |c| {
                let tar = tar_of(&[("etc/a", b"a")]);
                rootfs_spec(c, &tar[..1024]);
            },
            expect: &["base.tar", "truncated"],
        },
        Case {
            name: "base tarball gzip cut short",
            setup: |c| {
                let tar = tar_of(&[("etc/a", &pseudo_random(50_000, 2))]);
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                std::io::Write::write_all(&mut gz, &tar).unwrap();
                let gz = gz.finish().unwrap();
                rootfs_spec(c, &gz[..gz.len() / 2]);
            },
            expect: &["base.tar"],
        },
        Case {
            name: "base is not a tar",
            setup: |c| rootfs_spec(c, &pseudo_random(4096, 3)),
            expect: &["base.tar", "not a tar archive"],
        },
        Case {
            name: "base is empty",
            setup: |c| rootfs_spec(c, b""),
            expect: &["base.tar", "not a tar archive"],
        },
        Case {
            name: "base tarball with .. entry",
            setup: |c| rootfs_spec(c, &tar_of(&[("etc/ok", b"ok"), ("../evil", b"x")])),
            expect: &["base.tar", "../evil", "'..'"],
        },
        Case {
            name: "base tarball with .. midway",
            setup: |c| rootfs_spec(c, &tar_of(&[("usr/../../evil", b"x")])),
            expect: &["base.tar", "usr/../../evil"],
        },
        Case {
            name: "base tarball with absolute entry",
            setup: |c| rootfs_spec(c, &tar_of(&[("/etc/evil", b"x")])),
            expect: &["base.tar", "/etc/evil", "absolute"],
        },
        Case {
            name: "layout base blob does not match its digest",
            setup: |c| corrupt_layout(c, "content"),
            expect: &["baselayout", "does not match"],
        },
        Case {
            name: "layout base blob missing",
            setup: |c| corrupt_layout(c, "missing"),
            expect: &["baselayout", "no such file"],
        },
        // Downloads.
        Case {
            name: "npm integrity mismatch",
            setup: |c| {
                let wrong = integrity_of(b"some other tarball");
                let wrong: &'static str = Box::leak(wrong.into_boxed_str());
                npm_case(c, Some(wrong), None);
            },
            expect: &["npm package tool", "pins integrity"],
        },
        Case {
            name: "npm tarball replaced on the registry",
            setup: |c| npm_case(c, None, Some(|_| Answer::Ok(b"not the tarball".to_vec()))),
            expect: &["tool-1.0.0.tgz", "does not match its integrity"],
        },
        Case {
            name: "npm download interrupted",
            setup: |c| {
                npm_case(
                    c,
                    None,
                    Some(|body| {
                        let sent = body.len() / 2;
                        Answer::CutShort { body, sent }
                    }),
                )
            },
            expect: &["tool-1.0.0.tgz"],
        },
        Case {
            name: "npm package missing",
            setup: |c| {
                npm_case(c, None, None);
                let spec = std::fs::read_to_string(c.dir.join("spec.toml")).unwrap();
                c.spec(&spec.replace("\"tool\"", "\"absent\""));
            },
            expect: &["absent", "404"],
        },
        Case {
            name: "registry blob with the wrong digest",
            setup: |c| wrong_digest_registry(c, false),
            expect: &["/repo", "does not match its digest"],
        },
        Case {
            name: "registry manifest with the wrong digest",
            setup: |c| wrong_digest_registry(c, true),
            expect: &["/repo", "expected sha256:"],
        },
        Case {
            name: "registry not listening",
            setup: |c| {
                let port = crate::support::registry::free_port();
                c.spec(&format!("[base]\nimage = \"127.0.0.1:{port}/repo:tag\"\n"));
            },
            expect: &["127.0.0.1:", "/repo"],
        },
        // Outputs, caches and the environment.
        Case {
            name: "output of an unknown kind",
            setup: |c| {
                c.spec("");
                let spec = c.dir.join("spec.toml").display().to_string();
                let cache = c.cache.display().to_string();
                c.args(&["build", &spec, "-o", "zip:out.zip", "--cache-dir", &cache]);
            },
            expect: &["zip:out.zip"],
        },
        Case {
            name: "output over a directory that is not a layout",
            setup: |c| {
                c.spec("");
                std::fs::create_dir_all(&c.out).unwrap();
                std::fs::write(c.out.join("precious.txt"), "keep me").unwrap();
                c.out_before = Some(snapshot(&c.out));
            },
            expect: &["out", "not an OCI image layout"],
        },
        Case {
            name: "output over a file",
            setup: |c| {
                c.spec("");
                std::fs::write(&c.out, "a file").unwrap();
            },
            expect: &["out", "not an OCI image layout"],
        },
        Case {
            name: "cache dir is a file",
            setup: |c| {
                c.spec("");
                std::fs::write(&c.cache, "a file").unwrap();
            },
            expect: &["cache"],
        },
        Case {
            name: "SOURCE_DATE_EPOCH not a number",
            setup: |c| {
                c.spec("");
                c.env.push(("SOURCE_DATE_EPOCH".into(), "yesterday".into()));
            },
            expect: &["SOURCE_DATE_EPOCH", "yesterday"],
        },
        Case {
            name: "full disk under the output",
            setup: |c| {
                full_disk(c, true);
            },
            expect: &["out", "no space left on device"],
        },
        Case {
            name: "full disk under the cache",
            setup: |c| {
                full_disk(c, false);
            },
            expect: &["cache/blobs/sha256", "no space left on device"],
        },
    ]
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// Runs one case; returns the error line, or `None` when it was skipped.
fn run_case(case: &Case) -> Result<Option<String>, String> {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("work");
    std::fs::create_dir(&dir).unwrap();
    let mut ctx = Ctx {
        out: root.path().join("outputs/out"),
        cache: root.path().join("cache"),
        dir,
        args: None,
        env: Vec::new(),
        keep: Vec::new(),
        out_before: None,
    };
    std::fs::create_dir_all(root.path().join("outputs")).unwrap();
    (case.setup)(&mut ctx);
    if case.name.starts_with("full disk") && ctx.keep.is_empty() {
        return Ok(None);
    }
    let args = ctx.args.clone().unwrap_or_else(|| ctx.default_args());
    let mut command = Command::new(BIN);
    command.arg("-q").args(&args).current_dir(&ctx.dir);
    command
        .env_remove("RUST_LOG")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("JIB_IMAGE_CACHE", &ctx.cache)
        .env("XDG_CACHE_HOME", root.path().join("xdg"))
        .env("JIB_IMAGE_TIMEOUT", "5");
    for (k, v) in &ctx.env {
        command.env(k, v);
    }
    let output = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        run_bounded(&mut command, Duration::from_secs(30))
    }))
    .map_err(|_| "the run hung".to_string())?;
    let line = std::panic::catch_unwind(|| single_error_line(&output))
        .map_err(|_| format!("stderr: {}", String::from_utf8_lossy(&output.stderr)))?;
    let lower = line.to_lowercase();
    for want in case.expect {
        if !lower.contains(&want.to_lowercase()) {
            return Err(format!("error line lacks {want:?}: {line}"));
        }
    }
    match &ctx.out_before {
        Some(before) => {
            if &snapshot(&ctx.out) != before {
                return Err("the existing output was changed".into());
            }
        }
        None => {
            if ctx.out.symlink_metadata().is_ok() && !ctx.out.is_file() {
                return Err(format!("output {} was written", ctx.out.display()));
            }
        }
    }
    let mut left = leftovers(&ctx.cache);
    left.extend(leftovers(ctx.out.parent().unwrap()));
    if !left.is_empty() {
        return Err(format!("unfinished writes left behind: {left:?}"));
    }
    std::panic::catch_unwind(|| verify_cache(&ctx.cache))
        .map_err(|_| "the cache holds a bad blob or record".to_string())?;
    Ok(Some(line))
}

#[test]
fn every_bad_input_ends_in_one_clear_error_and_leaves_nothing_half_written() {
    let cases = cases();
    assert!(cases.len() >= 40, "the catalogue shrank to {}", cases.len());
    let mut failures = Vec::new();
    let mut tried = 0;
    for case in &cases {
        match run_case(case) {
            Ok(Some(line)) => {
                tried += 1;
                eprintln!("ok   {:<50} {line}", case.name);
            }
            Ok(None) => eprintln!("skip {}", case.name),
            Err(why) => failures.push(format!("{}: {why}", case.name)),
        }
    }
    eprintln!("{tried} bad inputs tried, {} failed", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
