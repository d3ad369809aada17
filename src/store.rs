//! A content-addressed blob store: `ROOT/sha256/<hex>`.
//!
//! Every blob is written to a temporary file in the store's own directory,
//! flushed to disk and renamed to its digest only once the digest is known
//! (and, when the caller expected one, checked). A blob under a given name
//! therefore always holds the bytes of that name, even when the writer is
//! killed halfway: at worst a stray temporary file remains, and
//! [`BlobStore::clean_temporaries`] removes those.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingWriter};

const TEMP_PREFIX: &str = ".tmp-";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {}", path.display(), crate::plan::io_cause(source))]
    Io { path: PathBuf, source: io::Error },
    #[error("content of {what} does not match its digest: expected {expected}, got {actual}")]
    Mismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("size of {what} does not match: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory of blobs named by their sha256 digest.
#[derive(Clone, Debug)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// Opens (creating when needed) the store whose blobs live in `dir/sha256/`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into().join("sha256");
        fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        Ok(BlobStore { dir })
    }

    /// Where the blob named `digest` lives (whether or not it exists yet).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.path(digest);
        File::open(&path).map_err(io_at(&path))
    }

    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.path(digest);
        fs::read(&path).map_err(io_at(&path))
    }

    /// Starts a new blob; its name is known when [`BlobWriter::commit`] runs.
    pub fn writer(&self) -> Result<BlobWriter, StoreError> {
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(io_at(&self.dir))?;
        let file = temp.reopen().map_err(io_at(temp.path()))?;
        Ok(BlobWriter {
            store: self.clone(),
            temp,
            hashing: HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Stores `bytes` and returns their digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        if self.contains(&digest) {
            return Ok(digest);
        }
        let mut writer = self.writer()?;
        writer.write_all(bytes).map_err(io_at(&self.dir))?;
        writer.commit(Some(&digest), "blob")?;
        Ok(digest)
    }

    /// Copies everything `reader` yields into the store, checking it against
    /// `expected` (digest and size) before the blob gets its name.
    pub fn put_reader(
        &self,
        mut reader: impl Read,
        expected: Option<(&Digest, u64)>,
        what: &str,
    ) -> Result<(Digest, u64), StoreError> {
        let mut writer = self.writer()?;
        io::copy(&mut reader, &mut writer).map_err(|source| StoreError::Io {
            path: PathBuf::from(what),
            source,
        })?;
        if let Some((_, size)) = expected
            && writer.size() != size
        {
            return Err(StoreError::SizeMismatch {
                what: what.to_string(),
                expected: size,
                actual: writer.size(),
            });
        }
        writer.commit(expected.map(|(d, _)| d), what)
    }

    /// Places a blob of this store at `dest`: a hard link when both are on one
    /// file system, a copy otherwise.
    pub fn link_to(&self, digest: &Digest, dest: &Path) -> Result<(), StoreError> {
        let src = self.path(digest);
        if dest.exists() {
            return Ok(());
        }
        if fs::hard_link(&src, dest).is_ok() {
            return Ok(());
        }
        fs::copy(&src, dest).map_err(io_at(dest))?;
        Ok(())
    }

    /// Rehashes a stored blob; `false` when its content no longer matches.
    pub fn verify(&self, digest: &Digest) -> Result<bool, StoreError> {
        let file = self.open_blob(digest)?;
        let (actual, _) =
            Digest::of_reader(io::BufReader::new(file)).map_err(io_at(&self.path(digest)))?;
        Ok(&actual == digest)
    }

    /// Removes temporary files left by writers that never committed.
    pub fn clean_temporaries(&self) -> io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A blob being written; dropped without [`commit`](Self::commit), it leaves
/// nothing behind.
pub struct BlobWriter {
    store: BlobStore,
    temp: tempfile::NamedTempFile,
    hashing: HashingWriter<io::BufWriter<File>>,
}

impl BlobWriter {
    pub fn size(&self) -> u64 {
        self.hashing.size()
    }

    /// Flushes the blob to disk and gives it its name. With `expected`, a
    /// blob whose content differs is discarded and reported instead.
    pub fn commit(
        self,
        expected: Option<&Digest>,
        what: &str,
    ) -> Result<(Digest, u64), StoreError> {
        let (buffered, digest, size) = self.hashing.finish();
        let path = self.temp.path().to_path_buf();
        let file = buffered
            .into_inner()
            .map_err(|e| io_at(&path)(e.into_error()))?;
        if let Some(expected) = expected
            && expected != &digest
        {
            return Err(StoreError::Mismatch {
                what: what.to_string(),
                expected: expected.clone(),
                actual: digest,
            });
        }
        // Blobs are content, not secrets: readable by all, like a layout's.
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(io_at(&path))?;
        file.sync_all().map_err(io_at(&path))?;
        let dest = self.store.path(&digest);
        self.temp
            .persist(&dest)
            .map_err(|e| io_at(&dest)(e.error))?;
        Ok((digest, size))
    }
}

impl BlobWriter {
    /// A write error that names the store: "no space left on device" alone
    /// would not say which disk is full.
    fn named(&self, e: io::Error) -> io::Error {
        let text = format!(
            "{}: {}",
            self.store.dir.display(),
            crate::plan::io_cause(&e)
        );
        io::Error::new(e.kind(), text)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hashing.write(buf).map_err(|e| self.named(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hashing.flush().map_err(|e| self.named(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_blob_is_named_by_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let digest = store.put_bytes(b"layer bytes").unwrap();
        assert_eq!(digest, Digest::of(b"layer bytes"));
        assert_eq!(store.read(&digest).unwrap(), b"layer bytes");
        assert!(store.verify(&digest).unwrap());
    }

    #[test]
    fn mismatching_content_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let wrong = Digest::of(b"something else");
        let err = store
            .put_reader(&b"actual"[..], Some((&wrong, 6)), "test blob")
            .unwrap_err();
        assert!(
            err.to_string().contains("does not match its digest"),
            "{err}"
        );
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 0);
    }

    #[test]
    fn dropped_writer_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(store.dir()).unwrap().count(), 0);
    }
}
