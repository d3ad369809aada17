//! Behaviour tests, compiled as one binary; one submodule per area.

mod core;
mod creds;
mod ecosystem;
mod jib_image;
mod multiplatform;
mod npm;
mod registry;
mod shim;
mod support;
