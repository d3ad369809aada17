//! Checks shared by the reliability tests: runs bounded in time, one-line
//! errors, and caches and layouts whose every blob holds what its name says.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use jib_image::digest::Digest;

pub const BIN: &str = env!("CARGO_BIN_EXE_jib-image");

/// Runs `command` to its end, killing it (and failing the test) after
/// `limit`: no fault may make the product loop or hang.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("starting jib-image");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err_thread.join().unwrap()).into_owned();
            panic!("{command:?} ran longer than {limit:?}; stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}

/// The one `error: ` line a failed run printed; anything else on stderr
/// (or a success) fails the test.
pub fn single_error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        !output.status.success(),
        "expected a failure, got success; stderr:\n{stderr}"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit status; stderr:\n{stderr}"
    );
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got:\n{stderr}"
    );
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    lines[0].to_string()
}

/// Every file under `dir` (recursively) whose name marks an unfinished
/// write: temporary files and directories of the store, the cache and the
/// layout writer.
pub fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".tmp-") || name.contains(".old-") {
            found.push(entry.path());
        }
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            found.extend(leftovers(&entry.path()));
        }
    }
    found
}

/// Rehashes every blob of `blobs_dir` (`…/blobs/sha256`): a blob must hold
/// exactly the bytes its name is the digest of. Returns how many there are.
pub fn verify_blobs(blobs_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(blobs_dir) else {
        return 0;
    };
    let mut count = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            Digest::of(&bytes).hex(),
            name,
            "blob {} holds other bytes than its name says",
            entry.path().display()
        );
        count += 1;
    }
    count
}

/// Checks a build cache: whole blobs, and every layer record pointing at a
/// blob that is there with the recorded size.
pub fn verify_cache(cache: &Path) {
    let blobs = cache.join("blobs/sha256");
    verify_blobs(&blobs);
    let Ok(records) = std::fs::read_dir(cache.join("layers")) else {
        return;
    };
    for record in records.flatten() {
        let name = record.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-") {
            continue;
        }
        let text = std::fs::read(record.path()).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("layer record {name} is not JSON: {e}"));
        let digest: Digest = json["blob"]["digest"].as_str().unwrap().parse().unwrap();
        let size = json["blob"]["size"].as_u64().unwrap();
        let blob = blobs.join(digest.hex());
        let meta = std::fs::metadata(&blob)
            .unwrap_or_else(|_| panic!("layer record {name} names missing blob {digest}"));
        assert_eq!(meta.len(), size, "layer record {name}: size of {digest}");
    }
}

/// Checks an OCI layout: every blob whole, every descriptor reachable from
/// `index.json` present with its size.
pub fn verify_layout(layout: &Path) {
    verify_blobs(&layout.join("blobs/sha256"));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut pending: Vec<serde_json::Value> = index["manifests"].as_array().unwrap().clone();
    while let Some(descriptor) = pending.pop() {
        let digest: Digest = descriptor["digest"].as_str().unwrap().parse().unwrap();
        let path = layout.join("blobs/sha256").join(digest.hex());
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|_| panic!("{} lacks blob {digest}", layout.display()));
        assert_eq!(bytes.len() as u64, descriptor["size"].as_u64().unwrap());
        let media_type = descriptor["mediaType"].as_str().unwrap_or_default();
        if media_type.contains("manifest") || media_type.contains("index") {
            let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            if let Some(children) = doc["manifests"].as_array() {
                pending.extend(children.iter().cloned());
            }
            if doc["config"].is_object() {
                pending.push(doc["config"].clone());
            }
            if let Some(layers) = doc["layers"].as_array() {
                pending.extend(layers.iter().cloned());
            }
        }
    }
}

/// A tmpfs of `size` (such as `1m`) mounted at a new directory; unmounted
/// on drop. `None` when mounting is not allowed here (outside CI).
pub struct Tmpfs {
    pub dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("small");
        std::fs::create_dir(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(Tmpfs {
                dir,
                _parent: parent,
            }),
            _ if std::env::var_os("CI").is_some() => {
                panic!("mounting a tmpfs is needed for the full-disk test in CI")
            }
            _ => {
                eprintln!("skipping: cannot mount a tmpfs here");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}
