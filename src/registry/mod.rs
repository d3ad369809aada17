//! A client for the OCI distribution API: push an image from an OCI layout,
//! pull one into the blob store.
//!
//! ```text
//! push: layout index.json ─► entry ─► plan (layers, configs, manifests)
//!       ─► per blob: HEAD ─► skip | mount | POST + PUT (PATCH fallback)
//!       ─► PUT child manifests by digest ─► PUT entry by tag
//! pull: reference ─► manifest (─► index ─► platform's manifest)
//!       ─► config + layers into the BlobStore, each verified
//! ```
//!
//! Every request goes through [`transport`](self::transport), which
//! authenticates ([`auth`](self::auth)), retries transient failures and
//! follows redirects without leaking credentials to other origins.

mod auth;
mod challenge;
mod client;
mod credentials;
mod error;
mod layout;
mod location;
mod manifest;
pub mod mediatype;
mod parallel;
mod pull;
mod push;
mod record;
mod reference;
mod transport;

pub use challenge::{Challenge, parse_challenges};
pub use client::{Client, ClientOptions, Exchange};
pub use credentials::{CredentialError, CredentialSources, Credentials};
pub use error::RegistryError;
pub use pull::{PulledImage, fetch_blob, fetch_manifest, pull_image};
pub use push::{push_image, push_layout};
pub use reference::{Reference, ReferenceError};
