//! Behaviour tests, compiled as one binary; one submodule per area.

mod bad_input;
mod concurrency;
mod crash;
mod creds;
mod fuzz;
mod npm;
mod registry;
mod registry_faults;
mod secrets;
mod shim;
mod support;
