//! Crash safety: a build killed with SIGKILL at many moments (downloading
//! an npm package, compressing tens of MB, writing the layout, pushing)
//! leaves a cache whose every blob matches its name and an output that is
//! either absent or whole; the next build succeeds with the digest of a
//! clean build.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::check::{BIN, run_bounded, verify_cache, verify_layout};
use crate::support::mock::{MockServer, integrity_of, pseudo_random};
use crate::support::registry::TestRegistry;

/// The inputs of a build big enough that a kill lands in different phases.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub spec: PathBuf,
    _npm: MockServer,
    npm_url: String,
}

impl Fixture {
    /// `big` bytes of data in two files, and an npm package of `npm_size`.
    pub fn new(big: usize, npm_size: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let npm = MockServer::start();
        let tgz = npm.publish_tool("tool", "1.0.0", npm_size);
        std::fs::write(dir.path().join("big1.bin"), pseudo_random(big * 3 / 4, 11)).unwrap();
        std::fs::write(dir.path().join("big2.bin"), pseudo_random(big / 4, 12)).unwrap();
        let spec = format!(
            "platform = \"linux/amd64\"\n\
             [[layers]]\nname = \"tool\"\n[layers.npm]\npackage = \"tool\"\nversion = \"1.0.0\"\n\
             integrity = \"{}\"\nlibc = \"glibc\"\n\
             [[layers]]\nname = \"big1\"\n[[layers.copy]]\nsrc = \"big1.bin\"\ndest = \"/data/big1.bin\"\n\
             [[layers]]\nname = \"big2\"\ncompression = \"zstd\"\n\
             [[layers.copy]]\nsrc = \"big2.bin\"\ndest = \"/data/big2.bin\"\n\
             [config]\nentrypoint = [\"/usr/local/bin/tool\"]\n",
            integrity_of(&tgz)
        );
        let spec_path = dir.path().join("spec.toml");
        std::fs::write(&spec_path, spec).unwrap();
        Fixture {
            npm_url: npm.url(),
            _npm: npm,
            spec: spec_path,
            dir,
        }
    }

    /// `jib-image ARGS… build SPEC -o oci:OUT --cache-dir CACHE EXTRA…`.
    pub fn command(&self, cache: &Path, out: &Path, extra: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("-v")
            .arg("build")
            .arg(&self.spec)
            .arg("-o")
            .arg(format!("oci:{}", out.display()))
            .arg("--cache-dir")
            .arg(cache)
            .args(extra)
            .env_remove("RUST_LOG")
            .env("NPM_CONFIG_REGISTRY", &self.npm_url)
            .env("NPM_CONFIG_USERCONFIG", self.dir.path().join("no-npmrc"))
            .env("XDG_CACHE_HOME", self.dir.path().join("xdg"))
            .env("JIB_IMAGE_TIMEOUT", "10");
        command
    }
}

/// The manifest digest a successful run printed last on stdout.
pub fn printed_digest(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The digest `index.json` of a single-image layout names.
fn layout_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Which phase the log shows the build in when it was killed: the latest
/// step begun (layers are compressed while the npm package downloads).
fn phase(log: &str) -> &'static str {
    let has = |text: &str| log.contains(text);
    if has("pushing ") {
        "pushing"
    } else if has("writing oci:") {
        "writing layout"
    } else if has("INFO image sha256") {
        "writing config"
    } else if has("downloading npm tarball") && !has("layer tool: sha256") {
        "downloading"
    } else if has("entries") {
        "compressing"
    } else {
        "starting"
    }
}

/// Runs `command` and kills it with SIGKILL `delay` after it logs a line
/// holding `event`; returns what it logged and whether it had finished
/// first.
fn kill_on(mut command: Command, event: &str, delay: Duration) -> (String, bool) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut fire: Option<Instant> = event.is_empty().then(|| Instant::now() + delay);
    let finished = loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the build failed: {log}");
            break true;
        }
        if fire.is_some_and(|at| Instant::now() >= at) {
            child.kill().unwrap();
            break false;
        }
        assert!(Instant::now() < deadline, "the build hung: {log}");
        if let Ok(line) = seen.recv_timeout(Duration::from_millis(1)) {
            if fire.is_none() && line.contains(event) {
                fire = Some(Instant::now() + delay);
            }
            log.push_str(&line);
            log.push('\n');
        }
    };
    child.wait().unwrap();
    reader.join().unwrap();
    while let Ok(line) = seen.try_recv() {
        log.push_str(&line);
        log.push('\n');
    }
    (log, finished)
}

/// Kill moments: a log line that starts a phase, and a delay after it.
const KILL_POINTS: &[(&str, u64)] = &[
    ("", 0),
    ("", 20),
    ("FROM scratch", 0),
    ("entries", 0),
    ("entries", 30),
    ("entries", 80),
    ("entries", 150),
    ("entries", 300),
    ("downloading npm tarball", 0),
    ("downloading npm tarball", 5),
    ("downloading npm tarball", 20),
    ("downloading npm tarball", 60),
    ("layer tool: sha256", 0),
    ("INFO image sha256", 0),
    ("INFO image sha256", 2),
    ("writing oci:", 0),
    ("writing oci:", 1),
    ("writing oci:", 3),
    ("writing oci:", 8),
    ("pushing ", 0),
    ("pushing ", 5),
    ("pushing ", 20),
    ("pushing ", 50),
    ("pushing ", 10),
    ("pushing ", 35),
    ("pushing ", 70),
    ("Uploaded", 0),
    ("entries", 10),
];

#[test]
fn builds_killed_at_any_moment_leave_nothing_corrupt_and_build_again() {
    let Some(registry) = TestRegistry::start() else {
        return;
    };
    let fixture = Fixture::new(32 << 20, 6 << 20);
    let work = tempfile::tempdir().unwrap();

    // A clean reference build.
    let target = format!("{}/crash/ref:1", registry.host);
    let command = fixture.command(
        &work.path().join("ref-cache"),
        &work.path().join("ref-out"),
        &["--push", &target],
    );
    let (_, finished) = kill_on(command, "never logged", Duration::ZERO);
    assert!(finished);
    let expected = layout_digest(&work.path().join("ref-out"));

    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, (event, delay)) in KILL_POINTS.iter().enumerate() {
        let cache = work.path().join(format!("cache-{i}"));
        let out = work.path().join(format!("out-{i}"));
        let target = format!("{}/crash/k{i}:1", registry.host);
        let (log, finished) = kill_on(
            fixture.command(&cache, &out, &["--push", &target]),
            event,
            Duration::from_millis(*delay),
        );
        let phase = if finished { "finished" } else { phase(&log) };
        *phases.entry(phase).or_default() += 1;
        eprintln!("kill {i}, {delay} ms after {event:?}: {phase}");

        verify_cache(&cache);
        if out.exists() {
            verify_layout(&out);
        }
        let again = run_bounded(
            &mut fixture.command(&cache, &out, &["--push", &target]),
            Duration::from_secs(300),
        );
        assert!(
            again.status.success(),
            "rebuild after kill {i} ({phase}) failed: {}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_eq!(
            printed_digest(&again.stdout),
            expected,
            "rebuild after kill {i} ({phase})"
        );
        verify_cache(&cache);
        verify_layout(&out);
        std::fs::remove_dir_all(&cache).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
    }
    eprintln!("{} kill points by phase: {phases:?}", KILL_POINTS.len());
    let killed: usize = phases
        .iter()
        .filter(|(p, _)| **p != "finished")
        .map(|(_, n)| n)
        .sum();
    assert!(killed >= 20, "only {killed} runs were killed: {phases:?}");
    assert!(
        phases.len() >= 4,
        "kills landed in too few phases: {phases:?}"
    );
}
