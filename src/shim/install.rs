//! Copying the host's credentials into the runtime user's home.
//!
//! The copy is private from its first instant: it is written to a new file
//! created with mode 0600 and `O_EXCL|O_NOFOLLOW` beside the destination,
//! handed to the user, synced, and renamed over the destination. The
//! rename replaces whatever was there (a looser file, a planted link)
//! without following it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};

use super::Error;
use super::account::private_dir;
use super::fsat::Dir;

/// Credentials files are a few hundred bytes; anything past this is not one.
pub const MAX_SOURCE_BYTES: u64 = 1024 * 1024;

/// Reads the credentials source at `source` inside `root`. `Ok(None)` means
/// there is no file (the user logs in later); an error means there is
/// something that must not be copied.
pub fn read_source(root: &Path, source: &Path) -> Result<Option<Vec<u8>>, Error> {
    let path = root.join(source.strip_prefix("/").unwrap_or(source));
    let context = || format!("credentials source {}", source.display());
    // O_NONBLOCK: opening a FIFO planted at the source must not hang.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&path);
    let file = match file {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::io(context(), err)),
    };
    let meta = file.metadata().map_err(|err| Error::io(context(), err))?;
    if !meta.is_file() {
        return Err(Error::msg(format!("{} is not a regular file", context())));
    }
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(too_large(&context()));
    }
    let mut bytes = Vec::new();
    // The size may grow after the check; never read more than the limit.
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| Error::io(context(), err))?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(too_large(&context()));
    }
    Ok(Some(bytes))
}

fn too_large(context: &str) -> Error {
    Error::msg(format!("{context} is larger than {MAX_SOURCE_BYTES} bytes"))
}

/// Writes `bytes` to `dest` (relative, plain components) under `home`:
/// every directory on the way is made a real directory with mode 0700
/// (owned by `owner` when given), and the file gets mode 0600.
pub fn install(home: &Dir, dest: &Path, bytes: &[u8], owner: Option<(u32, u32)>) -> io::Result<()> {
    let (parent, name) = private_parent(home, dest, owner)?;
    write_private(&parent, name, bytes, 0o600, owner)
}

/// Makes the directories of `dest` (all but its file name) under `home`
/// and returns the last of them with the file name.
pub fn private_parent<'a>(
    home: &Dir,
    dest: &'a Path,
    owner: Option<(u32, u32)>,
) -> io::Result<(Dir, &'a OsStr)> {
    let mut names: Vec<&OsStr> = Vec::new();
    for component in dest.components() {
        match component {
            Component::Normal(name) => names.push(name),
            _ => return Err(io::ErrorKind::InvalidInput.into()),
        }
    }
    let Some((file_name, dirs)) = names.split_last() else {
        return Err(io::ErrorKind::InvalidInput.into());
    };
    let mut parent: Option<Dir> = None;
    for name in dirs {
        let here = parent.as_ref().unwrap_or(home);
        parent = Some(private_dir(here, name, owner)?);
    }
    let parent = match parent {
        Some(dir) => dir,
        None => home.open_dir(OsStr::new("."))?,
    };
    Ok((parent, file_name))
}

/// Writes `bytes` to `name` in `dir` through a new temporary file of
/// `mode`, then renames it into place. The umask cannot loosen the mode:
/// `fchmod` sets it again after the create.
pub fn write_private(
    dir: &Dir,
    name: &OsStr,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let (temp_name, file) = create_temp(dir, name, mode)?;
    let written = fill(&file, bytes, mode, owner).and_then(|()| dir.rename(&temp_name, name));
    if let Err(err) = written {
        let _ = dir.remove(&temp_name, false);
        return Err(err);
    }
    // Make the rename itself durable; a failure here loses nothing now.
    let _ = dir.as_file().sync_all();
    Ok(())
}

fn create_temp(dir: &Dir, name: &OsStr, mode: u32) -> io::Result<(OsString, File)> {
    let mut last_error = io::Error::from(io::ErrorKind::AlreadyExists);
    for attempt in 0..32 {
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".jib-{}-{attempt}", std::process::id()));
        match dir.create_new(&temp_name, mode) {
            Ok(file) => return Ok((temp_name, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last_error = err,
            Err(err) => return Err(err),
        }
    }
    Err(last_error)
}

fn fill(mut file: &File, bytes: &[u8], mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::path::PathBuf;

    fn temp_dir(label: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("jib-shim-install-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn owner() -> Option<(u32, u32)> {
        // SAFETY: geteuid cannot fail.
        (unsafe { libc::geteuid() } == 0).then_some((1234, 1234))
    }

    fn dest() -> &'static Path {
        Path::new(".claude/.credentials.json")
    }

    fn check_private(path: &Path, content: &str) {
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.mode() & 0o7777, 0o600);
        if owner().is_some() {
            assert_eq!((meta.uid(), meta.gid()), (1234, 1234));
        }
        assert_eq!(std::fs::read_to_string(path).unwrap(), content);
    }

    #[test]
    fn copy_is_private_and_owned() {
        let home = temp_dir("copy");
        install(&Dir::open(&home).unwrap(), dest(), b"{}", owner()).unwrap();
        check_private(&home.join(dest()), "{}");
        let meta = std::fs::metadata(home.join(".claude")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o700);
        // Nothing but the copy is left behind.
        assert_eq!(std::fs::read_dir(home.join(".claude")).unwrap().count(), 1);
    }

    #[test]
    fn link_at_destination_is_replaced_not_followed() {
        let home = temp_dir("destlink");
        let outside = temp_dir("destlink-outside").join("shadow");
        std::fs::write(&outside, "root:secret").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::create_dir(home.join(".claude")).unwrap();
        std::os::unix::fs::symlink(&outside, home.join(dest())).unwrap();

        install(&Dir::open(&home).unwrap(), dest(), b"{}", owner()).unwrap();
        check_private(&home.join(dest()), "{}");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "root:secret");
        let meta = std::fs::metadata(&outside).unwrap();
        assert_eq!(
            (meta.mode() & 0o7777, meta.uid()),
            (0o640, unsafe { libc::geteuid() })
        );
    }

    #[test]
    fn link_at_claude_dir_is_replaced_not_followed() {
        let home = temp_dir("dirlink");
        let outside = temp_dir("dirlink-outside");
        std::os::unix::fs::symlink(&outside, home.join(".claude")).unwrap();

        install(&Dir::open(&home).unwrap(), dest(), b"{}", owner()).unwrap();
        check_private(&home.join(dest()), "{}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert_ne!(std::fs::metadata(&outside).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn looser_file_is_replaced() {
        let home = temp_dir("loose");
        std::fs::create_dir(home.join(".claude")).unwrap();
        std::fs::write(home.join(dest()), "old").unwrap();
        std::fs::set_permissions(home.join(dest()), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        install(&Dir::open(&home).unwrap(), dest(), b"new", owner()).unwrap();
        check_private(&home.join(dest()), "new");
    }

    #[test]
    fn mode_holds_under_any_umask() {
        let home = temp_dir("umask");
        // The umask is per process: hold a lock-free window as short as
        // possible and restore it, other tests create nothing sensitive.
        // SAFETY: umask cannot fail.
        let old = unsafe { libc::umask(0) };
        let result = install(&Dir::open(&home).unwrap(), dest(), b"{}", owner());
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        result.unwrap();
        check_private(&home.join(dest()), "{}");

        // SAFETY: as above.
        let old = unsafe { libc::umask(0o277) };
        let result = install(&Dir::open(&home).unwrap(), dest(), b"[]", owner());
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        result.unwrap();
        check_private(&home.join(dest()), "[]");
    }

    #[test]
    fn source_must_be_a_small_regular_file() {
        let root = temp_dir("source");
        assert_eq!(
            read_source(&root, Path::new("/missing.json")).unwrap(),
            None
        );

        std::fs::write(root.join("ok.json"), "{}").unwrap();
        let bytes = read_source(&root, Path::new("/ok.json")).unwrap();
        assert_eq!(bytes.as_deref(), Some(&b"{}"[..]));

        let big = File::create(root.join("big.json")).unwrap();
        big.set_len(MAX_SOURCE_BYTES + 1).unwrap();
        let err = read_source(&root, Path::new("/big.json")).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");

        std::fs::create_dir(root.join("dir.json")).unwrap();
        let err = read_source(&root, Path::new("/dir.json")).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");

        let fifo =
            std::ffi::CString::new(root.join("fifo.json").into_os_string().into_encoded_bytes())
                .unwrap();
        // SAFETY: valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let err = read_source(&root, Path::new("/fifo.json")).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn directory_at_destination_is_an_error() {
        let home = temp_dir("destdir");
        std::fs::create_dir_all(home.join(dest()).join("inner")).unwrap();
        assert!(install(&Dir::open(&home).unwrap(), dest(), b"{}", owner()).is_err());
        assert_eq!(std::fs::read_dir(home.join(".claude")).unwrap().count(), 1);
    }
}
