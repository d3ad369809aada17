//! The entrypoint shim: prepares the runtime user, copies the host's
//! Claude Code credentials into its home, and runs the command as that
//! user.
//!
//! The flow at container start:
//!
//! ```text
//! settings (environment) ──► account (group, passwd, sudo rule, home)
//!     ──► credentials (read source ─► private copy ─► diagnosis)
//!     ──► drop privileges ─► exec the command (or the login shell)
//! ```
//!
//! One static binary serves every image; the image configures it through
//! its environment:
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `RUNTIME_USER` | `sandboxed` | user name (lowercase, digits, `_`, `-`) |
//! | `RUNTIME_UID` | `1000` | user id |
//! | `RUNTIME_GID` | `1000` | primary group id |
//! | `JIB_CREDENTIALS_SOURCE` | `/opt/host-claude-credentials.json` | the host's file, mounted read-only |
//! | `JIB_CREDENTIALS_DEST` | `.claude/.credentials.json` | the copy, relative to the home |
//! | `JIB_REQUIRED_SCOPES` | `user:inference,user:profile,user:sessions:claude_code` | comma-separated; empty requires none |
//!
//! The home is `/home/$RUNTIME_USER`; `HOME`, `USER` and `LOGNAME` are set
//! for the command. Run as a user other than root, the shim skips the
//! account set-up and copies for that user.
//!
//! Every message goes to stderr as one line starting `jib-entrypoint: `;
//! stdout belongs to the command. Failed set-up steps are warnings. The
//! shim's own exit codes (otherwise the command's): 125 bad settings or a
//! failed privilege drop, 126 the command could not be run, 127 the
//! command was not found.
//!
//! This module uses only std, libc and serde_json, so that the shim builds
//! without the `builder` feature into a small static binary.

pub mod account;
pub mod creds;
pub mod exec;
mod fsat;
pub mod install;
pub mod passwd;
pub mod settings;

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use account::Account;
use settings::Settings;

/// Exit code for bad settings or a failed privilege drop.
pub const EXIT_SETUP: i32 = 125;
/// Exit code when the command exists but cannot be run.
pub const EXIT_CANNOT_RUN: i32 = 126;
/// Exit code when the command does not exist.
pub const EXIT_NOT_FOUND: i32 = 127;

/// A failed step: what was being done, and why it failed.
#[derive(Debug)]
pub struct Error {
    context: String,
    source: Option<io::Error>,
}

impl Error {
    pub fn msg(context: impl Into<String>) -> Error {
        Error {
            context: context.into(),
            source: None,
        }
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error {
            context: context.into(),
            source: Some(source),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.context),
            None => write!(f, "{}", self.context),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|err| err as _)
    }
}

/// Writes one message line to stderr; control characters become `?` so a
/// message stays one line. A closed stderr is no reason to stop.
fn say(level: &str, message: &dyn fmt::Display) {
    let text: String = message
        .to_string()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let _ = writeln!(io::stderr().lock(), "jib-entrypoint: {level}{text}");
}

pub(crate) fn note(message: impl fmt::Display) {
    say("", &message);
}

pub(crate) fn warn(message: impl fmt::Display) {
    say("warning: ", &message);
}

fn hint(message: impl fmt::Display) {
    say("hint: ", &message);
}

fn error(message: impl fmt::Display) {
    say("error: ", &message);
}

/// Runs the shim with `command` (the arguments after the program name) and
/// returns an exit code only when the command could not be started.
pub fn run(command: Vec<OsString>) -> i32 {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            error(err);
            return EXIT_SETUP;
        }
    };
    let root = Path::new("/");
    // SAFETY: the id calls cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let is_root = uid == 0;
    let account = if is_root {
        account::set_up(root, &settings)
    } else {
        account::current(root, &settings, uid, gid)
    };

    let owner = is_root.then_some((account.uid, account.gid));
    let private_dir = prepare_home(root, &settings, &account, owner);
    copy_credentials(root, &settings, &account, private_dir, owner);

    if is_root && let Err(err) = exec::drop_privileges(&account) {
        error(format!(
            "switching to uid {} gid {}: {err}",
            account.uid, account.gid
        ));
        return EXIT_SETUP;
    }
    let err = exec::exec(&account, &command);
    let program = command.first().map_or_else(
        || account.shell.to_string_lossy().into_owned(),
        |program| program.to_string_lossy().into_owned(),
    );
    error(format!("running {program}: {err}"));
    if err.kind() == io::ErrorKind::NotFound {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_RUN
    }
}

/// Creates the home and the private directory of the credentials copy
/// (`~/.claude`), handing both to `owner`; returns that directory and the
/// copy's file name.
fn prepare_home(
    root: &Path,
    settings: &Settings,
    account: &Account,
    owner: Option<(u32, u32)>,
) -> Option<(fsat::Dir, OsString)> {
    let home = account::open_home(root, &account.home, owner)
        .map_err(warn)
        .ok()?;
    let dest = &settings.credentials_dest;
    match install::private_parent(&home, dest, owner) {
        Ok((dir, name)) => Some((dir, name.to_owned())),
        Err(err) => {
            let parent = account.home.join(dest.parent().unwrap_or(Path::new("")));
            warn(format_args!("preparing {}: {err}", parent.display()));
            None
        }
    }
}

/// The credentials step; every outcome is a message, none stops the start.
fn copy_credentials(
    root: &Path,
    settings: &Settings,
    account: &Account,
    private_dir: Option<(fsat::Dir, OsString)>,
    owner: Option<(u32, u32)>,
) {
    let source = &settings.credentials_source;
    let bytes = match install::read_source(root, source) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            warn(format!(
                "no Claude credentials at {}; Claude Code will ask you to log in with a browser",
                source.display()
            ));
            hint(
                "log in with Claude Code on the host once; the next container start picks the credentials up",
            );
            return;
        }
        Err(err) => {
            warn(format_args!("{err}; credentials not copied"));
            return;
        }
    };

    let dest = account.home.join(&settings.credentials_dest);
    match private_dir {
        Some((dir, name)) => match install::write_private(&dir, &name, &bytes, 0o600, owner) {
            Ok(()) => note(format_args!(
                "loaded Claude credentials from the host into {}",
                dest.display()
            )),
            Err(err) => warn(format_args!(
                "writing {}: {err}; credentials not copied",
                dest.display()
            )),
        },
        // The reason was reported when the directory could not be made.
        None => warn(format_args!("credentials not copied to {}", dest.display())),
    }

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        });
    let diagnosis = creds::diagnose(&bytes, now_ms, &settings.required_scopes);
    for problem in &diagnosis.problems {
        warn(problem);
    }
    if let Some(text) = diagnosis.hint() {
        hint(text);
    }
}
