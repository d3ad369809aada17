//! Behaviour tests, compiled as one binary; one submodule per area.

mod bad_input;
mod breakit;
mod concurrency;
mod core;
mod crash;
mod creds;
mod ecosystem;
mod fuzz;
mod jib_image;
mod multiplatform;
mod npm;
mod registry;
mod registry_faults;
mod secrets;
mod shim;
mod support;
