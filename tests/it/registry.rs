//! The registry client against Debian's real registry (and a front that
//! adds token auth and faults), checked with skopeo.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use jib_image::digest::Digest;
use jib_image::platform::Platform;
use jib_image::registry::{
    Client, ClientOptions, CredentialSources, Exchange, Reference, mediatype, pull_image,
    push_layout,
};
use jib_image::store::BlobStore;

use crate::support::layout::{write_image_layout, write_index_layout};
use crate::support::proxy::{Proxy, ProxyConfig};
use crate::support::registry::TestRegistry;
use crate::support::require_tools;

type Log = Arc<Mutex<Vec<Exchange>>>;

/// A client whose blob record lives in `state`, logging every exchange.
fn client(state: &Path, options: ClientOptions) -> (Client, Log) {
    let log: Log = Arc::default();
    let options = ClientOptions {
        blob_record: Some(state.join("registry-blobs.json")),
        credential_sources: options
            .credential_sources
            .clone()
            .or_else(|| Some(CredentialSources::default())),
        ..options
    };
    let seen = log.clone();
    let client = Client::new(&options)
        .unwrap()
        .with_observer(move |exchange| seen.lock().unwrap().push(exchange.clone()));
    (client, log)
}

fn reference(text: &str) -> Reference {
    text.parse().unwrap()
}

/// Uploads of blobs in the log (any POST, PATCH or PUT under blobs/uploads).
fn blob_uploads(log: &Log) -> Vec<Exchange> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|e| e.target.contains("/blobs/uploads/") && e.method != "HEAD")
        .cloned()
        .collect()
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let output = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running skopeo");
    assert!(
        output.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn skopeo_raw_digest(image: &str) -> Digest {
    Digest::of(&skopeo(&["inspect", "--raw", "--tls-verify=false", image]))
}

fn tools() -> bool {
    require_tools(&["docker-registry", "skopeo"])
}

#[test]
fn pushed_image_reads_back_identically_with_skopeo() {
    if !tools() {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image_layout(&layout, "first", "v1");
    let (client, log) = client(work.path(), ClientOptions::default());
    let target = reference(&format!("{}/test/app:v1", registry.host));

    let digest = push_layout(&client, &layout, Some("v1"), &target).unwrap();
    assert_eq!(digest, image.digest);
    assert_eq!(
        skopeo_raw_digest(&registry.docker_ref("test/app:v1")),
        digest
    );

    let copy = work.path().join("copy");
    let dest = format!("oci:{}:v1", copy.display());
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &registry.docker_ref("test/app:v1"),
        &dest,
    ]);
    for blob in &image.blobs {
        let path = |dir: &Path| dir.join("blobs/sha256").join(blob.hex());
        assert_eq!(
            std::fs::read(path(&copy)).unwrap(),
            std::fs::read(path(&layout)).unwrap(),
            "{blob}"
        );
    }

    // A second push finds every blob and uploads none.
    log.lock().unwrap().clear();
    push_layout(&client, &layout, Some("v1"), &target).unwrap();
    assert!(blob_uploads(&log).is_empty(), "{:?}", blob_uploads(&log));

    // Another repository mounts the blobs, from the record on disk.
    let (fresh, fresh_log) = self::client(work.path(), ClientOptions::default());
    let other = reference(&format!("{}/test/other:v1", registry.host));
    push_layout(&fresh, &layout, None, &other).unwrap();
    let uploads = blob_uploads(&fresh_log);
    let mounts: Vec<_> = uploads
        .iter()
        .filter(|e| e.target.contains("mount="))
        .collect();
    assert_eq!(mounts.len(), image.blobs.len() - 1, "{uploads:?}");
    assert!(mounts.iter().all(|e| e.status == 201), "{uploads:?}");
    assert_eq!(uploads.len(), mounts.len(), "only mounts: {uploads:?}");
    assert_eq!(
        skopeo_raw_digest(&registry.docker_ref("test/other:v1")),
        digest
    );
}

#[test]
fn image_index_is_pushed_whole_and_pulled_per_platform() {
    if !tools() {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_index_layout(&layout, "multi", "latest");
    let (client, _) = client(work.path(), ClientOptions::default());
    let target = reference(&format!("{}/multi/app:latest", registry.host));

    let digest = push_layout(&client, &layout, None, &target).unwrap();
    assert_eq!(digest, image.digest);
    assert_eq!(
        skopeo_raw_digest(&registry.docker_ref("multi/app:latest")),
        digest
    );

    let store = BlobStore::open(work.path().join("store")).unwrap();
    let arm = pull_image(&client, &target, &Platform::new("linux", "arm64"), &store).unwrap();
    let config: serde_json::Value = serde_json::from_slice(&arm.config).unwrap();
    assert_eq!(config["architecture"], "arm64");
    let missing = pull_image(&client, &target, &Platform::new("linux", "s390x"), &store);
    let err = missing.unwrap_err().to_string();
    assert!(
        err.contains("linux/s390x") && err.contains("linux/arm64"),
        "{err}"
    );
}

#[test]
fn docker_schema2_image_pulls_with_oci_media_types() {
    if !tools() {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    write_image_layout(&layout, "docker", "v1");
    let source = format!("oci:{}:v1", layout.display());
    let image = registry.docker_ref("docker/app:v1");
    skopeo(&[
        "copy",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        &source,
        &image,
    ]);
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &image]);
    assert!(String::from_utf8_lossy(&raw).contains(mediatype::DOCKER_LAYER_GZIP));

    let (client, log) = client(work.path(), ClientOptions::default());
    let store = BlobStore::open(work.path().join("store")).unwrap();
    let target = reference(&format!("{}/docker/app:v1", registry.host));
    let pulled = pull_image(&client, &target, &Platform::new("linux", "amd64"), &store).unwrap();

    assert_eq!(pulled.manifest_digest, Digest::of(&raw));
    assert_eq!(pulled.config_descriptor.media_type, mediatype::OCI_CONFIG);
    assert_eq!(Digest::of(&pulled.config), pulled.config_descriptor.digest);
    assert_eq!(pulled.layers.len(), 2);
    for layer in &pulled.layers {
        assert_eq!(layer.media_type, mediatype::OCI_LAYER_GZIP);
        assert!(store.verify(&layer.digest).unwrap());
    }

    // Pulled again by digest, everything comes from the store.
    log.lock().unwrap().clear();
    let pinned = reference(&format!(
        "{}/docker/app@{}",
        registry.host, pulled.manifest_digest
    ));
    let again = pull_image(&client, &pinned, &Platform::new("linux", "amd64"), &store).unwrap();
    assert_eq!(again.layers, pulled.layers);
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

fn credentials_file(dir: &Path, json: &str) -> CredentialSources {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, json).unwrap();
    CredentialSources {
        files: vec![path],
        helper_path: Some(dir.as_os_str().to_owned()),
    }
}

fn write_helper(dir: &Path, user: &str, secret: &str) {
    let script = dir.join("docker-credential-test");
    let body = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\n\
         printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\n"
    );
    std::fs::write(&script, body).unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
}

#[test]
fn basic_auth_uses_explicit_and_stored_credentials() {
    if !tools() {
        return;
    }
    let Some(registry) = TestRegistry::start_with_htpasswd("tester", "right-pass") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image_layout(&layout, "auth", "v1");
    let target = reference(&format!("{}/auth/app:v1", registry.host));

    let wrong = ClientOptions {
        username: Some("tester".into()),
        password: Some("wrong-pass-123".into()),
        ..ClientOptions::default()
    };
    let (client_wrong, _) = client(work.path(), wrong);
    let err = push_layout(&client_wrong, &layout, None, &target)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&registry.host) && err.contains("401"), "{err}");
    assert!(
        !err.contains("wrong-pass-123") && !err.contains('\n'),
        "{err}"
    );

    let right = ClientOptions {
        username: Some("tester".into()),
        password: Some("right-pass".into()),
        ..ClientOptions::default()
    };
    let (client_right, _) = client(work.path(), right);
    assert_eq!(
        push_layout(&client_right, &layout, None, &target).unwrap(),
        image.digest
    );

    let auth = base64_of("tester:right-pass");
    let host = &registry.host;
    let spellings = [
        format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
        format!(r#"{{"auths": {{"https://{host}": {{"auth": "{auth}"}}}}}}"#),
        format!(
            r#"{{"auths": {{"http://{host}/v2/": {{"username": "tester", "password": "right-pass"}}}}}}"#
        ),
        format!(r#"{{"auths": {{"{host}/v1/": {{"auth": "{auth}"}}}}}}"#),
        format!(r#"{{"credHelpers": {{"{host}": "test"}}}}"#),
        r#"{"credsStore": "test"}"#.to_string(),
    ];
    for (n, json) in spellings.iter().enumerate() {
        let dir = work.path().join(format!("config-{n}"));
        let sources = credentials_file(&dir, json);
        write_helper(&dir, "tester", "right-pass");
        let options = ClientOptions {
            credential_sources: Some(sources),
            ..ClientOptions::default()
        };
        let (client, _) = client(work.path(), options);
        let pushed = push_layout(&client, &layout, None, &target);
        assert_eq!(pushed.unwrap(), image.digest, "{json}");
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn push_command_finds_a_credential_helper_and_reports_refusals() {
    if !tools() {
        return;
    }
    let Some(registry) = TestRegistry::start_with_htpasswd("tester", "right-pass") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image_layout(&layout, "cli", "v1");
    let config = work.path().join("docker");
    credentials_file(
        &config,
        &format!(r#"{{"credHelpers": {{"{}": "test"}}}}"#, registry.host),
    );
    write_helper(&config, "tester", "right-pass");
    let path = format!(
        "{}:{}",
        config.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |extra: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jib-image"))
            .arg("push")
            .arg(format!("oci:{}:v1", layout.display()))
            .arg(format!("{}/cli/app:v1", registry.host))
            .args(extra)
            .env("DOCKER_CONFIG", &config)
            .env("PATH", &path)
            .env("XDG_CACHE_HOME", work.path().join("cache"))
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };

    let ok = run(&[], "");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        image.digest.to_string()
    );

    let refused = run(
        &["--username", "tester", "--password-stdin"],
        "bad-secret-456\n",
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(&registry.host) && errors[0].contains("401"),
        "{stderr}"
    );
    assert!(!stderr.contains("bad-secret-456"), "{stderr}");
}

#[test]
fn bearer_tokens_are_fetched_with_scopes_and_renewed_mid_push() {
    if !tools() {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let config = ProxyConfig {
        token_uses: Some(3),
        token_credentials: Some("tok-user:tok-pass".into()),
        ..ProxyConfig::default()
    };
    let proxy = Proxy::start(&registry.host, config);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image_layout(&layout, "token", "v1");
    let options = ClientOptions {
        username: Some("tok-user".into()),
        password: Some("tok-pass".into()),
        ..ClientOptions::default()
    };
    let (client, _) = client(work.path(), options);
    let target = reference(&format!("{}/tok/app:v1", proxy.host));

    assert_eq!(
        push_layout(&client, &layout, None, &target).unwrap(),
        image.digest
    );
    assert!(
        proxy
            .stats
            .expired_rejections
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );
    let requests = proxy.stats.token_requests.lock().unwrap().clone();
    assert!(requests.len() > 1, "{requests:?}");
    assert!(
        requests.iter().all(|q| q.contains("service=test-registry")
            && q.contains("scope=repository%3Atok%2Fapp%3Apull%2Cpush")),
        "{requests:?}"
    );
    assert_eq!(
        skopeo_raw_digest(&registry.docker_ref("tok/app:v1")),
        image.digest
    );

    // A mount from another repository asks for pull on the source too.
    let other = reference(&format!("{}/tok/other:v1", proxy.host));
    push_layout(&client, &layout, None, &other).unwrap();
    let requests = proxy.stats.token_requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .any(|q| q.contains("scope=repository%3Atok%2Fapp%3Apull&")
                || q.ends_with("scope=repository%3Atok%2Fapp%3Apull")),
        "{requests:?}"
    );
}

#[test]
fn failed_uploads_restart_and_large_bodies_fall_back_to_chunks() {
    if !tools() {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image_layout(&layout, "faults", "v1");

    let flaky = Proxy::start(
        &registry.host,
        ProxyConfig {
            fail_blob_puts: 2,
            ..ProxyConfig::default()
        },
    );
    let (client, _) = client(work.path(), ClientOptions::default());
    let target = reference(&format!("{}/faults/flaky:v1", flaky.host));
    assert_eq!(
        push_layout(&client, &layout, None, &target).unwrap(),
        image.digest
    );

    let strict = Proxy::start(
        &registry.host,
        ProxyConfig {
            refuse_monolithic: true,
            ..ProxyConfig::default()
        },
    );
    let (client, log) = self::client(&work.path().join("fresh"), ClientOptions::default());
    let target = reference(&format!("{}/faults/chunked:v1", strict.host));
    assert_eq!(
        push_layout(&client, &layout, None, &target).unwrap(),
        image.digest
    );
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|e| e.method == "PATCH" && e.status == 202)
    );
    assert_eq!(
        skopeo_raw_digest(&registry.docker_ref("faults/chunked:v1")),
        image.digest
    );

    let broken = Proxy::start(
        &registry.host,
        ProxyConfig {
            fail_manifest_puts: true,
            ..ProxyConfig::default()
        },
    );
    let (client, log) = self::client(&work.path().join("fresh2"), ClientOptions::default());
    let target = reference(&format!("{}/faults/broken:v1", broken.host));
    let err = push_layout(&client, &layout, None, &target)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&broken.host)
            && err.contains("PUT /v2/faults/broken/manifests/v1")
            && err.contains("503"),
        "{err}"
    );
    let manifest_puts = log
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.target.contains("/manifests/"))
        .count();
    assert_eq!(manifest_puts, 5, "bounded retries");
}

#[test]
fn redirected_blob_downloads_leave_credentials_behind() {
    if !tools() {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let image = write_image_layout(&layout, "redirect", "v1");
    let storage = Proxy::start(&registry.host, ProxyConfig::default());
    let front = Proxy::start(
        &registry.host,
        ProxyConfig {
            token_uses: Some(100),
            redirect_blob_gets: Some(storage.host.clone()),
            ..ProxyConfig::default()
        },
    );
    let (client, _) = client(work.path(), ClientOptions::default());
    let target = reference(&format!("{}/redirect/app:v1", front.host));
    assert_eq!(
        push_layout(&client, &layout, None, &target).unwrap(),
        image.digest
    );

    let store = BlobStore::open(work.path().join("store")).unwrap();
    let pulled = pull_image(&client, &target, &Platform::new("linux", "amd64"), &store).unwrap();
    assert_eq!(pulled.manifest_digest, image.digest);
    let downloads = storage.stats.forwarded.lock().unwrap().clone();
    assert_eq!(downloads.len(), 3, "config and two layers: {downloads:?}");
    assert_eq!(
        storage
            .stats
            .authorized
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert!(
        front
            .stats
            .authorized
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );
}
