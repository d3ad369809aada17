//! File operations relative to an open directory (the `*at` system calls).
//!
//! The shim runs as root inside directories the runtime user controls, so
//! every step names one entry of a directory it already holds open and
//! refuses to follow symbolic links there: a link swapped in between two
//! steps then fails the step instead of redirecting it.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An open directory.
#[derive(Debug)]
pub struct Dir {
    file: File,
}

/// What `lstat` says about one entry.
#[derive(Debug, Clone, Copy)]
pub struct EntryStat {
    pub mode: u32,
    pub uid: u32,
    pub size: u64,
}

impl EntryStat {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }

    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

impl Dir {
    /// Opens a directory by path, following links (the path is trusted).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let path = c_name(path.as_os_str())?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // SAFETY: `path` is a valid C string; the result is checked.
        let fd = check(unsafe { libc::open(path.as_ptr(), flags) })?;
        Ok(Dir::from_fd(fd))
    }

    fn from_fd(fd: libc::c_int) -> Dir {
        // SAFETY: `fd` was just returned by a successful open and is owned
        // by nothing else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        Dir { file }
    }

    /// The directory as a `File`, for `fchown`, `fchmod`, `fsync`, `fstat`.
    pub fn as_file(&self) -> &File {
        &self.file
    }

    fn open_flags(&self, name: &OsStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
        let name = c_name(name)?;
        let flags = flags | libc::O_CLOEXEC | libc::O_NOCTTY;
        // SAFETY: valid fd and C string; the result is checked.
        let fd = check(unsafe {
            libc::openat(
                self.file.as_raw_fd(),
                name.as_ptr(),
                flags,
                mode as libc::c_uint,
            )
        })?;
        // SAFETY: as in `from_fd`.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Opens the subdirectory `name`; fails if it is a link or no directory.
    pub fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
        let fd = self.open_flags(
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        Ok(Dir {
            file: File::from(fd),
        })
    }

    /// Opens the subdirectory `name`, following a link there (for links
    /// that the trust rule of the caller accepts).
    pub fn open_dir_following(&self, name: &OsStr) -> io::Result<Dir> {
        let fd = self.open_flags(name, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        Ok(Dir {
            file: File::from(fd),
        })
    }

    /// Creates the file `name` with `mode`; fails if anything exists there,
    /// a dangling link included.
    pub fn create_new(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        Ok(File::from(self.open_flags(name, flags, mode)?))
    }

    /// Opens the file `name` for appending, creating it with `mode`.
    pub fn open_append(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT;
        Ok(File::from(self.open_flags(name, flags, mode)?))
    }

    /// Opens the file `name` for reading, following links; `O_NONBLOCK`
    /// keeps a FIFO from blocking the open.
    pub fn open_read(&self, name: &OsStr) -> io::Result<File> {
        Ok(File::from(self.open_flags(
            name,
            libc::O_RDONLY | libc::O_NONBLOCK,
            0,
        )?))
    }

    pub fn mkdir(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        let name = c_name(name)?;
        // SAFETY: valid fd and C string; the result is checked.
        check(unsafe {
            libc::mkdirat(self.file.as_raw_fd(), name.as_ptr(), mode as libc::mode_t)
        })?;
        Ok(())
    }

    /// `lstat` of one entry: links are described, not followed.
    pub fn lstat(&self, name: &OsStr) -> io::Result<EntryStat> {
        let name = c_name(name)?;
        // SAFETY: an all-zero `stat` is a valid value to be overwritten.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd, C string and out-pointer; the result is checked.
        check(unsafe {
            libc::fstatat(
                self.file.as_raw_fd(),
                name.as_ptr(),
                &mut stat,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        Ok(EntryStat {
            mode: stat.st_mode,
            uid: stat.st_uid,
            size: u64::try_from(stat.st_size).unwrap_or(0),
        })
    }

    /// Removes the entry `name` (a directory only when `dir` is set).
    pub fn remove(&self, name: &OsStr, dir: bool) -> io::Result<()> {
        let name = c_name(name)?;
        let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: valid fd and C string; the result is checked.
        check(unsafe { libc::unlinkat(self.file.as_raw_fd(), name.as_ptr(), flags) })?;
        Ok(())
    }

    /// Renames `from` to `to` inside this directory; a link at `to` is
    /// replaced, not followed.
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        let (from, to) = (c_name(from)?, c_name(to)?);
        let fd = self.file.as_raw_fd();
        // SAFETY: valid fd and C strings; the result is checked.
        check(unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) })?;
        Ok(())
    }

    /// Changes the owner of the entry `name` without following a link.
    pub fn chown_entry(&self, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
        let name = c_name(name)?;
        // SAFETY: valid fd and C string; the result is checked.
        check(unsafe {
            libc::fchownat(
                self.file.as_raw_fd(),
                name.as_ptr(),
                uid,
                gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        Ok(())
    }

    /// The target of the link `name`.
    pub fn read_link(&self, name: &OsStr) -> io::Result<std::ffi::OsString> {
        let name = c_name(name)?;
        let mut buffer = vec![0u8; libc::PATH_MAX as usize];
        // SAFETY: valid fd, C string and buffer of the given length.
        let length = unsafe {
            libc::readlinkat(
                self.file.as_raw_fd(),
                name.as_ptr(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
            )
        };
        let length = usize::try_from(length).map_err(|_| io::Error::last_os_error())?;
        buffer.truncate(length);
        Ok(std::ffi::OsString::from(std::ffi::OsStr::from_bytes(
            &buffer,
        )))
    }
}
