//! A layer's entries as the spec declares them: copies walked from the
//! build machine, explicit directories, links and files, with every
//! declaration of one path merged or refused.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::{Error, io_cause, layer_path, parse_mode, parse_owner, plan_error};
use crate::layer::{Content, Entry, EntryKind, LayerPath, Tree};
use crate::spec::CopySpec;

/// Collects a layer's entries, adding parent directories and catching two
/// declarations of one path.
pub(super) struct TreeBuilder<'a> {
    file: &'a Path,
    mtime: u64,
    tree: Tree,
    /// Which key declared each path, and how, for merging and messages.
    declared: HashMap<LayerPath, Declared>,
    /// Source hard links seen: the inode and the metadata the layer gives
    /// it, to the first in-layer path. Paths that share an inode on disk but
    /// get other modes or owners in the layer cannot be one inode there.
    inodes: HashMap<InodeKey, LayerPath>,
}

/// (device, inode, mode, uid, gid, mtime).
type InodeKey = (u64, u64, u32, u64, u64, u64);

/// How strongly a path was declared: a directory may be declared again by
/// a stronger declaration, which then decides its mode and owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum How {
    /// Made because something below it was declared.
    Parent,
    /// A directory made by a `[[copy]]`; several copies may share it.
    Copied,
    /// A `[[dir]]`, `[[file]]` or `[[symlink]]`, or a file of a copy.
    Explicit,
}

struct Declared {
    key: String,
    how: How,
}

impl Declared {
    fn describe(&self) -> String {
        match self.how {
            How::Parent => format!("{} (as a parent)", self.key),
            _ => self.key.clone(),
        }
    }
}

impl<'a> TreeBuilder<'a> {
    pub(super) fn new(file: &'a Path, mtime: u64) -> Self {
        TreeBuilder {
            file,
            mtime,
            tree: Tree::new(),
            declared: HashMap::new(),
            inodes: HashMap::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert(
        &mut self,
        key: &str,
        how: How,
        path: LayerPath,
        kind: EntryKind,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> Result<(), Error> {
        for parent in path.ancestors() {
            match self.tree.get(&parent) {
                Some(e) if !matches!(e.kind, EntryKind::Dir) => {
                    return Err(plan_error(
                        self.file,
                        key,
                        format!(
                            "{path} needs {parent} to be a directory, but {} declares it a {}",
                            self.declared[&parent].describe(),
                            e.type_name()
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    let dir = Entry {
                        kind: EntryKind::Dir,
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                        mtime: self.mtime,
                    };
                    self.tree.insert(parent.clone(), dir);
                    let declared = Declared {
                        key: key.to_string(),
                        how: How::Parent,
                    };
                    self.declared.insert(parent, declared);
                }
            }
        }
        let entry = Entry {
            kind,
            mode,
            uid,
            gid,
            mtime,
        };
        if let Some(old) = self.tree.get(&path) {
            let old_how = self.declared[&path].how;
            let both_dirs =
                matches!(old.kind, EntryKind::Dir) && matches!(entry.kind, EntryKind::Dir);
            let same = (old.mode, old.uid, old.gid, old.mtime) == (mode, uid, gid, mtime);
            match (both_dirs, old_how, how) {
                // A stronger declaration decides the directory's metadata.
                (true, old_how, how) if old_how < how => {}
                // Copies of several trees may merge into one directory when
                // they agree on what it looks like.
                (true, How::Copied, How::Copied) if same => return Ok(()),
                (true, How::Explicit, How::Copied | How::Parent) => return Ok(()),
                (true, How::Copied, How::Copied) => {
                    return Err(plan_error(
                        self.file,
                        key,
                        format!(
                            "{path} is declared twice with other modes, owners or mtimes: by {} and here",
                            self.declared[&path].describe(),
                        ),
                    ));
                }
                _ => {
                    return Err(plan_error(
                        self.file,
                        key,
                        format!(
                            "{path} is declared twice: as a {} by {} and as a {}",
                            old.type_name(),
                            self.declared[&path].describe(),
                            entry.type_name()
                        ),
                    ));
                }
            }
        }
        self.tree.insert(path.clone(), entry);
        let declared = Declared {
            key: key.to_string(),
            how,
        };
        self.declared.insert(path, declared);
        Ok(())
    }

    pub(super) fn copy(&mut self, dir: &Path, key: &str, copy: &CopySpec) -> Result<(), Error> {
        let src = dir.join(&copy.src);
        let meta = fs::symlink_metadata(&src).map_err(|e| {
            plan_error(
                self.file,
                format!("{key}.src"),
                format!("{}: {}", src.display(), io_cause(&e)),
            )
        })?;
        let mode = parse_mode(self.file, key, copy.mode.as_ref())?;
        let dir_mode = parse_mode(
            self.file,
            &format!("{key}.dir_mode"),
            copy.dir_mode.as_ref(),
        )?;
        let (uid, gid) = parse_owner(self.file, key, copy.owner.as_deref())?;
        let opts = CopyOptions {
            key,
            mode,
            dir_mode,
            uid,
            gid,
            mtime: copy.mtime.unwrap_or(self.mtime),
            include: &copy.include,
            exclude: &copy.exclude,
        };

        if meta.is_dir() {
            // A directory's contents land under `dest`, as `COPY dir/ dest/` does.
            match LayerPath::new_user(&copy.dest) {
                Ok(dest) => {
                    let mode = dir_mode.unwrap_or(0o755);
                    self.insert(
                        key,
                        How::Copied,
                        dest.clone(),
                        EntryKind::Dir,
                        mode,
                        uid,
                        gid,
                        opts.mtime,
                    )?;
                    self.copy_dir(&src, Some(&dest), &opts).map(|_| ())
                }
                Err(crate::layer::entry::PathError::Root(_)) => {
                    self.copy_dir(&src, None, &opts).map(|_| ())
                }
                Err(e) => Err(plan_error(self.file, format!("{key}.dest"), e.to_string())),
            }
        } else {
            let name = src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let dest = if copy.dest.ends_with('/') {
                format!("{}{name}", copy.dest)
            } else {
                copy.dest.clone()
            };
            let dest = layer_path(self.file, &format!("{key}.dest"), &dest)?;
            self.copy_one(&src, &meta, dest, &opts)
        }
    }

    fn copy_dir(
        &mut self,
        src: &Path,
        dest: Option<&LayerPath>,
        opts: &CopyOptions,
    ) -> Result<bool, Error> {
        let err = |e: io::Error| {
            plan_error(
                self.file,
                format!("{}.src", opts.key),
                format!("{}: {}", src.display(), io_cause(&e)),
            )
        };
        let mut names: Vec<_> = fs::read_dir(src)
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        names.sort_by_key(|e| e.file_name());
        let mut any = false;
        for entry in names {
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(plan_error(
                    self.file,
                    format!("{}.src", opts.key),
                    format!("{}: file name is not UTF-8", entry.path().display()),
                ));
            };
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(err)?;
            let target = match dest {
                Some(d) => d.join(name),
                None => LayerPath::new(name),
            };
            let target = target
                .map_err(|e| plan_error(self.file, format!("{}.src", opts.key), e.to_string()))?;
            if meta.is_dir() {
                if opts.exclude.iter().any(|p| glob_match(p, name)) {
                    continue;
                }
                let mode = opts.dir_mode.unwrap_or(0o755);
                let declare = |this: &mut Self| {
                    this.insert(
                        opts.key,
                        How::Copied,
                        target.clone(),
                        EntryKind::Dir,
                        mode,
                        opts.uid,
                        opts.gid,
                        opts.mtime,
                    )
                };
                if opts.include.is_empty() {
                    declare(self)?;
                    self.copy_dir(&path, Some(&target), opts)?;
                    any = true;
                } else if self.copy_dir(&path, Some(&target), opts)? {
                    // With include patterns, a directory appears only when
                    // something inside it is taken; it was made as a parent
                    // and now gets the copy's metadata.
                    declare(self)?;
                    any = true;
                }
                continue;
            }
            if !opts.include.is_empty() && !opts.include.iter().any(|p| glob_match(p, name)) {
                continue;
            }
            if opts.exclude.iter().any(|p| glob_match(p, name)) {
                continue;
            }
            self.copy_one(&path, &meta, target, opts)?;
            any = true;
        }
        Ok(any)
    }

    fn copy_one(
        &mut self,
        src: &Path,
        meta: &fs::Metadata,
        dest: LayerPath,
        opts: &CopyOptions,
    ) -> Result<(), Error> {
        if dest.components().any(|c| c.starts_with(".wh.")) {
            return Err(plan_error(
                self.file,
                format!("{}.src", opts.key),
                format!(
                    "{}: '.wh.' names mark deletions and cannot be copied",
                    src.display()
                ),
            ));
        }
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            let target = fs::read_link(src).map_err(|e| {
                plan_error(
                    self.file,
                    format!("{}.src", opts.key),
                    format!("{}: {}", src.display(), io_cause(&e)),
                )
            })?;
            let Some(target) = target.to_str() else {
                return Err(plan_error(
                    self.file,
                    format!("{}.src", opts.key),
                    format!("{}: link target is not UTF-8", src.display()),
                ));
            };
            EntryKind::Symlink {
                target: target.to_string(),
            }
        } else if ft.is_file() {
            // Opening now turns an unreadable file into a plan error rather
            // than a failure halfway through writing the layer.
            fs::File::open(src).map_err(|e| {
                plan_error(
                    self.file,
                    format!("{}.src", opts.key),
                    format!("{}: {}", src.display(), io_cause(&e)),
                )
            })?;
            if meta.nlink() > 1 {
                let mode = opts.mode.unwrap_or_else(|| default_file_mode(meta));
                let id = (meta.dev(), meta.ino(), mode, opts.uid, opts.gid, opts.mtime);
                if let Some(first) = self.inodes.get(&id) {
                    let kind = EntryKind::Hardlink {
                        target: first.clone(),
                    };
                    return self.insert(
                        opts.key,
                        How::Explicit,
                        dest,
                        kind,
                        mode,
                        opts.uid,
                        opts.gid,
                        opts.mtime,
                    );
                }
                self.inodes.insert(id, dest.clone());
            }
            EntryKind::File {
                content: Content::Path(src.to_path_buf()),
                size: meta.len(),
            }
        } else {
            return Err(plan_error(
                self.file,
                format!("{}.src", opts.key),
                format!(
                    "{}: not a regular file, directory or symlink",
                    src.display()
                ),
            ));
        };
        let mode = if matches!(kind, EntryKind::Symlink { .. }) {
            0o777
        } else {
            opts.mode.unwrap_or_else(|| default_file_mode(meta))
        };
        self.insert(
            opts.key,
            How::Explicit,
            dest,
            kind,
            mode,
            opts.uid,
            opts.gid,
            opts.mtime,
        )
    }

    /// The layer's tree without the directories made only as parents.
    ///
    /// A parent entry would overwrite what the base (or an earlier layer)
    /// has at that path when the layer is unpacked: a `/tmp` of mode 1777
    /// would become 0755, a home directory would change owner, and a
    /// merged-/usr symlink such as `/bin -> usr/bin` would become an empty
    /// directory. Left out, the path keeps what is below, and runtimes
    /// create a missing parent as 0755 root, the mode a parent gets here.
    pub(super) fn finish(mut self) -> Tree {
        let declared = &self.declared;
        self.tree
            .retain(|path, _| declared[path].how != How::Parent);
        crate::layer::order_hardlinks(&mut self.tree);
        self.tree
    }
}

struct CopyOptions<'a> {
    key: &'a str,
    mode: Option<u32>,
    dir_mode: Option<u32>,
    uid: u64,
    gid: u64,
    mtime: u64,
    include: &'a [String],
    exclude: &'a [String],
}

/// 0755 for a file with any execute bit, 0644 otherwise: the source's umask
/// must not change the image, so only the executable bit is taken from it.
fn default_file_mode(meta: &fs::Metadata) -> u32 {
    if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

/// Shell-style matching of one file name: `*`, `?` and literal characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob_match("*.md", "README.md"));
        assert!(!glob_match("*.md", "README.txt"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("?", ""));
    }

    fn dir(
        tree: &mut TreeBuilder,
        key: &str,
        how: How,
        path: &str,
        mode: u32,
    ) -> Result<(), Error> {
        let path = LayerPath::new(path).unwrap();
        tree.insert(key, how, path, EntryKind::Dir, mode, 0, 0, 0)
    }

    #[test]
    fn directories_merge_by_how_they_were_declared() {
        let file = Path::new("s.toml");
        let mut tree = TreeBuilder::new(file, 0);
        let at = |p: &str| LayerPath::new(p).unwrap();
        // Two copies agreeing on a directory share it; an explicit [[dir]]
        // then decides its metadata; a copy after it leaves it alone.
        dir(&mut tree, "copy[0]", How::Copied, "/opt/x", 0o755).unwrap();
        dir(&mut tree, "copy[1]", How::Copied, "/opt/x", 0o755).unwrap();
        dir(&mut tree, "dir[0]", How::Explicit, "/opt/x", 0o700).unwrap();
        dir(&mut tree, "copy[2]", How::Copied, "/opt/x", 0o755).unwrap();
        assert_eq!(tree.tree[&at("opt/x")].mode, 0o700);
        // An explicit directory over an implicit parent is fine too.
        dir(&mut tree, "dir[1]", How::Explicit, "/opt", 0o711).unwrap();
        assert_eq!(tree.tree[&at("opt")].mode, 0o711);

        let err = dir(&mut tree, "copy[3]", How::Copied, "/srv", 0o755)
            .and_then(|()| dir(&mut tree, "copy[4]", How::Copied, "/srv", 0o750))
            .unwrap_err()
            .to_string();
        assert!(err.contains("copy[3]") && err.contains("copy[4]"), "{err}");
        let err = dir(&mut tree, "dir[2]", How::Explicit, "/opt", 0o755)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/opt is declared twice"), "{err}");
    }
}
