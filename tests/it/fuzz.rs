//! Property tests: the parsers meet arbitrary and mutated input without a
//! panic. Each runs `PROPTEST_CASES` cases (256 by default) and stops early
//! after `TIME_BOUND`, so that the suite stays fast.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use jib_image::cache::{Cache, RootfsFacts};
use jib_image::registry::parse_challenges;
use jib_image::shim::passwd::{self, User};
use jib_image::spec::{self, ImageSpec, LayerSpec};

const TIME_BOUND: Duration = Duration::from_secs(20);

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Runs `test` on values of `strategy` until the cases or the time run out.
fn check<S: Strategy>(strategy: S, test: impl Fn(S::Value)) {
    let started = Instant::now();
    runner()
        .run(&strategy, |value| {
            if started.elapsed() < TIME_BOUND {
                test(value);
            }
            Ok(())
        })
        .unwrap();
}

/// Valid bytes with some flipped, some cut off, or some inserted.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len().max(1);
    (
        prop::collection::vec((0..len, any::<u8>()), 0..8),
        0..=len,
        any::<bool>(),
    )
        .prop_map(move |(flips, cut, truncate)| {
            let mut bytes = valid.clone();
            for (at, byte) in flips {
                if at < bytes.len() {
                    bytes[at] = byte;
                }
            }
            if truncate {
                bytes.truncate(cut);
            }
            bytes
        })
}

const VALID_SPEC: &str = r#"platform = "linux/amd64"
compression = "gzip"
[base]
rootfs = "base.tar"
libc = "glibc"
[[layers]]
name = "tmp"
[[layers.dir]]
path = "/tmp/x"
mode = "1777"
owner = "1000:1000"
[[layers.copy]]
src = "a"
dest = "/a"
[config]
entrypoint = ["/bin/sh"]
env = { A = "1" }
"#;

#[test]
fn spec_parser_never_panics() {
    let path = Path::new("spec.toml");
    check(any::<String>(), |text| {
        let _ = spec::parse::<ImageSpec>(path, &text);
        let _ = spec::parse::<LayerSpec>(path, &text);
    });
    check(mutated(VALID_SPEC.as_bytes().to_vec()), |bytes| {
        let text = String::from_utf8_lossy(&bytes);
        let _ = spec::parse::<ImageSpec>(path, &text);
    });
    // Line and column of errors point into the text, multi-byte or not.
    check("[a-z =\"\\[\\]\n\u{e9}\u{1F600}]{0,60}", |text| {
        if let Err(e) = spec::parse::<ImageSpec>(path, &text) {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    });
}

fn valid_tar(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap()
}

fn tar_entries() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec(
        (
            "[a-z]{1,8}(/[a-z]{1,8}){0,2}",
            prop::collection::vec(any::<u8>(), 0..600),
        ),
        1..4,
    )
}

#[test]
fn base_tarball_scanning_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let scan = |bytes: &[u8]| {
        let mut facts = RootfsFacts::default();
        let _ = jib_image::base::scan_tar(&mut &bytes[..], &cache, &mut facts);
    };
    check(prop::collection::vec(any::<u8>(), 0..3000), |bytes| {
        scan(&bytes)
    });
    check(
        tar_entries().prop_flat_map(|entries| mutated(valid_tar(&entries))),
        |bytes| scan(&bytes),
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn npm_tarball_extraction_never_panics_or_escapes() {
    let root = tempfile::tempdir().unwrap();
    let n = std::cell::Cell::new(0);
    let extract = |tgz: Vec<u8>| {
        n.set(n.get() + 1);
        let case = root.path().join(format!("case-{}", n.get()));
        std::fs::create_dir(&case).unwrap();
        let file = case.join("package.tgz");
        std::fs::write(&file, tgz).unwrap();
        let dest = case.join("dest");
        std::fs::create_dir(&dest).unwrap();
        let _ = jib_image::npm::extract::extract_tgz(&file, &dest);
        // Nothing lands beside the destination.
        let beside: Vec<_> = std::fs::read_dir(&case)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(beside.len(), 2, "{beside:?}");
        std::fs::remove_dir_all(&case).unwrap();
    };
    check(prop::collection::vec(any::<u8>(), 0..2000), extract);
    // Mutations of the tar under the gzip, and of the gzip itself.
    check(
        packages()
            .prop_flat_map(mutated)
            .prop_map(|tar: Vec<u8>| gzip(&tar)),
        extract,
    );
    check(packages().prop_flat_map(|tar| mutated(gzip(&tar))), extract);
}

fn packages() -> impl Strategy<Value = Vec<u8>> {
    tar_entries().prop_map(|entries| {
        let entries: Vec<_> = entries
            .into_iter()
            .map(|(name, data)| (format!("package/{name}"), data))
            .collect();
        valid_tar(&entries)
    })
}

#[test]
fn www_authenticate_parsing_never_panics() {
    check(any::<String>(), |header| {
        let _ = parse_challenges(&header);
    });
    check(
        "(Bearer|Basic|bearer) ?([a-z]{1,6}=(\"[^\"]{0,10}\"?|[a-z,=]{0,6}) ?,? ?){0,4}",
        |header| {
            for challenge in parse_challenges(&header) {
                let _ = challenge.param("realm");
            }
        },
    );
}

#[test]
fn passwd_and_group_parsing_never_panics_and_round_trips() {
    check(any::<String>(), |text| {
        let _ = passwd::parse_users(&text);
        let _ = passwd::parse_groups(&text);
    });
    check("[a-z0-9:,#+\\-\n]{0,120}", |text| {
        let _ = passwd::parse_users(&text);
        let _ = passwd::parse_groups(&text);
    });
    let users = (
        "[a-z_][a-z0-9_-]{0,31}",
        any::<u32>(),
        any::<u32>(),
        "/[a-z/]{0,20}",
        "/[a-z/]{0,20}",
    );
    check(users, |(name, uid, gid, home, shell)| {
        let user = User {
            name,
            uid,
            gid,
            home,
            shell,
        };
        assert!(passwd::is_valid_name(&user.name));
        let parsed = passwd::parse_users(&passwd::user_line(&user));
        assert_eq!(parsed, vec![user.clone()]);
        let groups = passwd::parse_groups(&passwd::group_line(&user.name, user.gid));
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].gid, user.gid);
    });
}
