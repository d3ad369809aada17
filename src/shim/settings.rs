//! The shim's settings, read from the environment the image defines.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::Error;
use super::creds;
use super::passwd::is_valid_name;

pub const DEFAULT_USER: &str = "sandboxed";
pub const DEFAULT_ID: u32 = 1000;
pub const DEFAULT_CREDENTIALS_SOURCE: &str = "/opt/host-claude-credentials.json";
pub const DEFAULT_CREDENTIALS_DEST: &str = ".claude/.credentials.json";

/// Everything the shim needs to know before it touches the rootfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `RUNTIME_USER`: name of the user the command runs as.
    pub user: String,
    /// `RUNTIME_UID`.
    pub uid: u32,
    /// `RUNTIME_GID`: the user's primary group.
    pub gid: u32,
    /// `JIB_CREDENTIALS_SOURCE`: absolute path of the mounted host file.
    pub credentials_source: PathBuf,
    /// `JIB_CREDENTIALS_DEST`: where the copy goes, relative to the home.
    pub credentials_dest: PathBuf,
    /// `JIB_REQUIRED_SCOPES`: scopes the credentials must carry.
    pub required_scopes: Vec<String>,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Settings, Error> {
        Settings::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the settings through `lookup`, so that tests need no
    /// environment; an empty variable counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Settings, Error> {
        let text = |name: &str| -> Result<Option<String>, Error> {
            match lookup(name).filter(|value| !value.is_empty()) {
                None => Ok(None),
                Some(value) => value
                    .into_string()
                    .map(Some)
                    .map_err(|_| Error::msg(format!("{name} is not valid UTF-8"))),
            }
        };

        let user = text("RUNTIME_USER")?.unwrap_or_else(|| DEFAULT_USER.to_owned());
        if !is_valid_name(&user) {
            return Err(Error::msg(format!(
                "RUNTIME_USER {user:?} is not a valid user name (lowercase letters, digits, _ and -)"
            )));
        }
        let settings = Settings {
            user,
            uid: id("RUNTIME_UID", text("RUNTIME_UID")?)?,
            gid: id("RUNTIME_GID", text("RUNTIME_GID")?)?,
            credentials_source: text("JIB_CREDENTIALS_SOURCE")?
                .unwrap_or_else(|| DEFAULT_CREDENTIALS_SOURCE.to_owned())
                .into(),
            credentials_dest: text("JIB_CREDENTIALS_DEST")?
                .unwrap_or_else(|| DEFAULT_CREDENTIALS_DEST.to_owned())
                .into(),
            // Unlike the others, a set but empty list means "require none".
            required_scopes: match lookup("JIB_REQUIRED_SCOPES") {
                Some(value) => creds::parse_scope_list(&value.to_string_lossy()),
                None => creds::default_required_scopes(),
            },
        };
        settings.check_paths()?;
        Ok(settings)
    }

    fn check_paths(&self) -> Result<(), Error> {
        if !self.credentials_source.is_absolute() {
            return Err(Error::msg(format!(
                "JIB_CREDENTIALS_SOURCE {} is not an absolute path",
                self.credentials_source.display()
            )));
        }
        let plain = |c: Component<'_>| matches!(c, Component::Normal(_));
        let dest = &self.credentials_dest;
        if dest.file_name().is_none() || !dest.components().all(plain) {
            return Err(Error::msg(format!(
                "JIB_CREDENTIALS_DEST {} is not a plain path relative to the home \
                 (no leading /, no . or ..)",
                dest.display()
            )));
        }
        Ok(())
    }

    /// The home directory the runtime user gets: `/home/NAME`.
    pub fn home(&self) -> PathBuf {
        Path::new("/home").join(&self.user)
    }
}

/// Parses a numeric id; `u32::MAX` is refused because it means "no change"
/// to `chown` and `setuid`.
fn id(name: &str, value: Option<String>) -> Result<u32, Error> {
    let Some(value) = value else {
        return Ok(DEFAULT_ID);
    };
    match value.trim().parse::<u32>() {
        Ok(id) if id != u32::MAX => Ok(id),
        _ => Err(Error::msg(format!(
            "{name} {value:?} is not a numeric id below 4294967295"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, Error> {
        let pairs: Vec<(String, OsString)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        Settings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_match_the_original_entrypoint() {
        let settings = with(&[]).unwrap();
        assert_eq!(settings.user, "sandboxed");
        assert_eq!((settings.uid, settings.gid), (1000, 1000));
        assert_eq!(settings.home(), Path::new("/home/sandboxed"));
        assert_eq!(
            settings.credentials_source,
            Path::new(DEFAULT_CREDENTIALS_SOURCE)
        );
        assert_eq!(settings.required_scopes.len(), 3);
    }

    #[test]
    fn values_are_read_and_checked() {
        let settings = with(&[
            ("RUNTIME_USER", "dev"),
            ("RUNTIME_UID", "1234"),
            ("RUNTIME_GID", "55"),
            ("JIB_REQUIRED_SCOPES", ""),
            ("JIB_CREDENTIALS_DEST", "cfg/creds.json"),
        ])
        .unwrap();
        assert_eq!((settings.uid, settings.gid), (1234, 55));
        assert!(settings.required_scopes.is_empty());
        assert_eq!(settings.credentials_dest, Path::new("cfg/creds.json"));

        for bad in [
            ("RUNTIME_USER", "a:b"),
            ("RUNTIME_USER", "../etc"),
            ("RUNTIME_UID", "-1"),
            ("RUNTIME_UID", "4294967295"),
            ("RUNTIME_GID", "x"),
            ("JIB_CREDENTIALS_DEST", "/etc/shadow"),
            ("JIB_CREDENTIALS_DEST", "../x"),
            ("JIB_CREDENTIALS_SOURCE", "relative.json"),
        ] {
            let err = with(&[bad]).unwrap_err().to_string();
            assert!(err.starts_with(bad.0), "{err}");
        }
    }
}
