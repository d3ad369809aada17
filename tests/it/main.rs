//! Behaviour tests, compiled as one binary; one submodule per area.

mod bad_input;
mod creds;
mod npm;
mod registry;
mod shim;
mod support;
