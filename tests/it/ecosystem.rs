//! Fitting the ecosystem: archive outputs that docker/podman/skopeo read,
//! `--load`, `--json` against the registry's view, the SBOM referrer,
//! annotations, stored credentials, `inspect` and `verify`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jib_image::digest::Digest;
use serde_json::Value;

use crate::support::registry::TestRegistry;
use crate::support::require_tools;

const EPOCH: &str = "1700000000";
const FILE_A: &[u8] = b"data one\n";
const MOTD: &[u8] = b"hi\n";

/// A spec on a rootfs directory holding a small dpkg status, with one
/// local layer.
fn fixture(dir: &Path, extra: &str) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("files")).unwrap();
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: base-files\nStatus: install ok installed\nVersion: 12.4+deb12u5\n\
         Architecture: amd64\n\nPackage: removed\nStatus: deinstall ok config-files\n\
         Version: 1.0\nArchitecture: amd64\n\nPackage: zlib1g\nStatus: install ok installed\n\
         Version: 1:1.2.13.dfsg-1\nArchitecture: amd64\nDescription: compression\n library\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/hostname"), "eco\n").unwrap();
    std::fs::write(dir.join("files/a.txt"), FILE_A).unwrap();
    let spec = dir.join("jib.toml");
    std::fs::write(
        &spec,
        format!(
            "{extra}\n[base]\nrootfs = \"root\"\nlibc = \"glibc\"\n\
             [[layers]]\nname = \"app\"\n[[layers.copy]]\nsrc = \"files\"\ndest = \"/opt/app\"\n\
             [[layers.file]]\npath = \"/etc/motd\"\ncontent = \"hi\\n\"\n\
             [config]\ncmd = [\"/bin/sh\"]\nenv = {{ A = \"1\" }}\nworkdir = \"/opt/app\"\n\
             [metadata]\ntitle = \"eco test\"\nversion = \"1.2.3\"\n"
        ),
    )
    .unwrap();
    spec
}

fn single(dir: &Path) -> PathBuf {
    fixture(dir, "platform = \"linux/amd64\"")
}

fn jib(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jib-image"));
    command.args(args).env("SOURCE_DATE_EPOCH", EPOCH);
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(output: Output) -> Value {
    serde_json::from_str(&ok(output)).unwrap()
}

fn run(program: &str, args: &[&str], envs: &[(&str, &Path)]) -> Vec<u8> {
    let mut command = Command::new(program);
    command.args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Podman's configuration for tests: vfs storage in `dir`, no ulimits.
fn podman_env(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let conf = crate::support::rootfs::containers_conf(dir);
    let storage = dir.join("storage.conf");
    std::fs::write(
        &storage,
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            dir.join("graph").display(),
            dir.join("run").display()
        ),
    )
    .unwrap();
    vec![
        ("CONTAINERS_CONF", conf),
        ("CONTAINERS_STORAGE_CONF", storage),
    ]
}

fn env_refs<'a>(envs: &'a [(&'static str, PathBuf)]) -> Vec<(&'static str, &'a Path)> {
    envs.iter().map(|(k, v)| (*k, v.as_path())).collect()
}

fn layer_digests(result: &Value) -> Vec<String> {
    result["manifests"][0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn archives_are_read_by_skopeo_and_podman_and_are_deterministic() {
    if !require_tools(&["skopeo", "podman"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let spec = single(work.path());
    let docker = work.path().join("out/docker.tar");
    let oci = work.path().join("out/oci.tar");
    let layout = work.path().join("out/layout");
    let cache = work.path().join("cache");
    let result = json(jib(
        &[
            "build",
            path(&spec),
            "--json",
            "--cache-dir",
            path(&cache),
            "-o",
            &format!("docker-archive:{}:eco/app:v1", docker.display()),
            "-o",
            &format!("oci-archive:{}:v1", oci.display()),
            "-o",
            &format!("oci:{}", layout.display()),
        ],
        &[],
    ));
    let digest = result["digest"].as_str().unwrap();
    let config = result["manifests"][0]["config_digest"].as_str().unwrap();
    assert_eq!(result["outputs"].as_array().unwrap().len(), 3);

    let raw = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci-archive:{}:v1", oci.display()),
        ],
        &[],
    );
    assert_eq!(Digest::of(&raw).to_string(), digest);
    let raw = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("docker-archive:{}", docker.display()),
        ],
        &[],
    );
    let manifest: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["config"]["digest"], config);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);

    let podman = podman_env(work.path());
    let envs = env_refs(&podman);
    run("podman", &["load", "-i", path(&docker)], &envs);
    let id = run(
        "podman",
        &["image", "inspect", "--format", "{{.Id}}", "eco/app:v1"],
        &envs,
    );
    assert_eq!(
        format!("sha256:{}", String::from_utf8_lossy(&id).trim()),
        config
    );
    run("podman", &["load", "-i", path(&oci)], &envs);

    // Entries sorted, mtime 0, owner 0.
    let mut archive = tar::Archive::new(std::fs::File::open(&docker).unwrap());
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        assert_eq!(
            (h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()),
            (0, 0, 0)
        );
        names.push(entry.path().unwrap().to_string_lossy().into_owned());
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"manifest.json".to_string()), "{names:?}");

    // A second build from a cold cache writes the same bytes.
    let again = work.path().join("again.tar");
    ok(jib(
        &[
            "build",
            path(&spec),
            "--cache-dir",
            path(&work.path().join("cache2")),
            "-o",
            &format!("docker-archive:{}:eco/app:v1", again.display()),
        ],
        &[],
    ));
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&docker).unwrap()
    );

    // inspect reads all three back alike.
    for location in [
        format!("oci:{}", layout.display()),
        format!("oci-archive:{}:v1", oci.display()),
        format!("docker-archive:{}", docker.display()),
    ] {
        let seen = json(jib(&["inspect", "--json", &location], &[]));
        assert_eq!(seen["digest"], digest, "{location}");
        let image = &seen["images"][0];
        assert_eq!(image["config_digest"], config, "{location}");
        assert_eq!(image["env"][0], "A=1");
        assert_eq!(image["working_dir"], "/opt/app");
        assert_eq!(image["layers"].as_array().unwrap().len(), 2);
    }
    let table = ok(jib(&["inspect", &format!("oci:{}", layout.display())], &[]));
    assert!(
        table.contains("org.opencontainers.image.title=eco test"),
        "{table}"
    );
}

#[test]
fn docker_archive_of_several_platforms_asks_for_one() {
    let work = tempfile::tempdir().unwrap();
    let spec = fixture(
        work.path(),
        "platforms = [\"linux/amd64\", \"linux/arm64\"]",
    );
    let cache = work.path().join("cache");
    let target = work.path().join("multi.tar");
    let out = jib(
        &[
            "build",
            path(&spec),
            "--cache-dir",
            path(&cache),
            "-o",
            &format!("docker-archive:{}", target.display()),
        ],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--platform") && stderr.contains("linux/arm64"),
        "{stderr}"
    );
    assert!(!target.exists());
    ok(jib(
        &[
            "build",
            path(&spec),
            "--cache-dir",
            path(&cache),
            "--platform",
            "linux/arm64",
            "-o",
            &format!("docker-archive:{}", target.display()),
        ],
        &[],
    ));
    assert!(target.is_file());
}

#[test]
fn load_hands_the_image_to_podman() {
    if !require_tools(&["podman"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let spec = single(work.path());
    let podman = podman_env(work.path());
    let mut envs = env_refs(&podman);
    let cache = work.path().join("cache");
    envs.push(("JIB_IMAGE_CACHE", &cache));
    let digest = ok(jib(&["build", path(&spec), "--load=eco/loaded:v2"], &envs));
    let seen = run(
        "podman",
        &[
            "image",
            "inspect",
            "--format",
            "{{.Digest}}",
            "eco/loaded:v2",
        ],
        &envs,
    );
    assert_eq!(String::from_utf8_lossy(&seen).trim(), digest.trim());
}

fn get(url: &str, accept: &str) -> Vec<u8> {
    let response = reqwest::blocking::Client::new()
        .get(url)
        .header("Accept", accept)
        .send()
        .unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.bytes().unwrap().to_vec()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Digest::of(bytes).hex().to_string()
}

#[test]
fn json_matches_the_registry_and_the_sbom_is_a_referrer() {
    if !require_tools(&["skopeo"]) {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let spec = single(work.path());
    let target = format!("{}/eco/app:v1", registry.host);
    let sbom_file = work.path().join("image.spdx.json");
    let result = json(jib(
        &[
            "build",
            path(&spec),
            "--json",
            "--cache-dir",
            path(&work.path().join("cache")),
            "--push",
            &target,
            "--sbom",
            path(&sbom_file),
        ],
        &[("XDG_CACHE_HOME", work.path())],
    ));
    let digest = result["digest"].as_str().unwrap();

    // The registry's own view: manifest digest and layers.
    let raw = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{target}"),
        ],
        &[],
    );
    assert_eq!(Digest::of(&raw).to_string(), digest);
    let manifest: Value = serde_json::from_slice(&raw).unwrap();
    let pushed: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(pushed, layer_digests(&result));
    assert_eq!(
        manifest["config"]["digest"],
        result["manifests"][0]["config_digest"]
    );
    let outputs = result["outputs"].as_array().unwrap();
    assert!(
        outputs
            .iter()
            .any(|o| o["kind"] == "registry" && o["digest"] == digest),
        "{outputs:?}"
    );
    for key in ["diff_id", "size", "cached", "media_type"] {
        assert!(!result["manifests"][0]["layers"][0][key].is_null(), "{key}");
    }
    let annotations = &manifest["annotations"];
    assert_eq!(annotations["org.opencontainers.image.title"], "eco test");
    assert_eq!(annotations["org.opencontainers.image.version"], "1.2.3");
    assert_eq!(
        annotations["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );

    // The referrers tag scheme, read with plain HTTP.
    let hex = digest.strip_prefix("sha256:").unwrap();
    let base = format!("http://{}/v2/eco/app", registry.host);
    let index: Value = serde_json::from_slice(&get(
        &format!("{base}/manifests/sha256-{hex}"),
        "application/vnd.oci.image.index.v1+json",
    ))
    .unwrap();
    let entry = &index["manifests"][0];
    assert_eq!(entry["artifactType"], "application/spdx+json");
    let artifact: Value = serde_json::from_slice(&get(
        &format!("{base}/manifests/{}", entry["digest"].as_str().unwrap()),
        "application/vnd.oci.image.manifest.v1+json",
    ))
    .unwrap();
    assert_eq!(artifact["subject"]["digest"], digest);
    assert_eq!(
        artifact["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    let blob = get(
        &format!(
            "{base}/blobs/{}",
            artifact["layers"][0]["digest"].as_str().unwrap()
        ),
        "*/*",
    );
    assert_eq!(blob, std::fs::read(&sbom_file).unwrap());

    let sbom: Value = serde_json::from_slice(&blob).unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    assert_eq!(sbom["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    assert!(sbom["documentNamespace"].as_str().unwrap().ends_with(hex));
    let purls: Vec<&str> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64",
            "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64"
        ]
    );
    let files: Vec<(String, String)> = sbom["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fileName"].as_str().unwrap().to_string(),
                f["checksums"][0]["checksumValue"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("/etc/motd".to_string(), sha256_hex(MOTD)),
            ("/opt/app/a.txt".to_string(), sha256_hex(FILE_A)),
        ]
    );

    // inspect asks the registry for documents only.
    let seen = json(jib(
        &["inspect", "--json", &format!("docker://{target}")],
        &[],
    ));
    assert_eq!(seen["digest"], digest);
    assert_eq!(seen["images"][0]["cmd"][0], "/bin/sh");
}

#[test]
fn registry_bases_and_git_fill_the_annotations() {
    if !require_tools(&["git"]) {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let base_dir = work.path().join("base");
    let spec = single(&base_dir);
    let base_ref = format!("{}/eco/base:v1", registry.host);
    let cache = work.path().join("cache");
    let pushed = ok(jib(
        &[
            "build",
            path(&spec),
            "--cache-dir",
            path(&cache),
            "--push",
            &base_ref,
            "--no-sbom",
        ],
        &[("XDG_CACHE_HOME", work.path())],
    ));

    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("jib.toml"),
        format!(
            "platform = \"linux/amd64\"\n[base]\nimage = \"{base_ref}\"\nlibc = \"glibc\"\n\
             [[layers]]\nname = \"note\"\n[[layers.file]]\npath = \"/note\"\ncontent = \"x\"\n\
             [metadata]\nfrom_git = true\n"
        ),
    )
    .unwrap();
    let git = |args: &[&str]| run("git", &[&["-C", path(&app)], args].concat(), &[]);
    git(&["init", "-q"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://user:secret@example.invalid/eco.git",
    ]);
    git(&["add", "."]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-qm",
        "x",
    ]);
    let revision = String::from_utf8(git(&["rev-parse", "HEAD"])).unwrap();
    let layout = work.path().join("layout");
    ok(jib(
        &[
            "build",
            path(&app.join("jib.toml")),
            "--cache-dir",
            path(&cache),
            "-o",
            &format!("oci:{}", layout.display()),
        ],
        &[("XDG_CACHE_HOME", work.path())],
    ));
    let seen = json(jib(
        &["inspect", "--json", &format!("oci:{}", layout.display())],
        &[],
    ));
    let a = &seen["annotations"];
    assert_eq!(a["org.opencontainers.image.base.name"], base_ref.as_str());
    assert_eq!(a["org.opencontainers.image.base.digest"], pushed.trim());
    assert_eq!(a["org.opencontainers.image.revision"], revision.trim());
    assert_eq!(
        a["org.opencontainers.image.source"],
        "https://example.invalid/eco.git"
    );
}

#[test]
fn push_reads_registry_auth_file_and_podman_auth_json() {
    let Some(registry) = TestRegistry::start_with_htpasswd("tester", "right-pass") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = crate::support::layout::write_image_layout(&layout, "authfile", "v1");
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("tester:right-pass");
    let file = format!(
        r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
        registry.host
    );
    let empty_docker = work.path().join("docker");
    std::fs::create_dir_all(&empty_docker).unwrap();
    let auth_file = work.path().join("auth.json");
    std::fs::write(&auth_file, &file).unwrap();
    let runtime = work.path().join("runtime");
    std::fs::create_dir_all(runtime.join("containers")).unwrap();
    std::fs::write(runtime.join("containers/auth.json"), &file).unwrap();
    let nowhere = work.path().join("nowhere");

    let push = |envs: &[(&str, &Path)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_jib-image"));
        command
            .arg("push")
            .arg(format!("oci:{}:v1", layout.display()))
            .arg(format!("{}/auth/app:v1", registry.host))
            .env("DOCKER_CONFIG", &empty_docker)
            .env("XDG_CACHE_HOME", work.path())
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR");
        for (k, v) in envs {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    assert!(!push(&[("XDG_RUNTIME_DIR", &nowhere)]).status.success());
    for envs in [
        [("REGISTRY_AUTH_FILE", auth_file.as_path())],
        [("XDG_RUNTIME_DIR", runtime.as_path())],
    ] {
        let out = ok(push(&envs));
        assert_eq!(out.trim(), image.digest.to_string());
    }
}

#[test]
fn verify_reports_reproducible_builds_and_names_the_first_difference() {
    let work = tempfile::tempdir().unwrap();
    let spec = single(work.path());
    let out = ok(jib(&["verify", path(&spec)], &[]));
    assert!(out.trim().starts_with("sha256:"), "{out}");

    let changing = work.path().join("files/a.txt");
    let mut command = Command::new(env!("CARGO_BIN_EXE_jib-image"));
    let failed = command
        .args(["verify", path(&spec)])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env(
            "JIB_IMAGE_VERIFY_BETWEEN",
            format!("echo more >> '{}'", changing.display()),
        )
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("layer 1 (app)") && stderr.contains("/opt/app/a.txt: size 9 against 14"),
        "{stderr}"
    );
}

#[test]
fn completions_and_man_page_are_generated() {
    let bash = ok(jib(&["completions", "bash"], &[]));
    assert!(bash.contains("jib-image"), "{bash}");
    let man = ok(jib(&["man"], &[]));
    assert!(man.contains(".TH jib-image"), "{man}");
}
