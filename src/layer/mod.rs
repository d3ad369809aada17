//! Layers: deterministic tar streams, compressed and stored as blobs.

pub mod entry;
