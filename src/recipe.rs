//! Layer cache keys: a digest of everything that decides a layer's bytes.
//!
//! The key covers the format version, the compression, and for every entry
//! its path, type, mode, owner, mtime and content digest (or link target).
//! Paths on the build machine and their mtimes are not part of it, so a
//! fresh clone of the same sources finds the layers built before.

use std::fmt::Write as _;

use crate::cache::Cache;
use crate::digest::Digest;
use crate::layer::{Compression, Content, EntryKind, Tree};

/// Bumped whenever the tar or compression output for a recipe changes.
const FORMAT: &str = "jib-image layer/v1";

pub fn tree_key(tree: &Tree, compression: Compression, cache: &Cache) -> Result<Digest, String> {
    let mut text = format!("{FORMAT}\ncompression {compression:?}\n");
    for (path, entry) in tree {
        let what = match &entry.kind {
            EntryKind::Dir => "dir".to_string(),
            EntryKind::File {
                content: Content::Bytes(b),
                size,
            } => format!("file {size} {}", Digest::of(b)),
            EntryKind::File {
                content: Content::Path(p),
                size,
            } => {
                let digest = cache.file_digest(p).map_err(|e| e.to_string())?;
                format!("file {size} {digest}")
            }
            EntryKind::Symlink { target } => format!("symlink {target:?}"),
            EntryKind::Hardlink { target } => format!("hardlink {:?}", target.as_str()),
        };
        let _ = writeln!(
            text,
            "{:?} {:o} {}:{} {} {what}",
            path.as_str(),
            entry.mode,
            entry.uid,
            entry.gid,
            entry.mtime
        );
    }
    Ok(Digest::of(text.as_bytes()))
}
