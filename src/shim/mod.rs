//! The entrypoint shim (see `src/bin/jib-entrypoint.rs`).
