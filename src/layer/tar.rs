//! A deterministic tar writer.
//!
//! The rules that make two builds of the same tree give the same bytes are
//! all enforced here:
//! - entries come in the tree's bytewise order, every parent before its
//!   children (the caller's `BTreeMap` guarantees it);
//! - headers are POSIX ustar; only what ustar cannot hold (long paths or link
//!   targets, ids beyond 2 097 151, sizes beyond 8 GiB) goes into a PAX
//!   extended header, and then always in the same form;
//! - owner names are empty (no host user or group names leak in), device
//!   numbers are zero, mode, ids and mtime come from the entry alone;
//! - the stream ends with the two zero blocks and no further padding.

use std::fs::File;
use std::io::{self, Read, Write};

use super::entry::{Content, Entry, EntryKind, LayerPath, Tree};

const BLOCK: usize = 512;
/// The largest value a 7-digit octal field (uid, gid) holds.
const OCTAL7_MAX: u64 = 0o7777777;
/// The largest value an 11-digit octal field (size, mtime) holds.
const OCTAL11_MAX: u64 = 0o77777777777;

/// Writes every entry of `tree` as one tar stream, then the end marker.
pub fn write_tree(tree: &Tree, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
    for (path, entry) in tree {
        write_entry(path, entry, out)?;
    }
    out.write_all(&[0u8; 2 * BLOCK])
}

/// Writes one entry: an optional PAX header, the ustar header, the content.
pub fn write_entry(
    path: &LayerPath,
    entry: &Entry,
    out: &mut (impl Write + ?Sized),
) -> io::Result<()> {
    let mut name = path.as_str().to_string();
    if matches!(entry.kind, EntryKind::Dir) {
        name.push('/');
    }
    let (type_flag, link, size) = match &entry.kind {
        EntryKind::Dir => (b'5', String::new(), 0),
        EntryKind::File { size, .. } => (b'0', String::new(), *size),
        EntryKind::Symlink { target } => (b'2', target.clone(), 0),
        EntryKind::Hardlink { target } => (b'1', target.as_str().to_string(), 0),
    };

    let mut pax = Vec::new();
    let split = split_ustar_name(&name);
    if split.is_none() {
        pax_record(&mut pax, "path", &name);
    }
    if link.len() > 100 {
        pax_record(&mut pax, "linkpath", &link);
    }
    for (key, value) in [("uid", entry.uid), ("gid", entry.gid)] {
        if value > OCTAL7_MAX {
            pax_record(&mut pax, key, &value.to_string());
        }
    }
    if size > OCTAL11_MAX {
        pax_record(&mut pax, "size", &size.to_string());
    }
    if !pax.is_empty() {
        let header = header(
            b"PaxHeader",
            b"",
            b'x',
            0o644,
            0,
            0,
            pax.len() as u64,
            0,
            b"",
        );
        out.write_all(&header)?;
        out.write_all(&pax)?;
        pad(out, pax.len() as u64)?;
    }

    let (prefix, short) = split.unwrap_or(("", truncate(&name, 100)));
    let link_field = truncate(&link, 100);
    let header = header(
        short.as_bytes(),
        prefix.as_bytes(),
        type_flag,
        entry.mode,
        entry.uid.min(OCTAL7_MAX),
        entry.gid.min(OCTAL7_MAX),
        size.min(OCTAL11_MAX),
        entry.mtime.min(OCTAL11_MAX),
        link_field.as_bytes(),
    );
    out.write_all(&header)?;

    if let EntryKind::File { content, size } = &entry.kind {
        write_content(path, content, *size, out)?;
        pad(out, *size)?;
    }
    Ok(())
}

/// Copies exactly `size` bytes of the content; a file that changed size
/// since the plan was made is an error, not a silently different layer.
fn write_content(
    path: &LayerPath,
    content: &Content,
    size: u64,
    out: &mut (impl Write + ?Sized),
) -> io::Result<()> {
    let copied = match content {
        Content::Bytes(bytes) => {
            out.write_all(bytes)?;
            bytes.len() as u64
        }
        Content::Path(source) => {
            let file = File::open(source)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", source.display())))?;
            let mut limited = file.take(size + 1);
            io::copy(&mut limited, out)?
        }
    };
    if copied != size {
        return Err(io::Error::other(format!(
            "{path}: source changed during the build (expected {size} bytes, found {copied})"
        )));
    }
    Ok(())
}

/// Splits a name into ustar's `prefix` (155) and `name` (100) fields at a
/// `/`, or `None` when it cannot be split.
fn split_ustar_name(name: &str) -> Option<(&str, &str)> {
    if name.len() <= 100 {
        return Some(("", name));
    }
    let bytes = name.as_bytes();
    // The name part must keep at least one character after the slash.
    (1..bytes.len().min(156))
        .rev()
        .filter(|&i| bytes[i] == b'/')
        .map(|i| (&name[..i], &name[i + 1..]))
        .find(|(_, rest)| !rest.is_empty() && rest.len() <= 100)
}

/// The longest prefix of `s` that fits `max` bytes on a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends one PAX record, `"<len> <key>=<value>\n"`, where `len` counts the
/// whole record including its own digits.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &str) {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
}

#[allow(clippy::too_many_arguments)]
fn header(
    name: &[u8],
    prefix: &[u8],
    type_flag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    link: &[u8],
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(mode & 0o7777));
    octal(&mut h[108..116], uid);
    octal(&mut h[116..124], gid);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime);
    h[156] = type_flag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    // The checksum is computed with its own field read as spaces.
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

/// Zero-padded octal digits followed by a NUL, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

fn pad(out: &mut (impl Write + ?Sized), size: u64) -> io::Result<()> {
    let rem = (size % BLOCK as u64) as usize;
    if rem != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn file(bytes: &[u8], mode: u32) -> Entry {
        Entry {
            kind: EntryKind::File {
                content: Content::Bytes(Arc::from(bytes)),
                size: bytes.len() as u64,
            },
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
        }
    }

    fn read_back(bytes: &[u8]) -> Vec<(String, u8, u32, u64, String)> {
        let mut archive = ::tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.entry_type().as_byte(),
                    h.mode().unwrap(),
                    e.header().uid().unwrap(),
                    link,
                )
            })
            .collect()
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, "path", "x");
        assert_eq!(out, b"9 path=x\n");
        let mut out = Vec::new();
        pax_record(&mut out, "path", &"a".repeat(91));
        // 3 + 1 + 4 + 1 + 91 + 1 = 101 bytes including the length digits.
        assert!(
            out.starts_with(b"101 path="),
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(out.len(), 101);
    }

    #[test]
    fn long_paths_links_and_big_ids_survive_a_round_trip() {
        let long_dir = format!("d/{}", "x".repeat(120));
        let long_name = format!("{long_dir}/{}", "y".repeat(150));
        let mut tree = Tree::new();
        tree.insert(
            LayerPath::new(&long_name).unwrap(),
            Entry {
                uid: 5_000_000,
                ..file(b"hello", 0o4755)
            },
        );
        tree.insert(
            LayerPath::new("link").unwrap(),
            Entry {
                kind: EntryKind::Symlink {
                    target: format!("/{long_name}"),
                },
                mode: 0o777,
                uid: 0,
                gid: 0,
                mtime: 0,
            },
        );
        let mut out = Vec::new();
        write_tree(&tree, &mut out).unwrap();
        let entries = read_back(&out);
        assert_eq!(entries[0].0, long_name);
        assert_eq!(entries[0].2, 0o4755);
        assert_eq!(entries[0].3, 5_000_000);
        assert_eq!(entries[1].4, format!("/{long_name}"));
    }

    #[test]
    fn ustar_prefix_split_is_used_when_it_fits() {
        let name = format!("{}/{}", "p".repeat(120), "n".repeat(50));
        assert_eq!(split_ustar_name(&name), Some((&name[..120], &name[121..])));
        assert_eq!(split_ustar_name(&"z".repeat(101)), None);
    }

    #[test]
    fn directories_end_in_a_slash_and_keep_sticky_bit() {
        let mut tree = Tree::new();
        tree.insert(
            LayerPath::new("tmp/agent-tmp").unwrap(),
            Entry {
                kind: EntryKind::Dir,
                mode: 0o1777,
                uid: 0,
                gid: 0,
                mtime: 0,
            },
        );
        let mut out = Vec::new();
        write_tree(&tree, &mut out).unwrap();
        assert_eq!(&out[..14], b"tmp/agent-tmp/");
        let entries = read_back(&out);
        assert_eq!(entries[0].1, b'5');
        assert_eq!(entries[0].2, 0o1777);
        assert_eq!(out.len() % 512, 0);
    }
}
