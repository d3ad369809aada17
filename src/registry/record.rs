//! A record of which repositories are known to hold which blobs.
//!
//! A registry can link a blob from one of its repositories into another
//! without any upload (a cross-repository mount), but only when the client
//! names a source repository. This record remembers where blobs were seen
//! (pushed, found or pulled) so that later pushes can name one. It is an
//! optimisation only: a lost or stale record costs an upload, never
//! correctness, so reading and writing it never fails a push.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::digest::Digest;

/// How many repositories to remember per blob.
const MAX_REPOSITORIES: usize = 8;

type Entries = BTreeMap<String, BTreeMap<String, Vec<String>>>;

pub struct BlobRecord {
    path: Option<PathBuf>,
    /// registry → digest → repositories, most recent last.
    entries: Mutex<Entries>,
}

impl BlobRecord {
    pub fn load(path: Option<PathBuf>) -> Self {
        let entries = path
            .as_ref()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        BlobRecord {
            path,
            entries: Mutex::new(entries),
        }
    }

    pub fn note(&self, registry: &str, repository: &str, digest: &Digest) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let repositories = entries
            .entry(registry.to_string())
            .or_default()
            .entry(digest.to_string())
            .or_default();
        repositories.retain(|r| r != repository);
        repositories.push(repository.to_string());
        if repositories.len() > MAX_REPOSITORIES {
            repositories.remove(0);
        }
    }

    /// Repositories of `registry` other than `except` known to hold `digest`,
    /// most recent first.
    pub fn sources(&self, registry: &str, digest: &Digest, except: &str) -> Vec<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(registry)
            .and_then(|blobs| blobs.get(&digest.to_string()))
            .map(|repos| {
                repos
                    .iter()
                    .rev()
                    .filter(|r| *r != except)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Writes the record atomically; failures are logged and ignored.
    pub fn save(&self) {
        let Some(path) = &self.path else { return };
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let result = (|| -> std::io::Result<()> {
            let dir = path.parent().unwrap_or(std::path::Path::new("."));
            std::fs::create_dir_all(dir)?;
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(&mut temp, &*entries)?;
            temp.persist(path).map_err(|e| e.error)?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::debug!("not saving blob record {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_sources_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/record.json");
        let digest = Digest::of(b"blob");
        let record = BlobRecord::load(Some(path.clone()));
        record.note("reg:1", "a", &digest);
        record.note("reg:1", "b", &digest);
        record.save();
        let again = BlobRecord::load(Some(path));
        assert_eq!(again.sources("reg:1", &digest, "a"), vec!["b".to_string()]);
        assert_eq!(
            again.sources("reg:1", &digest, "c"),
            vec!["b".to_string(), "a".to_string()]
        );
        assert!(again.sources("reg:2", &digest, "c").is_empty());
    }
}
