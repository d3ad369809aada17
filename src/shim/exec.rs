//! Handing the process over to the command.
//!
//! The shim `exec`s, so the command keeps the shim's pid (1 in most
//! containers): its exit status and the signals sent to it need no relay.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use super::account::Account;

/// Drops to the account's ids: supplementary groups, then gid, then uid —
/// each later call needs the privilege the previous ones leave.
pub fn drop_privileges(account: &Account) -> io::Result<()> {
    let groups: Vec<libc::gid_t> = if account.groups.is_empty() {
        vec![account.gid]
    } else {
        account.groups.clone()
    };
    // SAFETY: the pointer and length describe `groups`; results are checked.
    unsafe {
        if libc::setgroups(groups.len(), groups.as_ptr()) != 0
            || libc::setgid(account.gid) != 0
            || libc::setuid(account.uid) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    // A uid that could be regained means the drop did not happen.
    // SAFETY: the id calls cannot fail.
    let (uid, euid, gid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getgid()) };
    if (uid, euid, gid) != (account.uid, account.uid, account.gid)
        || (account.uid != 0 && unsafe { libc::setuid(0) } == 0)
    {
        return Err(io::Error::other("the process kept other ids"));
    }
    Ok(())
}

/// Replaces the process with `command` (or the login shell when empty);
/// returns only when the exec failed.
pub fn exec(account: &Account, command: &[OsString]) -> io::Error {
    let (program, args) = match command.split_first() {
        Some((program, args)) => (program.clone(), args),
        None => (account.shell.clone().into_os_string(), &[][..]),
    };
    Command::new(program)
        .args(args)
        .env("HOME", &account.home)
        .env("USER", &account.name)
        .env("LOGNAME", &account.name)
        .exec()
}
