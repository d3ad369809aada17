//! Deterministic tar files for the archive outputs.
//!
//! The rules, enforced here for every archive we write: entries sorted by
//! name, every parent directory present before its children, mtime 0,
//! uid/gid 0 with no user or group names, mode 0644 for files and 0755 for
//! directories. The archive is written to a temporary file beside the
//! target and renamed into place only once complete, so nothing
//! half-written ever carries the target's name.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::digest::Digest;
use crate::store::BlobStore;

/// Where an archive member's bytes come from.
pub enum Member {
    Bytes(Vec<u8>),
    /// A blob of the store, copied without being decompressed or recompressed.
    Blob(Digest),
}

/// An archive being put together: member names to contents.
#[derive(Default)]
pub struct Archive {
    members: BTreeMap<String, Member>,
}

impl Archive {
    pub fn add_bytes(&mut self, name: &str, bytes: Vec<u8>) {
        self.members.insert(name.to_string(), Member::Bytes(bytes));
    }

    pub fn add_blob(&mut self, name: &str, digest: &Digest) {
        self.members
            .insert(name.to_string(), Member::Blob(digest.clone()));
    }

    /// `blobs/sha256/<hex>` for each digest, the layout path of a blob.
    pub fn add_blobs(&mut self, digests: &[Digest]) {
        for digest in digests {
            self.add_blob(&blob_path(digest), digest);
        }
    }

    /// Writes the archive to `path` atomically.
    pub fn write(&self, path: &Path, store: &BlobStore) -> Result<()> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let temp = tempfile::Builder::new()
            .prefix(".jib-image-archive-")
            .tempfile_in(&parent)
            .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
        let file = temp.reopen()?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        self.write_to(&mut out, store)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        temp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming the archive to {}", path.display()))?;
        Ok(())
    }

    fn write_to(&self, out: &mut impl Write, store: &BlobStore) -> Result<()> {
        let mut names: BTreeSet<String> = self.directories();
        names.extend(self.members.keys().cloned());
        let mut builder = tar::Builder::new(out);
        for name in &names {
            match self.members.get(name) {
                None => {
                    let mut h = header(tar::EntryType::Directory, 0o755, 0);
                    builder.append_data(&mut h, name, io::empty())?;
                }
                Some(Member::Bytes(bytes)) => {
                    let mut h = header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
                    builder.append_data(&mut h, name, bytes.as_slice())?;
                }
                Some(Member::Blob(digest)) => {
                    let file = store.open_blob(digest)?;
                    let size = file.metadata()?.len();
                    let mut h = header(tar::EntryType::Regular, 0o644, size);
                    builder.append_data(&mut h, name, io::BufReader::new(file))?;
                }
            }
        }
        builder.into_inner()?.flush()?;
        Ok(())
    }

    /// Every directory a member sits in, parents first.
    fn directories(&self) -> BTreeSet<String> {
        let mut dirs = BTreeSet::new();
        for name in self.members.keys() {
            let mut acc = String::new();
            let parts: Vec<&str> = name.split('/').collect();
            for part in &parts[..parts.len() - 1] {
                if !acc.is_empty() {
                    acc.push('/');
                }
                acc.push_str(part);
                dirs.insert(format!("{acc}/"));
            }
        }
        dirs
    }
}

pub fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}
