//! Behaviour tests, compiled as one binary; one submodule per area.

mod creds;
mod jib_image;
mod npm;
mod registry;
mod shim;
mod support;
