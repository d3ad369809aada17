//! Registry faults: a proxy in front of the real registry answers some
//! requests with 5xx or 429, resets connections mid-body, stalls, truncates
//! bodies, changes bytes and lets tokens expire. Every push and pull either
//! completes with the right digests or fails with one clear line after
//! bounded retries, and no blob is uploaded more often than faults force.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use jib_image::digest::Digest;

use crate::support::check::{BIN, run_bounded, single_error_line, verify_cache};
use crate::support::faulty::{Fault, FaultyProxy, Rule};
use crate::support::mock::pseudo_random;
use crate::support::proxy::{Proxy, ProxyConfig};
use crate::support::registry::TestRegistry;

const STALL: Duration = Duration::from_secs(6);
/// The client's timeout in these tests (`JIB_IMAGE_TIMEOUT`), below STALL.
const TIMEOUT_SECS: &str = "2";
const RUN_LIMIT: Duration = Duration::from_secs(150);

fn jib(args: &[&str], home: &Path) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("RUST_LOG")
        .env("XDG_CACHE_HOME", home.join("xdg"))
        .env("JIB_IMAGE_CACHE", home.join("cache"))
        .env("JIB_IMAGE_TIMEOUT", TIMEOUT_SECS)
        .env("HOME", home)
        .env("DOCKER_CONFIG", home.join("docker"));
    run_bounded(&mut command, RUN_LIMIT)
}

fn skopeo_digest(reference: &str) -> Digest {
    let output = Command::new("skopeo")
        .args([
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
        ])
        .arg(reference)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Digest::of(&output.stdout)
}

/// A spec with three layers of incompressible data (a few MB in all).
fn write_spec(dir: &Path, base: Option<&str>) -> PathBuf {
    for (n, size) in [(1u64, 1_500_000usize), (2, 700_000), (3, 300_000)] {
        std::fs::write(dir.join(format!("data{n}.bin")), pseudo_random(size, n)).unwrap();
    }
    let mut spec = String::new();
    if let Some(base) = base {
        spec.push_str(&format!("[base]\nimage = \"{base}\"\n"));
    }
    for n in 1..=3 {
        spec.push_str(&format!(
            "[[layers]]\nname = \"d{n}\"\n[[layers.copy]]\nsrc = \"data{n}.bin\"\ndest = \"/data/{n}.bin\"\n"
        ));
    }
    let path = dir.join("spec.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

/// Builds the test image into `DIR/layout`; returns its digest and the
/// number of blobs a push must upload (layers and config).
fn build_layout(dir: &Path) -> (Digest, usize) {
    let spec = write_spec(dir, None);
    let layout = format!("oci:{}", dir.join("layout").display());
    let output = jib(&["-q", "build", spec.to_str().unwrap(), "-o", &layout], dir);
    assert!(output.status.success(), "{output:?}");
    let digest: Digest = String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (digest, 4)
}

struct Scenario {
    name: &'static str,
    rules: Vec<Rule>,
    /// Whether the push must succeed (else: fail with one line).
    succeeds: bool,
    /// Push with `build --push` instead of `push`.
    via_build: bool,
    /// Put an expiring-token front between the proxy and the registry.
    tokens: bool,
}

fn scenarios() -> Vec<Scenario> {
    let s = |name, rules, succeeds| Scenario {
        name,
        rules,
        succeeds,
        via_build: false,
        tokens: false,
    };
    vec![
        s(
            "5xx on uploads and manifests",
            vec![
                Rule::new("PUT", "/blobs/uploads/", Fault::Status(500)).times(2),
                Rule::new("POST", "/blobs/uploads/", Fault::Status(502)),
                Rule::new("PUT", "/manifests/", Fault::Status(503)),
            ],
            true,
        ),
        s(
            "429 with Retry-After on checks and sessions",
            vec![
                Rule::new("HEAD", "/blobs/", Fault::TooMany).times(2),
                Rule::new("POST", "/blobs/uploads/", Fault::TooMany),
                Rule::new("PUT", "/manifests/", Fault::TooMany),
            ],
            true,
        ),
        s(
            "connections reset mid-answer",
            vec![
                Rule::new("PUT", "/blobs/uploads/", Fault::ResetMidBody),
                Rule::new("POST", "/blobs/uploads/", Fault::ResetMidBody).skip(1),
                Rule::new("GET", "/v2/", Fault::ResetMidBody),
            ],
            true,
        ),
        s(
            "stalled answers time out and are retried",
            vec![
                Rule::new("HEAD", "/blobs/", Fault::Stall(STALL)),
                Rule::new("PUT", "/manifests/", Fault::Stall(STALL)),
            ],
            true,
        ),
        s(
            "truncated answers",
            vec![
                Rule::new("GET", "/v2/", Fault::Truncate),
                Rule::new("PUT", "/blobs/uploads/", Fault::Truncate),
            ],
            true,
        ),
        Scenario {
            name: "expiring tokens and 5xx, through build --push",
            rules: vec![
                Rule::new("PUT", "/blobs/uploads/", Fault::Status(500)),
                Rule::new("PUT", "/manifests/", Fault::Status(500)),
            ],
            succeeds: true,
            via_build: true,
            tokens: true,
        },
        Scenario {
            name: "stall and reset through build --push",
            rules: vec![
                Rule::new("POST", "/blobs/uploads/", Fault::Stall(STALL)),
                Rule::new("PUT", "/blobs/uploads/", Fault::ResetMidBody).skip(1),
            ],
            succeeds: true,
            via_build: true,
            tokens: false,
        },
        s(
            "manifest PUT always 500",
            vec![Rule::new("PUT", "/manifests/", Fault::Status(500)).times(usize::MAX)],
            false,
        ),
        s(
            "blob uploads always 503",
            vec![Rule::new("PUT", "/blobs/uploads/", Fault::Status(503)).times(usize::MAX)],
            false,
        ),
        s(
            "registry always stalls",
            vec![Rule::new("GET", "/v2/", Fault::Stall(STALL)).times(usize::MAX)],
            false,
        ),
    ]
}

fn tools() -> bool {
    crate::support::require_tools(&["docker-registry", "skopeo"])
}

#[test]
fn pushes_complete_with_the_right_digest_or_fail_clearly() {
    if !tools() {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (digest, blobs) = build_layout(work.path());
    let layout = format!("oci:{}", work.path().join("layout").display());
    let spec = work.path().join("spec.toml");
    let mut injected = 0;
    let mut failures = Vec::new();
    for (n, scenario) in scenarios().into_iter().enumerate() {
        let home = tempfile::tempdir().unwrap();
        // Keep the build cache: only the push is under test.
        std::fs::create_dir_all(home.path().join("xdg")).unwrap();
        let token_front = scenario.tokens.then(|| {
            Proxy::start(
                &registry.host,
                ProxyConfig {
                    token_uses: Some(3),
                    ..ProxyConfig::default()
                },
            )
        });
        let upstream = token_front.as_ref().map_or(&registry.host, |p| &p.host);
        let proxy = FaultyProxy::start(upstream, scenario.rules);
        let target = format!("{}/faults/case{n}:v1", proxy.host);
        let started = Instant::now();
        let output = if scenario.via_build {
            let cache = work.path().join("cache").display().to_string();
            jib(
                &[
                    "-q",
                    "build",
                    spec.to_str().unwrap(),
                    "--cache-dir",
                    &cache,
                    "--push",
                    &target,
                ],
                home.path(),
            )
        } else {
            jib(&["-q", "push", &layout, &target], home.path())
        };
        injected += proxy.stats.injected();
        let uploads = proxy.stats.blob_uploads();
        // Faults and expired tokens may each cost one upload again.
        let expired = token_front.as_ref().map_or(0, |p| {
            p.stats
                .expired_rejections
                .load(std::sync::atomic::Ordering::SeqCst)
        });
        injected += expired;
        let upload_faults = (proxy.stats.injected() + expired).min(uploads);
        eprintln!(
            "{}: {:?} in {:?}, {} faults, {uploads} uploads for {blobs} blobs",
            scenario.name,
            output.status.code(),
            started.elapsed(),
            proxy.stats.injected()
        );
        if scenario.succeeds {
            if !output.status.success() {
                failures.push(format!(
                    "{}: failed: {}",
                    scenario.name,
                    String::from_utf8_lossy(&output.stderr)
                ));
                continue;
            }
            let printed = String::from_utf8_lossy(&output.stdout).trim().to_string();
            let direct = registry.docker_ref(&format!("faults/case{n}:v1"));
            let pushed = skopeo_digest(&direct);
            if printed != digest.to_string() || pushed != digest {
                failures.push(format!(
                    "{}: digest {printed}, registry has {pushed}, expected {digest}",
                    scenario.name
                ));
            }
            if uploads > blobs + upload_faults {
                failures.push(format!(
                    "{}: {uploads} uploads for {blobs} blobs and {upload_faults} faults",
                    scenario.name
                ));
            }
            // A second push finds every blob there and uploads nothing.
            let again = FaultyProxy::start(&registry.host, Vec::new());
            let target = format!("{}/faults/case{n}:v1", again.host);
            let output = jib(&["-q", "push", &layout, &target], home.path());
            assert!(output.status.success(), "{output:?}");
            if again.stats.blob_uploads() != 0 {
                failures.push(format!("{}: the second push uploaded again", scenario.name));
            }
        } else {
            match std::panic::catch_unwind(|| single_error_line(&output)) {
                Ok(line) => {
                    eprintln!("  {line}");
                    if !line.contains(&proxy.host) {
                        failures.push(format!(
                            "{}: error names no registry: {line}",
                            scenario.name
                        ));
                    }
                }
                Err(_) => failures.push(format!(
                    "{}: not one error line: {}",
                    scenario.name,
                    String::from_utf8_lossy(&output.stderr)
                )),
            }
        }
    }
    eprintln!("push faults injected: {injected}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Layer digests of a `build --json` result.
fn layer_digests(output: &Output) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {output:?}"));
    json["manifests"][0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pulls_of_a_base_image_complete_with_the_right_digests_or_fail_clearly() {
    if !tools() {
        return;
    }
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    build_layout(work.path());
    let layout = format!("oci:{}", work.path().join("layout").display());
    let base_ref = format!("{}/faults/base:1", registry.host);
    let output = jib(&["-q", "push", &layout, &base_ref], work.path());
    assert!(output.status.success(), "{output:?}");

    let app = work.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(app.join("hello.txt"), "hello\n").unwrap();
    let spec_for = |host: &str| {
        let spec = format!(
            "[base]\nimage = \"{host}/faults/base:1\"\n[[layers]]\nname = \"app\"\n\
             [[layers.copy]]\nsrc = \"hello.txt\"\ndest = \"/hello.txt\"\n"
        );
        std::fs::write(app.join("spec.toml"), spec).unwrap();
        app.join("spec.toml").display().to_string()
    };
    let clean_home = tempfile::tempdir().unwrap();
    let reference = jib(
        &["-q", "build", &spec_for(&registry.host), "--json"],
        clean_home.path(),
    );
    assert!(reference.status.success(), "{reference:?}");
    let expected = layer_digests(&reference);

    let cases: Vec<(&str, Vec<Rule>, bool)> = vec![
        (
            "5xx and 429 on manifests and blobs",
            vec![
                Rule::new("GET", "/manifests/", Fault::Status(500)),
                Rule::new("GET", "/blobs/", Fault::TooMany).times(2),
                Rule::new("GET", "/blobs/", Fault::Status(503)).times(2),
            ],
            true,
        ),
        (
            "blob downloads reset mid-body",
            vec![Rule::new("GET", "/blobs/", Fault::ResetMidBody).times(3)],
            true,
        ),
        (
            "blob and manifest downloads truncated",
            vec![
                Rule::new("GET", "/blobs/", Fault::Truncate).times(2),
                Rule::new("GET", "/manifests/", Fault::Truncate),
            ],
            true,
        ),
        (
            "stalled downloads",
            vec![
                Rule::new("GET", "/manifests/", Fault::Stall(STALL)),
                Rule::new("GET", "/blobs/", Fault::Stall(STALL)),
            ],
            true,
        ),
        (
            "a blob always served with other bytes",
            vec![Rule::new("GET", "/blobs/", Fault::WrongBody).times(usize::MAX)],
            false,
        ),
        (
            "manifests always 500",
            vec![Rule::new("GET", "/manifests/", Fault::Status(500)).times(usize::MAX)],
            false,
        ),
    ];
    let mut injected = 0;
    let mut failures = Vec::new();
    for (name, rules, succeeds) in cases {
        let proxy = FaultyProxy::start(&registry.host, rules);
        let home = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let output = jib(
            &["-q", "build", &spec_for(&proxy.host), "--json"],
            home.path(),
        );
        injected += proxy.stats.injected();
        eprintln!(
            "{name}: {:?} in {:?}, {} faults",
            output.status.code(),
            started.elapsed(),
            proxy.stats.injected()
        );
        verify_cache(&home.path().join("cache"));
        if succeeds {
            if !output.status.success() {
                failures.push(format!(
                    "{name}: failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            } else if layer_digests(&output) != expected {
                failures.push(format!("{name}: other layers than the clean pull"));
            }
        } else {
            match std::panic::catch_unwind(|| single_error_line(&output)) {
                Ok(line) => eprintln!("  {line}"),
                Err(_) => failures.push(format!(
                    "{name}: not one error line: {}",
                    String::from_utf8_lossy(&output.stderr)
                )),
            }
        }
    }
    eprintln!("pull faults injected: {injected}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
