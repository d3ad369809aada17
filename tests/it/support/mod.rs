//! Helpers shared by the behaviour tests.

#![allow(dead_code)]

pub mod check;
pub mod faulty;
pub mod layout;
pub mod mock;
pub mod proxy;
pub mod registry;
pub mod rootfs;
pub mod validate;

/// Whether every tool in `tools` is on `PATH`. With `CI` set a missing tool
/// fails the test; otherwise the caller skips with a message.
pub fn require_tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| !on_path(tool))
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("required test tools missing: {}", missing.join(", "));
    }
    eprintln!("skipping: test tools missing: {}", missing.join(", "));
    false
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join(tool).is_file())
}
