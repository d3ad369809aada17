//! The contents of a layer before it becomes a tar stream.
//!
//! A layer is a set of [`Entry`] values keyed by their in-layer path. Keeping
//! them in a `BTreeMap` of path strings gives the bytewise order, with every
//! parent before its children, that makes the tar stream reproducible.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A normalised path inside a layer: relative, `/`-separated, no empty,
/// `.` or `..` components, never empty itself.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LayerPath(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path '{0}' leaves the image root")]
    Escapes(String),
    #[error("path '{0}' names the image root, not an entry")]
    Root(String),
    #[error("path '{0}' holds a NUL byte")]
    Nul(String),
    #[error("path '{0}' has a '.wh.' name, which marks a deletion in a layer")]
    Whiteout(String),
}

impl LayerPath {
    /// Normalises an image path (`/usr/bin/x`, `usr/bin/x`, `./usr//bin/x`).
    /// `..` components are refused rather than resolved: a spec or a tarball
    /// that needs them is almost always a mistake or an attack.
    pub fn new(raw: &str) -> Result<Self, PathError> {
        if raw.contains('\0') {
            return Err(PathError::Nul(raw.to_string()));
        }
        let mut parts = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(PathError::Escapes(raw.to_string())),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return Err(PathError::Root(raw.to_string()));
        }
        Ok(LayerPath(parts.join("/")))
    }

    /// Like [`new`](Self::new), and also refuses whiteout names, which only a
    /// base layer may legitimately carry.
    pub fn new_user(raw: &str) -> Result<Self, PathError> {
        let path = Self::new(raw)?;
        if path.components().any(|c| c.starts_with(".wh.")) {
            return Err(PathError::Whiteout(raw.to_string()));
        }
        Ok(path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The parent directory, `None` for a top-level entry.
    pub fn parent(&self) -> Option<LayerPath> {
        self.0
            .rsplit_once('/')
            .map(|(p, _)| LayerPath(p.to_string()))
    }

    pub fn file_name(&self) -> &str {
        self.0.rsplit_once('/').map_or(&self.0, |(_, n)| n)
    }

    /// `self/name`, where `name` is one or more relative components.
    pub fn join(&self, name: &str) -> Result<LayerPath, PathError> {
        LayerPath::new(&format!("{}/{}", self.0, name))
    }

    /// Every ancestor, outermost first (`a`, `a/b` for `a/b/c`).
    pub fn ancestors(&self) -> Vec<LayerPath> {
        let mut out = Vec::new();
        let mut acc = String::new();
        let mut parts = self.components().peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                break;
            }
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            out.push(LayerPath(acc.clone()));
        }
        out
    }
}

impl fmt::Display for LayerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

impl fmt::Debug for LayerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LayerPath(/{})", self.0)
    }
}

/// Where a regular file's bytes come from.
#[derive(Clone, Debug)]
pub enum Content {
    /// A file on the build machine, read when the tar stream is written.
    Path(PathBuf),
    /// Bytes made by the build itself (generated config files and the like).
    Bytes(Arc<[u8]>),
}

#[derive(Clone, Debug)]
pub enum EntryKind {
    Dir,
    File {
        content: Content,
        size: u64,
    },
    /// A symbolic link; the target is stored exactly as given.
    Symlink {
        target: String,
    },
    /// A hard link to an earlier entry of the same layer.
    Hardlink {
        target: LayerPath,
    },
}

/// One tar entry with its metadata fixed by the spec, never by the host.
#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`0o7777` at most).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Seconds since the epoch.
    pub mtime: u64,
}

impl Entry {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            EntryKind::Dir => "directory",
            EntryKind::File { .. } => "file",
            EntryKind::Symlink { .. } => "symlink",
            EntryKind::Hardlink { .. } => "hardlink",
        }
    }
}

/// The entries of one layer, in tar order.
pub type Tree = BTreeMap<LayerPath, Entry>;

/// Makes every group of hard links hold its content at the member that
/// comes first in tar order, with the others linking to it.
///
/// Builders link each later-found path to the first path they met, and
/// they meet paths directory by directory, which is not tar order (`a/b-c`
/// sorts before `a/b/x`). A reader extracting a link before its target
/// fails, so the content moves to the first member of the group.
pub fn order_hardlinks(tree: &mut Tree) {
    let mut groups: BTreeMap<LayerPath, Vec<LayerPath>> = BTreeMap::new();
    for (path, entry) in tree.iter() {
        if let EntryKind::Hardlink { target } = &entry.kind {
            groups.entry(target.clone()).or_default().push(path.clone());
        }
    }
    for (target, links) in groups {
        let Some(first) = links.iter().min().filter(|first| **first < target) else {
            continue;
        };
        let Some(content) = tree.get(&target).map(|e| e.kind.clone()) else {
            continue;
        };
        let first = first.clone();
        for path in links.iter().chain([&target]) {
            let kind = if *path == first {
                content.clone()
            } else {
                EntryKind::Hardlink {
                    target: first.clone(),
                }
            };
            if let Some(entry) = tree.get_mut(path) {
                entry.kind = kind;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses_escapes() {
        assert_eq!(
            LayerPath::new("/usr//bin/./x").unwrap().as_str(),
            "usr/bin/x"
        );
        assert_eq!(LayerPath::new("./etc").unwrap().as_str(), "etc");
        assert!(matches!(
            LayerPath::new("/a/../../etc"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(LayerPath::new("/"), Err(PathError::Root(_))));
        assert!(matches!(
            LayerPath::new_user("/a/.wh.b"),
            Err(PathError::Whiteout(_))
        ));
    }

    #[test]
    fn ancestors_are_outermost_first() {
        let p = LayerPath::new("a/b/c").unwrap();
        let names: Vec<_> = p
            .ancestors()
            .iter()
            .map(|a| a.as_str().to_string())
            .collect();
        assert_eq!(names, ["a", "a/b"]);
        assert_eq!(p.parent().unwrap().as_str(), "a/b");
        assert_eq!(p.file_name(), "c");
    }

    #[test]
    fn hard_link_content_moves_to_the_first_member_in_tar_order() {
        let entry = |kind| Entry {
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
        };
        let path = |p: &str| LayerPath::new(p).unwrap();
        let link = |t: &str| EntryKind::Hardlink { target: path(t) };
        let mut tree = Tree::new();
        tree.insert(
            path("a/b/x"),
            entry(EntryKind::File {
                content: Content::Bytes(Arc::from(&b"x"[..])),
                size: 1,
            }),
        );
        tree.insert(path("a/b-c"), entry(link("a/b/x")));
        tree.insert(path("z"), entry(link("a/b/x")));
        order_hardlinks(&mut tree);
        assert!(matches!(
            tree[&path("a/b-c")].kind,
            EntryKind::File { size: 1, .. }
        ));
        for p in ["a/b/x", "z"] {
            match &tree[&path(p)].kind {
                EntryKind::Hardlink { target } => assert_eq!(target.as_str(), "a/b-c"),
                other => panic!("{p}: {other:?}"),
            }
        }
    }

    #[test]
    fn parents_sort_before_children() {
        let mut paths = [
            LayerPath::new("a/b").unwrap(),
            LayerPath::new("a-b").unwrap(),
            LayerPath::new("a").unwrap(),
        ];
        paths.sort();
        let names: Vec<_> = paths.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["a", "a-b", "a/b"]);
    }
}
