//! The build cache under `$XDG_CACHE_HOME/jib-image` (or `~/.cache/jib-image`).
//!
//! ```text
//! blobs/sha256/<hex>     every blob built or pulled, named by its digest
//! layers/<key>.json      layer recipe key → the blob it produced
//! files.json             stat fast path: path + stat → content digest
//! npm/                   npm tarballs and their extracted trees
//! lock                   shared by builds, exclusive for `cache prune`
//! ```
//!
//! A layer's key digests its recipe and the digests of its inputs, never
//! their paths or mtimes, so a fresh clone of the same sources hits. Two
//! builds may share the cache at once: every file is written to a temporary
//! name and renamed into place, and a blob's name is only ever given to the
//! bytes it names.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::layer::LayerBlob;
use crate::store::{BlobStore, StoreError};

/// What a base rootfs layer holds that later steps need to know.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsFacts {
    /// `glibc` or `musl`, from the dynamic loader the rootfs ships.
    pub libc: Option<String>,
    /// The digest of `/var/lib/dpkg/status`, stored as a blob.
    pub dpkg_status: Option<Digest>,
}

/// A layer built earlier, found by its recipe key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub blob: LayerBlob,
    #[serde(default)]
    pub facts: RootfsFacts,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct FileStat {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    digest: Digest,
}

impl FileStat {
    fn matches(&self, meta: &fs::Metadata) -> bool {
        self.dev == meta.dev()
            && self.ino == meta.ino()
            && self.size == meta.len()
            && self.mtime_ns == nanos(meta.mtime(), meta.mtime_nsec())
            && self.ctime_ns == nanos(meta.ctime(), meta.ctime_nsec())
    }
}

fn nanos(secs: i64, nsec: i64) -> i128 {
    i128::from(secs) * 1_000_000_000 + i128::from(nsec)
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache {}: {}", path.display(), crate::plan::io_cause(source))]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub struct Cache {
    root: PathBuf,
    pub blobs: BlobStore,
    files: Mutex<HashMap<PathBuf, FileStat>>,
    files_dirty: Mutex<bool>,
    /// Held (shared) for the cache's lifetime so `prune` waits for builds.
    _lock: File,
}

/// The default cache directory: `$JIB_IMAGE_CACHE`, else
/// `$XDG_CACHE_HOME/jib-image`, else `~/.cache/jib-image`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("JIB_IMAGE_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("jib-image");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache").join("jib-image")
}

impl Cache {
    /// Opens the cache, holding a shared lock on it until dropped.
    pub fn open(root: &Path) -> Result<Cache, CacheError> {
        Self::open_locked(root, false)
    }

    fn open_locked(root: &Path, exclusive: bool) -> Result<Cache, CacheError> {
        fs::create_dir_all(root.join("layers")).map_err(io_at(root))?;
        let lock_path = root.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_at(&lock_path))?;
        if exclusive {
            lock.lock()
        } else {
            lock.lock_shared()
        }
        .map_err(io_at(&lock_path))?;
        let blobs = BlobStore::open(root.join("blobs"))?;
        let files = fs::read(root.join("files.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Cache {
            root: root.to_path_buf(),
            blobs,
            files: Mutex::new(files),
            files_dirty: Mutex::new(false),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A subdirectory for one kind of download (`npm`, …), created.
    pub fn subdir(&self, name: &str) -> Result<PathBuf, CacheError> {
        let dir = self.root.join(name);
        fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        Ok(dir)
    }

    fn record_path(&self, key: &Digest) -> PathBuf {
        self.root.join("layers").join(format!("{}.json", key.hex()))
    }

    /// The layer built earlier for `key`, if its blob is still there whole.
    pub fn layer(&self, key: &Digest) -> Option<LayerRecord> {
        let path = self.record_path(key);
        let record: LayerRecord = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
        let blob = fs::metadata(self.blobs.path(&record.blob.digest)).ok()?;
        if blob.len() != record.blob.size {
            return None;
        }
        if let Some(status) = &record.facts.dpkg_status
            && !self.blobs.contains(status)
        {
            return None;
        }
        // Touching the record marks it used, for `prune`.
        let _ = File::options()
            .append(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        Some(record)
    }

    pub fn put_layer(&self, key: &Digest, record: &LayerRecord) -> Result<(), CacheError> {
        let path = self.record_path(key);
        write_atomic(
            &path,
            &serde_json::to_vec_pretty(record).expect("records serialise"),
        )
    }

    /// The sha256 of a file's content. A file whose device, inode, size,
    /// mtime and ctime all match the last hashing is not read again; ctime
    /// cannot be set by `touch` or by an unpacker, so a changed file with a
    /// restored mtime is still noticed. Anything else is hashed afresh.
    pub fn file_digest(&self, path: &Path) -> Result<Digest, CacheError> {
        let meta = fs::metadata(path).map_err(io_at(path))?;
        let key = fs::canonicalize(path).map_err(io_at(path))?;
        if let Some(stat) = self.files.lock().expect("file cache lock").get(&key)
            && stat.matches(&meta)
        {
            return Ok(stat.digest.clone());
        }
        let file = crate::input::open_regular(path).map_err(io_at(path))?;
        let (digest, size) =
            Digest::of_reader(io::BufReader::with_capacity(1 << 20, file)).map_err(io_at(path))?;
        let after = fs::metadata(path).map_err(io_at(path))?;
        let stat = FileStat {
            dev: after.dev(),
            ino: after.ino(),
            size: after.len(),
            mtime_ns: nanos(after.mtime(), after.mtime_nsec()),
            ctime_ns: nanos(after.ctime(), after.ctime_nsec()),
            digest: digest.clone(),
        };
        // Only remember a file that did not change while it was read.
        if size == after.len() && stat.matches(&meta) {
            self.files
                .lock()
                .expect("file cache lock")
                .insert(key, stat);
            *self.files_dirty.lock().expect("file cache lock") = true;
        }
        Ok(digest)
    }

    /// Writes the stat fast path back, merged with what other builds saved.
    pub fn save(&self) -> Result<(), CacheError> {
        if !*self.files_dirty.lock().expect("file cache lock") {
            return Ok(());
        }
        let path = self.root.join("files.json");
        let mut merged: HashMap<PathBuf, FileStat> = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        merged.extend(
            self.files
                .lock()
                .expect("file cache lock")
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        merged.retain(|p, _| p.exists());
        write_atomic(
            &path,
            &serde_json::to_vec(&merged).expect("stats serialise"),
        )
    }
}

/// What `prune` removed.
#[derive(Debug, Default)]
pub struct PruneReport {
    pub records: usize,
    pub blobs: usize,
    pub bytes: u64,
}

/// Removes layer records unused for `older_than` (all of them with zero),
/// then every blob no remaining record refers to and that is itself older
/// than `older_than`, and leftovers of interrupted writes. Waits for running
/// builds to finish first.
pub fn prune(root: &Path, older_than: Duration) -> Result<PruneReport, CacheError> {
    // Nothing to trim in a cache that was never made; do not make one.
    if !root.exists() {
        return Ok(PruneReport::default());
    }
    let cache = Cache::open_locked(root, true)?;
    let now = SystemTime::now();
    let old = |meta: &fs::Metadata| {
        meta.modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= older_than)
    };
    let mut report = PruneReport::default();
    let mut keep = std::collections::HashSet::new();
    let layers = root.join("layers");
    for entry in fs::read_dir(&layers).map_err(io_at(&layers))? {
        let entry = entry.map_err(io_at(&layers))?;
        let meta = entry.metadata().map_err(io_at(&entry.path()))?;
        let record: Option<LayerRecord> = fs::read(entry.path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match record {
            Some(r) if !old(&meta) => {
                keep.insert(r.blob.digest.hex().to_string());
                if let Some(s) = r.facts.dpkg_status {
                    keep.insert(s.hex().to_string());
                }
            }
            _ => {
                fs::remove_file(entry.path()).map_err(io_at(&entry.path()))?;
                report.records += 1;
            }
        }
    }
    cache
        .blobs
        .clean_temporaries()
        .map_err(io_at(cache.blobs.dir()))?;
    for entry in fs::read_dir(cache.blobs.dir()).map_err(io_at(cache.blobs.dir()))? {
        let entry = entry.map_err(io_at(cache.blobs.dir()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = entry.metadata().map_err(io_at(&entry.path()))?;
        if !keep.contains(&name) && old(&meta) {
            fs::remove_file(entry.path()).map_err(io_at(&entry.path()))?;
            report.blobs += 1;
            report.bytes += meta.len();
        }
    }
    Ok(report)
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io_at(dir))?;
    io::Write::write_all(&mut temp, bytes).map_err(io_at(path))?;
    temp.as_file().sync_all().map_err(io_at(path))?;
    temp.persist(path).map_err(|e| io_at(path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::DiffId;

    #[test]
    fn file_digest_notices_content_changes_behind_the_same_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"one").unwrap();
        let mtime = fs::metadata(&file).unwrap().modified().unwrap();
        assert_eq!(cache.file_digest(&file).unwrap(), Digest::of(b"one"));
        fs::write(&file, b"two").unwrap();
        File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(cache.file_digest(&file).unwrap(), Digest::of(b"two"));
    }

    #[test]
    fn layer_record_needs_its_blob() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let digest = cache.blobs.put_bytes(b"blob").unwrap();
        let record = LayerRecord {
            blob: LayerBlob {
                digest: digest.clone(),
                diff_id: DiffId(digest.clone()),
                size: 4,
                media_type: "x".into(),
            },
            facts: RootfsFacts::default(),
        };
        let key = Digest::of(b"key");
        cache.put_layer(&key, &record).unwrap();
        assert_eq!(cache.layer(&key), Some(record));
        fs::remove_file(cache.blobs.path(&digest)).unwrap();
        assert_eq!(cache.layer(&key), None);
    }

    #[test]
    fn prune_all_empties_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        {
            let cache = Cache::open(dir.path()).unwrap();
            cache.blobs.put_bytes(b"unused").unwrap();
        }
        let report = prune(dir.path(), Duration::ZERO).unwrap();
        assert_eq!(report.blobs, 1);
    }
}
