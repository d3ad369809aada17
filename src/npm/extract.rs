//! Unpacking an npm tarball (`.tgz`) into a directory the build owns.
//!
//! npm tarballs hold a single top directory (usually `package/`, whatever
//! its name) which is stripped. Only regular files and directories are
//! accepted: a link, a device or a path that is absolute or climbs with
//! `..` fails the whole extraction, naming the entry. Since no link is ever
//! created, no later entry can be redirected outside the destination, and
//! the tarball's own metadata (owner, times, modes beyond "executable or
//! not") is ignored.

use std::fs::{self, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use tar::EntryType;

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("reading tarball {tarball}: {source}")]
    Read { tarball: PathBuf, source: io::Error },
    #[error("tarball {tarball}: entry '{entry}' {reason}")]
    Refused {
        tarball: PathBuf,
        entry: String,
        reason: &'static str,
    },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Unpacks `tgz` into `dest`, an empty directory.
pub fn extract_tgz(tgz: &Path, dest: &Path) -> Result<(), ExtractError> {
    let read_err = |source| ExtractError::Read {
        tarball: tgz.to_path_buf(),
        source,
    };
    let file = fs::File::open(tgz).map_err(read_err)?;
    let mut archive = tar::Archive::new(GzDecoder::new(BufReader::with_capacity(1 << 20, file)));
    for entry in archive.entries().map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        extract_entry(entry, tgz, dest)?;
    }
    Ok(())
}

fn extract_entry(
    mut entry: tar::Entry<'_, impl Read>,
    tgz: &Path,
    dest: &Path,
) -> Result<(), ExtractError> {
    let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let refuse = |reason| ExtractError::Refused {
        tarball: tgz.to_path_buf(),
        entry: raw.clone(),
        reason,
    };
    let kind = entry.header().entry_type();
    let is_file = matches!(kind, EntryType::Regular | EntryType::Continuous);
    match kind {
        _ if is_file => {}
        EntryType::Directory => {}
        // Global pax headers carry no file; the tar crate merges the others.
        EntryType::XGlobalHeader => return Ok(()),
        EntryType::Symlink => return Err(refuse("is a symbolic link")),
        EntryType::Link => return Err(refuse("is a hard link")),
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            return Err(refuse("is a device or fifo"));
        }
        _ => return Err(refuse("is not a regular file or directory")),
    }
    let Some(relative) = package_relative(&raw).map_err(refuse)? else {
        return Ok(());
    };
    let target = dest.join(&relative);
    let write_err = |source| ExtractError::Write {
        path: target.clone(),
        source,
    };
    if !is_file {
        return fs::create_dir_all(&target).map_err(write_err);
    }
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(write_err)?;
    }
    let executable = entry.header().mode().map_err(|source| ExtractError::Read {
        tarball: tgz.to_path_buf(),
        source,
    })? & 0o111
        != 0;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if executable { 0o755 } else { 0o644 })
        .open(&target)
        .map_err(write_err)?;
    io::copy(&mut entry, &mut file).map_err(write_err)?;
    Ok(())
}

/// The entry's path below the top directory; `None` for the top itself.
fn package_relative(raw: &str) -> Result<Option<PathBuf>, &'static str> {
    if raw.starts_with('/') {
        return Err("has an absolute path");
    }
    if raw.contains('\\') {
        return Err("has a backslash in its path");
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("climbs out with '..'"),
            p => parts.push(p),
        }
    }
    if parts.len() < 2 {
        return Ok(None);
    }
    Ok(Some(parts[1..].iter().collect()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    /// One entry of a test tarball.
    pub(crate) enum TestEntry<'a> {
        File(&'a str, &'a [u8], u32),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
        Hardlink(&'a str, &'a str),
        Fifo(&'a str),
    }

    /// A gzip-compressed tarball with exactly these entries; paths are
    /// written raw, so hostile names survive.
    pub(crate) fn tgz(entries: &[TestEntry<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            let (path, data): (&str, &[u8]) = match entry {
                TestEntry::File(path, data, mode) => {
                    header.set_entry_type(EntryType::Regular);
                    header.set_mode(*mode);
                    (path, data)
                }
                TestEntry::Dir(path) => {
                    header.set_entry_type(EntryType::Directory);
                    header.set_mode(0o755);
                    (path, &[])
                }
                TestEntry::Symlink(path, target) | TestEntry::Hardlink(path, target) => {
                    let kind = if matches!(entry, TestEntry::Symlink(..)) {
                        EntryType::Symlink
                    } else {
                        EntryType::Link
                    };
                    header.set_entry_type(kind);
                    header.set_mode(0o777);
                    let name = header.as_old_mut();
                    name.linkname[..target.len()].copy_from_slice(target.as_bytes());
                    (path, &[])
                }
                TestEntry::Fifo(path) => {
                    header.set_entry_type(EntryType::Fifo);
                    header.set_mode(0o644);
                    (path, &[])
                }
            };
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn extract(bytes: &[u8]) -> (tempfile::TempDir, Result<(), ExtractError>) {
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join("t.tgz");
        fs::write(&tarball, bytes).unwrap();
        let dest = dir.path().join("out");
        fs::create_dir(&dest).unwrap();
        let result = extract_tgz(&tarball, &dest);
        (dir, result)
    }

    #[test]
    fn strips_the_top_directory_and_normalises_modes() {
        let bytes = tgz(&[
            TestEntry::Dir("package/"),
            TestEntry::File("package/package.json", b"{}", 0o664),
            TestEntry::File("package/bin/tool", b"#!/bin/sh\n", 0o700),
            TestEntry::File("other-top/README.md", b"hi", 0o600),
        ]);
        let (dir, result) = extract(&bytes);
        result.unwrap();
        let out = dir.path().join("out");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(fs::read(out.join("package.json")).unwrap(), b"{}");
        assert_eq!(mode("package.json"), 0o644);
        assert_eq!(mode("bin/tool"), 0o755);
        assert_eq!(fs::read(out.join("README.md")).unwrap(), b"hi");
    }

    #[test]
    fn hostile_entries_are_refused_by_name() {
        let cases: Vec<(Vec<TestEntry<'_>>, &str, &str)> = vec![
            (
                vec![TestEntry::File("/etc/evil", b"x", 0o644)],
                "/etc/evil",
                "absolute",
            ),
            (
                vec![TestEntry::File("package/../../evil", b"x", 0o644)],
                "package/../../evil",
                "'..'",
            ),
            (
                vec![TestEntry::Symlink("package/passwd", "/etc/passwd")],
                "package/passwd",
                "symbolic link",
            ),
            (
                vec![TestEntry::Hardlink("package/shadow", "/etc/shadow")],
                "package/shadow",
                "hard link",
            ),
            (
                vec![TestEntry::Fifo("package/pipe")],
                "package/pipe",
                "fifo",
            ),
            (
                vec![
                    TestEntry::Symlink("package/etc", "/etc"),
                    TestEntry::File("package/etc/cron.d/evil", b"x", 0o644),
                ],
                "package/etc",
                "symbolic link",
            ),
        ];
        for (entries, name, reason) in cases {
            let (dir, result) = extract(&tgz(&entries));
            let err = result.unwrap_err().to_string();
            assert!(
                err.contains(&format!("'{name}'")) && err.contains(reason),
                "{err}"
            );
            // Nothing was written outside the destination.
            let listed: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(listed.len(), 2, "{listed:?}");
            assert!(
                fs::read_dir(dir.path().join("out"))
                    .unwrap()
                    .next()
                    .is_none()
            );
        }
    }
}
