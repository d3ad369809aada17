//! jib-image: a daemonless, declarative, reproducible OCI image builder.
//!
//! The data flows in one direction:
//!
//! ```text
//! TOML spec ──► spec (serde) ──► plan (validated, paths resolved)
//!     ──► layers (tar ─► diff_id ─► compress ─► digest ─► blob store)
//!     ──► image config ─► manifest (─► index for several platforms)
//!     ──► outputs (OCI layout, archives, registry push)
//! ```
//!
//! The entrypoint shim ([`shim`]) is the one part that runs inside the image;
//! it is built without the `builder` feature so that it stays small and
//! static.

pub mod shim;

#[cfg(feature = "builder")]
pub mod base;
#[cfg(feature = "builder")]
pub mod build;
#[cfg(feature = "builder")]
pub mod cache;
#[cfg(feature = "builder")]
pub mod digest;
#[cfg(feature = "builder")]
pub mod gitinfo;
#[cfg(feature = "builder")]
pub mod image;
#[cfg(feature = "builder")]
pub mod input;
#[cfg(feature = "builder")]
pub mod inspect;
#[cfg(feature = "builder")]
pub mod layer;
#[cfg(feature = "builder")]
pub mod npm;
#[cfg(feature = "builder")]
pub mod output;
#[cfg(feature = "builder")]
pub mod plan;
#[cfg(feature = "builder")]
pub mod platform;
#[cfg(feature = "builder")]
pub mod progress;
#[cfg(feature = "builder")]
pub mod recipe;
#[cfg(feature = "builder")]
pub mod referrer;
#[cfg(feature = "builder")]
pub mod registry;
#[cfg(feature = "builder")]
pub mod sbom;
#[cfg(feature = "builder")]
pub mod secrets;
#[cfg(feature = "builder")]
pub mod spec;
#[cfg(feature = "builder")]
pub mod store;
#[cfg(feature = "builder")]
pub mod verify;
