//! Layers: deterministic tar streams, compressed and stored as blobs.
//!
//! Each layer is written in one streaming pass:
//! tar → sha256 (`diff_id`) → compress → sha256 (`digest`) → blob file.
//! No layer is ever held whole in memory.

pub mod compress;
pub mod entry;
pub mod tar;

use std::io::{self, BufWriter, Write};

use crate::digest::{DiffId, Digest, HashingWriter};
use crate::store::{BlobStore, StoreError};

pub use compress::Compression;
pub use entry::{Content, Entry, EntryKind, LayerPath, Tree, order_hardlinks};

/// A layer as stored: what the manifest and the config say about it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerBlob {
    pub digest: Digest,
    pub diff_id: DiffId,
    pub size: u64,
    pub media_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("writing layer: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes `tree` as a compressed layer blob into `store`.
pub fn write_tree(
    tree: &Tree,
    compression: Compression,
    store: &BlobStore,
) -> Result<LayerBlob, LayerError> {
    write_stream(compression, store, |out| tar::write_tree(tree, out))
}

/// Compresses the tar stream that `produce` writes into a blob of `store`,
/// hashing the uncompressed and the compressed bytes on the way.
pub fn write_stream(
    compression: Compression,
    store: &BlobStore,
    produce: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<LayerBlob, LayerError> {
    let blob = store.writer()?;
    let compressor = compression.writer(blob)?;
    let mut uncompressed = BufWriter::with_capacity(1 << 20, HashingWriter::new(compressor));
    produce(&mut uncompressed)?;
    let hashing = uncompressed.into_inner().map_err(|e| e.into_error())?;
    let (compressor, diff_id, _) = hashing.finish();
    let blob = compressor.finish()?;
    let (digest, size) = blob.commit(None, "layer")?;
    Ok(LayerBlob {
        digest,
        diff_id: DiffId(diff_id),
        size,
        media_type: compression.media_type().to_string(),
    })
}

/// Compares a layer's uncompressed stream with its diff_id and tells
/// whether it decodes to exactly those bytes.
pub fn diff_id_of(compressed: impl io::Read, compression: Compression) -> io::Result<Digest> {
    let reader: Box<dyn io::Read> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(compressed)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(compressed)?),
    };
    Ok(Digest::of_reader(reader)?.0)
}
