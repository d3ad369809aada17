//! An npm registry on 127.0.0.1 for tests, serving documents from memory,
//! and end-to-end tests of resolving, downloading, caching and installing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One answer of the mock registry.
#[derive(Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Arc<Vec<u8>>,
}

#[derive(Default)]
struct State {
    routes: Mutex<BTreeMap<String, Reply>>,
    /// Requests answered 503 before any route is served.
    failures_left: AtomicUsize,
    /// `(path, authorization header)` of every request.
    seen: Mutex<Vec<(String, Option<String>)>>,
}

pub(crate) struct MockRegistry {
    pub port: u16,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MockRegistry {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &state);
                    }
                }
            })
        };
        MockRegistry {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn route(&self, path: &str, status: u16, body: Vec<u8>) {
        let reply = Reply {
            status,
            body: Arc::new(body),
        };
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), reply);
    }

    pub fn fail_next(&self, count: usize) {
        self.state.failures_left.store(count, Ordering::SeqCst);
    }

    pub fn seen(&self) -> Vec<(String, Option<String>)> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for MockRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, state: &State) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    state
        .seen
        .lock()
        .unwrap()
        .push((path.clone(), authorization));
    let failing = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let reply = if failing {
        Reply {
            status: 503,
            body: Arc::new(b"busy".to_vec()),
        }
    } else {
        let routes = state.routes.lock().unwrap();
        routes.get(&path).cloned().unwrap_or(Reply {
            status: 404,
            body: Arc::new(b"{\"error\":\"not found\"}".to_vec()),
        })
    };
    let mut stream = &stream;
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::layer::entry::{Content, EntryKind, LayerPath, Tree};
    use crate::npm::config::{Env, NpmConfig};
    use crate::npm::extract::tests::{TestEntry, tgz};
    use crate::npm::install::{InstallError, tarball_integrities};
    use crate::npm::lock::{LockError, Lockfile, resolve, write_for_spec};
    use crate::npm::registry::{RegistryError, RetryPolicy};
    use crate::npm::{Integrity, NpmCache, NpmClient, NpmSource, build_tree, resolve_for_build};
    use crate::platform::{Libc, Platform};

    /// Platform packages listed in an unhelpful order: musl before glibc,
    /// arm64 before x64, a darwin one in between.
    const NATIVES: &[(&str, &str, &str, &str)] = &[
        ("tool-linux-x64-musl", "linux", "x64", "musl"),
        ("tool-linux-arm64-musl", "linux", "arm64", "musl"),
        ("tool-darwin-x64", "darwin", "x64", ""),
        ("tool-linux-arm64", "linux", "arm64", "glibc"),
        ("tool-linux-x64", "linux", "x64", "glibc"),
    ];

    fn fake_elf(name: &str) -> Vec<u8> {
        format!("\x7fELF binary of {name}").into_bytes()
    }

    fn package_tgz(files: &[(&str, Vec<u8>, u32)]) -> Vec<u8> {
        let paths: Vec<String> = files
            .iter()
            .map(|(p, _, _)| format!("package/{p}"))
            .collect();
        let entries: Vec<TestEntry<'_>> = files
            .iter()
            .zip(&paths)
            .map(|((_, data, mode), path)| TestEntry::File(path, data, *mode))
            .collect();
        tgz(&entries)
    }

    fn version_doc(
        registry: &MockRegistry,
        name: &str,
        version: &str,
        tarball: &[u8],
        extra: serde_json::Value,
    ) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "name": name,
            "version": version,
            "dist": {
                "integrity": Integrity::sha512_of(tarball).to_string(),
                "tarball": format!("{}{name}/-/{name}-{version}.tgz", registry.url()),
            }
        });
        doc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        doc
    }

    fn publish(
        registry: &MockRegistry,
        name: &str,
        versions: Vec<(&str, Vec<u8>, serde_json::Value)>,
    ) {
        let mut docs = serde_json::Map::new();
        let mut latest = String::new();
        for (version, tarball, extra) in versions {
            docs.insert(
                version.into(),
                version_doc(registry, name, version, &tarball, extra),
            );
            registry.route(&format!("/{name}/-/{name}-{version}.tgz"), 200, tarball);
            latest = version.to_string();
        }
        let packument = serde_json::json!({ "name": name, "dist-tags": { "latest": latest }, "versions": docs });
        registry.route(
            &format!("/{name}"),
            200,
            serde_json::to_vec(&packument).unwrap(),
        );
    }

    /// `tool` 0.9.0 and 1.0.0, whose `bin/tool.exe` is a placeholder filled
    /// by a postinstall script from the platform packages.
    fn publish_tool(registry: &MockRegistry) {
        let optional: serde_json::Map<String, serde_json::Value> = NATIVES
            .iter()
            .map(|(n, ..)| (n.to_string(), "1.0.0".into()))
            .collect();
        let manifest = serde_json::json!({
            "name": "tool", "version": "1.0.0",
            "bin": { "tool": "bin/tool.exe" },
            "scripts": { "postinstall": "node install.cjs" },
            "optionalDependencies": optional,
        });
        let main = package_tgz(&[
            (
                "package.json",
                serde_json::to_vec(&manifest).unwrap(),
                0o644,
            ),
            (
                "bin/tool.exe",
                b"echo 'postinstall did not run' >&2\nexit 1\n".to_vec(),
                0o755,
            ),
            (
                "install.cjs",
                b"// copies the native binary\n".to_vec(),
                0o644,
            ),
        ]);
        let old = package_tgz(&[(
            "package.json",
            br#"{"name":"tool","version":"0.9.0"}"#.to_vec(),
            0o644,
        )]);
        let extra = serde_json::json!({ "optionalDependencies": optional });
        publish(
            registry,
            "tool",
            vec![
                ("0.9.0", old, serde_json::json!({})),
                ("1.0.0", main, extra),
            ],
        );
        for (name, os, cpu, libc) in NATIVES {
            let manifest = serde_json::json!({ "name": name, "version": "1.0.0" });
            let tarball = package_tgz(&[
                (
                    "package.json",
                    serde_json::to_vec(&manifest).unwrap(),
                    0o644,
                ),
                ("tool", fake_elf(name), 0o755),
            ]);
            let mut extra = serde_json::json!({ "os": [os], "cpu": [cpu] });
            if !libc.is_empty() {
                extra["libc"] = serde_json::json!([libc]);
            }
            publish(registry, name, vec![("1.0.0", tarball, extra)]);
        }
    }

    fn client_for(registry_url: &str) -> NpmClient {
        let config = NpmConfig::with_registry(registry_url.parse().unwrap());
        fast(NpmClient::new(config).unwrap())
    }

    fn fast(client: NpmClient) -> NpmClient {
        client.with_retry(RetryPolicy {
            attempts: 3,
            first_pause: Duration::from_millis(10),
            max_pause: Duration::from_millis(20),
        })
    }

    fn source(version: &str, node_modules: bool) -> NpmSource {
        NpmSource {
            package: "tool".into(),
            version: version.into(),
            integrity: None,
            bin_dir: None,
            libc: None,
            node_modules,
        }
    }

    fn amd64() -> Platform {
        Platform::new("linux", "amd64")
    }

    fn locked(client: &NpmClient, version: &str) -> Lockfile {
        let entry = resolve(
            &source(version, false),
            &[amd64(), Platform::new("linux", "arm64")],
            client,
        )
        .unwrap();
        let mut lock = Lockfile::default();
        lock.insert(entry);
        lock
    }

    fn file_bytes(tree: &Tree, path: &str) -> Vec<u8> {
        match &tree[&LayerPath::new(path).unwrap()].kind {
            EntryKind::File {
                content: Content::Path(p),
                ..
            } => std::fs::read(p).unwrap(),
            other => panic!("{path} is {other:?}"),
        }
    }

    #[test]
    fn lock_pins_the_package_and_its_platform_packages() {
        let registry = MockRegistry::start();
        publish_tool(&registry);
        let client = client_for(&registry.url());
        let lock = locked(&client, "latest");
        let entry = lock.find("tool", "latest").unwrap();
        assert_eq!(entry.version, "1.0.0");
        let names: Vec<&str> = entry
            .native
            .iter()
            .map(|n| n.package.name.as_str())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(!names.contains(&"tool-darwin-x64"));
        let text = lock.to_toml();
        assert!(
            !text.contains("127.0.0.1"),
            "lock files hold no registry address:\n{text}"
        );

        let ranged = resolve(&source("<1", false), &[amd64()], &client).unwrap();
        assert_eq!(ranged.version, "0.9.0");
    }

    #[test]
    fn build_picks_the_platform_binary_then_hits_the_cache_offline() {
        let registry = MockRegistry::start();
        publish_tool(&registry);
        let client = client_for(&registry.url());
        let lock = locked(&client, "^1");
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = NpmCache::open(cache_dir.path()).unwrap();

        let resolved =
            resolve_for_build(&source("^1", false), Some(&lock), &amd64(), &client).unwrap();
        let (tree, records) = build_tree(
            &source("^1", false),
            &resolved,
            &amd64(),
            Libc::Glibc,
            7,
            &cache,
            &client,
        )
        .unwrap();
        assert_eq!(
            file_bytes(&tree, "usr/local/bin/tool"),
            fake_elf("tool-linux-x64")
        );
        let bin = &tree[&LayerPath::new("usr/local/bin/tool").unwrap()];
        assert_eq!((bin.mode, bin.uid, bin.gid, bin.mtime), (0o755, 0, 0, 7));
        let names: Vec<&str> = tree.keys().map(LayerPath::as_str).collect();
        // Parents stay out: the base's /usr/local/bin keeps its metadata.
        assert_eq!(names, ["usr/local/bin/tool"]);
        let recorded: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(recorded, ["tool", "tool-linux-x64"]);
        assert_eq!(
            tarball_integrities(&resolved, &amd64(), Libc::Glibc).len(),
            2
        );

        let arm = Platform::new("linux", "arm64");
        let (tree, _) = build_tree(
            &source("^1", false),
            &resolved,
            &arm,
            Libc::Musl,
            7,
            &cache,
            &client,
        )
        .unwrap();
        assert_eq!(
            file_bytes(&tree, "usr/local/bin/tool"),
            fake_elf("tool-linux-arm64-musl")
        );

        // With the registry gone, everything comes from the cache.
        let url = registry.url();
        drop(registry);
        let offline = client_for(&url);
        let (tree, _) = build_tree(
            &source("^1", false),
            &resolved,
            &amd64(),
            Libc::Glibc,
            7,
            &cache,
            &offline,
        )
        .unwrap();
        assert_eq!(
            file_bytes(&tree, "usr/local/bin/tool"),
            fake_elf("tool-linux-x64")
        );
        // Cache hits need no registry configuration either.
        let unconfigured = NpmClient::new(NpmConfig::default()).unwrap();
        build_tree(
            &source("^1", false),
            &resolved,
            &amd64(),
            Libc::Glibc,
            7,
            &cache,
            &unconfigured,
        )
        .unwrap();
    }

    #[test]
    fn no_matching_platform_package_lists_what_exists() {
        let registry = MockRegistry::start();
        publish_tool(&registry);
        let client = client_for(&registry.url());
        let lock = locked(&client, "1.0.0");
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = NpmCache::open(cache_dir.path()).unwrap();
        let riscv = Platform::new("linux", "riscv64");
        let resolved =
            resolve_for_build(&source("1.0.0", false), Some(&lock), &riscv, &client).unwrap();
        let err = build_tree(
            &source("1.0.0", false),
            &resolved,
            &riscv,
            Libc::Glibc,
            0,
            &cache,
            &client,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, InstallError::NoNative { .. }), "{text}");
        assert!(text.contains("linux/riscv64 with glibc"), "{text}");
        assert!(
            text.contains("tool-linux-x64-musl (os=linux cpu=x64 libc=musl)"),
            "{text}"
        );
    }

    #[test]
    fn node_modules_layout_links_the_binary_once() {
        let registry = MockRegistry::start();
        publish_tool(&registry);
        let client = client_for(&registry.url());
        let lock = locked(&client, "latest");
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = NpmCache::open(cache_dir.path()).unwrap();
        let src = source("latest", true);
        let resolved = resolve_for_build(&src, Some(&lock), &amd64(), &client).unwrap();
        let (tree, _) =
            build_tree(&src, &resolved, &amd64(), Libc::Glibc, 0, &cache, &client).unwrap();
        let at = |p: &str| &tree[&LayerPath::new(p).unwrap()];
        match &at("usr/local/bin/tool").kind {
            EntryKind::Symlink { target } => {
                assert_eq!(target, "../lib/node_modules/tool/bin/tool.exe")
            }
            other => panic!("{other:?}"),
        }
        let root = "usr/local/lib/node_modules/tool";
        assert_eq!(
            file_bytes(&tree, &format!("{root}/bin/tool.exe")),
            fake_elf("tool-linux-x64")
        );
        assert_eq!(at(&format!("{root}/bin/tool.exe")).mode, 0o755);
        assert_eq!(at(&format!("{root}/install.cjs")).mode, 0o644);
        match &at(&format!("{root}/node_modules/tool-linux-x64/tool")).kind {
            EntryKind::Hardlink { target } => {
                assert_eq!(target.as_str(), format!("{root}/bin/tool.exe"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tampered_tarball_is_refused_and_not_cached() {
        let registry = MockRegistry::start();
        publish_tool(&registry);
        let client = client_for(&registry.url());
        let lock = locked(&client, "latest");
        registry.route(
            "/tool-linux-x64/-/tool-linux-x64-1.0.0.tgz",
            200,
            b"tampered".to_vec(),
        );
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = NpmCache::open(cache_dir.path()).unwrap();
        let src = source("latest", false);
        let resolved = resolve_for_build(&src, Some(&lock), &amd64(), &client).unwrap();
        let err =
            build_tree(&src, &resolved, &amd64(), Libc::Glibc, 0, &cache, &client).unwrap_err();
        assert!(
            err.to_string().contains("does not match its integrity"),
            "{err}"
        );
        let tarballs: Vec<_> = std::fs::read_dir(cache.root().join("tarballs"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            tarballs.len(),
            1,
            "only the main package is cached: {tarballs:?}"
        );
        // One attempt only: a wrong hash is not a passing fault.
        let tries = registry
            .seen()
            .iter()
            .filter(|(p, _)| p.contains("tool-linux-x64-1.0.0"))
            .count();
        assert_eq!(tries, 1);
    }

    #[test]
    fn server_errors_are_retried() {
        let registry = MockRegistry::start();
        publish_tool(&registry);
        let client = client_for(&registry.url());
        registry.fail_next(2);
        assert_eq!(client.packument("tool").unwrap().name, "tool");
        registry.fail_next(5);
        let err = client.packument("tool").unwrap_err();
        assert!(matches!(err, RegistryError::Status { .. }), "{err}");
    }

    #[test]
    fn token_goes_only_to_its_registry_and_never_into_errors() {
        let registry = MockRegistry::start();
        publish_tool(&registry);
        let npmrc = format!(
            "registry={}\n//127.0.0.1:{}/:_authToken=${{FAKE_TOKEN}}\n",
            registry.url(),
            registry.port
        );
        let env: Env = [("FAKE_TOKEN".to_string(), "fake-token-123".to_string())].into();
        let client = fast(NpmClient::new(NpmConfig::from_npmrc(&npmrc, &env).unwrap()).unwrap());
        client.packument("tool").unwrap();
        let seen = registry.seen();
        assert_eq!(seen[0].1.as_deref(), Some("Bearer fake-token-123"));

        registry.route("/tool", 401, b"{}".to_vec());
        let err = client.packument("tool").unwrap_err();
        let shown = format!("{err} {err:?} {client:?}");
        assert!(!shown.contains("fake-token-123"), "{shown}");
    }

    #[test]
    fn exact_pin_builds_without_a_lock_and_checks_the_integrity() {
        let registry = MockRegistry::start();
        publish_tool(&registry);
        let client = client_for(&registry.url());
        let entry = resolve(&source("1.0.0", false), &[amd64()], &client).unwrap();
        let mut pinned = source("1.0.0", false);
        pinned.integrity = Some(entry.integrity.to_string());
        let resolved = resolve_for_build(&pinned, None, &amd64(), &client).unwrap();
        assert_eq!(resolved.package.integrity, entry.integrity);

        pinned.integrity = Some(Integrity::sha512_of(b"other").to_string());
        let err = resolve_for_build(&pinned, None, &amd64(), &client).unwrap_err();
        assert!(matches!(err, LockError::IntegrityDiffers { .. }), "{err}");
    }

    #[test]
    fn lock_is_written_beside_the_spec() {
        let registry = MockRegistry::start();
        publish_tool(&registry);
        let client = client_for(&registry.url());
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("image.toml");
        let sources = [source("^1", false), source("0.9.0", false)];
        let (path, lock) = write_for_spec(&spec, &sources, &[amd64()], &client).unwrap();
        assert_eq!(path, dir.path().join("image.lock"));
        assert_eq!(Lockfile::read(&path).unwrap().to_toml(), lock.to_toml());
        let versions: Vec<&str> = lock.npm.iter().map(|e| e.version.as_str()).collect();
        assert_eq!(versions, ["0.9.0", "1.0.0"]);
    }

    #[test]
    fn cache_root_follows_xdg() {
        let env: Env = [
            ("XDG_CACHE_HOME".to_string(), "/x".to_string()),
            ("HOME".to_string(), "/h".to_string()),
        ]
        .into();
        assert_eq!(
            NpmCache::default_root(&env).unwrap(),
            Path::new("/x/jib-image/npm")
        );
        let env: Env = [("HOME".to_string(), "/h".to_string())].into();
        assert_eq!(
            NpmCache::default_root(&env).unwrap(),
            Path::new("/h/.cache/jib-image/npm")
        );
    }
}
