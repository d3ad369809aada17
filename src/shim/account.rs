//! The runtime user: group and passwd entries, sudo rule, home directory.
//!
//! Entries are only ever appended, in one `write` on an `O_APPEND`
//! descriptor, after checking the file for the gid, uid and name: a file
//! bind-mounted by the runtime stays the same inode, and a second start of
//! the same container adds nothing.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::fsat::Dir;
use super::passwd::{self, User};
use super::settings::Settings;
use super::{Error, warn};

/// Who the command runs as, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// The login shell, run when the container gets no command.
    pub shell: PathBuf,
    /// The primary gid first, then every group that lists the user.
    pub groups: Vec<u32>,
}

/// How many links a path may cross before the walk gives up (as `ELOOP`).
const MAX_LINK_HOPS: u32 = 8;

/// Sets the runtime user up in the rootfs at `root` (running as root).
/// Each failed step is a warning: the command still runs under the
/// numeric ids, which is what matters for file ownership.
pub fn set_up(root: &Path, settings: &Settings) -> Account {
    let etc = match open_etc(root) {
        Ok(etc) => Some(etc),
        Err(err) => {
            warn(err);
            None
        }
    };
    let shell = default_shell(root);
    let mut account = Account {
        name: settings.user.clone(),
        uid: settings.uid,
        gid: settings.gid,
        home: settings.home(),
        shell: shell.clone(),
        groups: vec![settings.gid],
    };
    let Some(etc) = etc else {
        return account;
    };

    if let Err(err) = ensure_group(&etc, &settings.user, settings.gid) {
        warn(err);
    }
    let wanted = User {
        name: settings.user.clone(),
        uid: settings.uid,
        gid: settings.gid,
        home: account.home.to_string_lossy().into_owned(),
        shell: shell.to_string_lossy().into_owned(),
    };
    match ensure_user(&etc, &wanted) {
        Ok(user) => account.shell = PathBuf::from(user.shell),
        Err(err) => warn(err),
    }
    match read_entries(&etc, "group") {
        Ok(text) => account.groups = member_groups(&text, &settings.user, settings.gid),
        Err(err) => warn(err),
    }
    if let Err(err) = ensure_sudo_rule(&etc, &settings.user) {
        warn(err);
    }
    account
}

/// The account of a shim that is not root: it can only be itself. The
/// home is the passwd entry's, then `HOME`, then `/home/$RUNTIME_USER`;
/// `/` does not count, as runtimes write it for users they make up.
pub fn current(root: &Path, settings: &Settings, uid: u32, gid: u32) -> Account {
    let entry = open_etc(root)
        .and_then(|etc| read_entries(&etc, "passwd"))
        .ok()
        .and_then(|text| {
            passwd::parse_users(&text)
                .into_iter()
                .find(|u| u.uid == uid)
        });
    let usable = |home: &PathBuf| home.is_absolute() && home != Path::new("/");
    let home = entry
        .as_ref()
        .map(|user| PathBuf::from(&user.home))
        .filter(usable)
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from).filter(usable))
        .unwrap_or_else(|| settings.home());
    Account {
        name: entry
            .as_ref()
            .map_or_else(|| settings.user.clone(), |user| user.name.clone()),
        uid,
        gid,
        home,
        shell: entry.map_or_else(
            || PathBuf::from("/bin/sh"),
            |user| PathBuf::from(user.shell),
        ),
        groups: Vec::new(),
    }
}

fn open_etc(root: &Path) -> Result<Dir, Error> {
    let etc = root.join("etc");
    // An image without /etc (a bare static binary) gets one.
    if let Err(err) = std::fs::create_dir(&etc)
        && err.kind() != io::ErrorKind::AlreadyExists
    {
        return Err(Error::io(format!("creating {}", etc.display()), err));
    }
    Dir::open(&etc).map_err(|err| Error::io(format!("opening {}", etc.display()), err))
}

/// `/bin/bash` when the image has it, like the original entrypoint; else
/// `/bin/sh`.
fn default_shell(root: &Path) -> PathBuf {
    if root.join("bin/bash").is_file() {
        PathBuf::from("/bin/bash")
    } else {
        PathBuf::from("/bin/sh")
    }
}

/// Reads `/etc/NAME` as text; a missing file reads as empty.
fn read_entries(etc: &Dir, name: &str) -> Result<String, Error> {
    let mut bytes = Vec::new();
    let read = etc
        .open_read(OsStr::new(name))
        .and_then(|mut file| file.read_to_end(&mut bytes));
    match read {
        Ok(_) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(err) => Err(Error::io(format!("reading /etc/{name}"), err)),
    }
}

/// Appends `line` to `/etc/NAME`, after a newline if the file lacks one.
fn append_entry(etc: &Dir, name: &str, existing: &str, line: &str) -> Result<(), Error> {
    let mut text = String::new();
    if !existing.is_empty() && !existing.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    etc.open_append(OsStr::new(name), 0o644)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|err| Error::io(format!("appending to /etc/{name}"), err))
}

/// Adds a group named `name` with `gid`, unless some group has that gid
/// already (then the user joins it) or the name is taken by another gid.
pub fn ensure_group(etc: &Dir, name: &str, gid: u32) -> Result<(), Error> {
    let text = read_entries(etc, "group")?;
    let groups = passwd::parse_groups(&text);
    if groups.iter().any(|group| group.gid == gid) {
        return Ok(());
    }
    if let Some(taken) = groups.iter().find(|group| group.name == name) {
        return Err(Error::msg(format!(
            "group name {name} belongs to gid {}; gid {gid} stays without a name",
            taken.gid
        )));
    }
    append_entry(etc, "group", &text, &passwd::group_line(name, gid))
}

/// Returns the passwd entry for `wanted.uid`, adding `wanted` when no entry
/// has that uid. A name taken by another uid is an error: two entries with
/// one name would make the name mean either.
pub fn ensure_user(etc: &Dir, wanted: &User) -> Result<User, Error> {
    let text = read_entries(etc, "passwd")?;
    let users = passwd::parse_users(&text);
    if let Some(existing) = users.iter().find(|user| user.uid == wanted.uid) {
        return Ok(existing.clone());
    }
    if let Some(taken) = users.iter().find(|user| user.name == wanted.name) {
        return Err(Error::msg(format!(
            "user name {} belongs to uid {}; uid {} stays without a passwd entry",
            wanted.name, taken.uid, wanted.uid
        )));
    }
    append_entry(etc, "passwd", &text, &passwd::user_line(wanted))?;
    Ok(wanted.clone())
}

/// The primary gid, then the gids of the groups that list `name`.
fn member_groups(group_text: &str, name: &str, gid: u32) -> Vec<u32> {
    let mut groups = vec![gid];
    for group in passwd::parse_groups(group_text) {
        if group.members.iter().any(|member| member == name) && !groups.contains(&group.gid) {
            groups.push(group.gid);
        }
    }
    groups
}

/// Writes `/etc/sudoers.d/NAME` (mode 0440) granting passwordless sudo, as
/// the original image did, when the image has `/etc/sudoers.d` and no rule
/// of that name yet. The file is written under a temporary name and
/// renamed, so sudo never reads half a rule.
pub fn ensure_sudo_rule(etc: &Dir, name: &str) -> Result<(), Error> {
    let sudoers = match etc.open_dir(OsStr::new("sudoers.d")) {
        Ok(dir) => dir,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(Error::io("opening /etc/sudoers.d", err)),
    };
    match sudoers.lstat(OsStr::new(name)) {
        Ok(_) => return Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(Error::io(format!("checking /etc/sudoers.d/{name}"), err)),
    }
    let rule = format!("{name} ALL=(ALL) NOPASSWD:ALL\n");
    super::install::write_private(&sudoers, OsStr::new(name), rule.as_bytes(), 0o440, None)
        .map_err(|err| Error::io(format!("writing /etc/sudoers.d/{name}"), err))
}

/// Opens the home directory `home` (an absolute path under `root`),
/// creating missing components with mode 0755. With `owner` set, the home
/// itself is handed to that uid:gid.
///
/// Links on the way are followed only when owned by root or by the
/// caller: the image (or the caller itself) made those, while a link owned
/// by someone else may have been planted in a shared volume.
pub fn open_home(root: &Path, home: &Path, owner: Option<(u32, u32)>) -> Result<Dir, Error> {
    let context = || format!("opening home directory {}", home.display());
    let root_dir = Dir::open(root).map_err(|err| Error::io(context(), err))?;
    let dir =
        walk(&root_dir, &root_dir, home, MAX_LINK_HOPS).map_err(|err| Error::io(context(), err))?;
    if let Some((uid, gid)) = owner {
        let file = dir.as_file();
        let owned = file
            .metadata()
            .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == uid)
            .unwrap_or(false);
        if !owned {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid)).map_err(|err| {
                Error::io(format!("handing {} to {uid}:{gid}", home.display()), err)
            })?;
        }
    }
    Ok(dir)
}

/// Opens `path` component by component from `start` (or `root` for an
/// absolute path), creating missing directories and following trusted
/// links by walking their targets the same way.
fn walk(root: &Dir, start: &Dir, path: &Path, hops: u32) -> io::Result<Dir> {
    let mut current: Option<Dir> = None;
    for component in path.components() {
        let here = current.as_ref().unwrap_or(start);
        let next = match component {
            Component::RootDir => Dir::open_dir_following(root, OsStr::new("."))?,
            Component::CurDir => continue,
            Component::ParentDir => here.open_dir(OsStr::new(".."))?,
            Component::Normal(name) => step(root, here, name, hops)?,
            Component::Prefix(_) => return Err(io::ErrorKind::InvalidInput.into()),
        };
        current = Some(next);
    }
    match current {
        Some(dir) => Ok(dir),
        None => start.open_dir_following(OsStr::new(".")),
    }
}

fn step(root: &Dir, here: &Dir, name: &OsStr, hops: u32) -> io::Result<Dir> {
    match here.open_dir(name) {
        Ok(dir) => return Ok(dir),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            match here.mkdir(name, 0o755) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err),
            }
            return here.open_dir(name);
        }
        Err(_) => {}
    }
    let stat = here.lstat(name)?;
    if !stat.is_symlink() {
        return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if stat.uid != 0 && stat.uid != me {
        return Err(io::Error::other(format!(
            "refusing to follow link {} owned by uid {}",
            name.to_string_lossy(),
            stat.uid
        )));
    }
    if hops == 0 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    let target = PathBuf::from(here.read_link(name)?);
    walk(root, here, &target, hops - 1)
}

/// Makes `name` inside `parent` a real directory with mode 0700, owned by
/// `owner` when given. A link or other non-directory there is removed
/// first: the runtime user may have planted it to redirect root's writes.
pub fn private_dir(parent: &Dir, name: &OsStr, owner: Option<(u32, u32)>) -> io::Result<Dir> {
    // A few rounds: an entry may be swapped between the steps of a round.
    let mut last_error = io::Error::from_raw_os_error(libc::ELOOP);
    for _ in 0..4 {
        match parent.open_dir(name) {
            Ok(dir) => {
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::fchown(dir.as_file(), Some(uid), Some(gid))?;
                }
                dir.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o700))?;
                return Ok(dir);
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => match parent.mkdir(name, 0o700) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err),
            },
            Err(err) => {
                let stat = parent.lstat(name)?;
                if stat.is_dir() {
                    return Err(err);
                }
                warn(format!(
                    "replacing the {} at {} with a directory",
                    if stat.is_symlink() { "link" } else { "file" },
                    name.to_string_lossy()
                ));
                parent.remove(name, false)?;
                last_error = err;
            }
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn temp_root(label: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("jib-shim-account-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc")).unwrap();
        root
    }

    fn settings(user: &str, uid: u32, gid: u32) -> Settings {
        let mut settings = Settings::from_lookup(|_| None).unwrap();
        settings.user = user.into();
        settings.uid = uid;
        settings.gid = gid;
        settings
    }

    fn is_root() -> bool {
        // SAFETY: geteuid cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn appends_group_and_user_once() {
        let root = temp_root("append");
        std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh").unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\nsudo:x:27:dev\n").unwrap();
        let account = set_up(&root, &settings("dev", 1234, 1234));
        set_up(&root, &settings("dev", 1234, 1234));

        let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert_eq!(
            passwd,
            "root:x:0:0:root:/root:/bin/sh\ndev:x:1234:1234::/home/dev:/bin/sh\n"
        );
        let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
        assert_eq!(group, "root:x:0:\nsudo:x:27:dev\ndev:x:1234:\n");
        assert_eq!(account.groups, [1234, 27]);
        assert_eq!(account.home, Path::new("/home/dev"));
    }

    #[test]
    fn existing_uid_gid_and_names_are_respected() {
        let root = temp_root("existing");
        std::fs::write(
            root.join("etc/passwd"),
            "ubuntu:x:1000:1000::/home/ubuntu:/bin/zsh\nother:x:7:7::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/group"), "ubuntu:x:1000:\nother:x:7:\n").unwrap();

        // The uid and gid exist: nothing is added, the entry's shell wins.
        let account = set_up(&root, &settings("sandboxed", 1000, 1000));
        assert_eq!(account.shell, Path::new("/bin/zsh"));

        // The names exist with other ids: nothing is added either.
        set_up(&root, &settings("other", 2000, 2000));
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert_eq!(passwd.lines().count(), 2);
        let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
        assert_eq!(group.lines().count(), 2);
    }

    #[test]
    fn missing_files_and_garbage_are_survived() {
        let root = temp_root("garbage");
        std::fs::write(root.join("etc/passwd"), b"\xff\xfe:::\n::::::::\nx:y\n").unwrap();
        let account = set_up(&root, &settings("dev", 1, 2));
        assert_eq!(account.groups, [2]);
        let passwd = std::fs::read(root.join("etc/passwd")).unwrap();
        assert!(passwd.ends_with(b"\ndev:x:1:2::/home/dev:/bin/sh\n"));
        assert_eq!(
            std::fs::read_to_string(root.join("etc/group")).unwrap(),
            "dev:x:2:\n"
        );
    }

    #[test]
    fn current_user_keeps_its_passwd_home_unless_it_is_root_dir() {
        let root = temp_root("current");
        std::fs::write(
            root.join("etc/passwd"),
            "me:x:1234:1234::/home/me:/bin/zsh\nodd:x:99:99::/:/bin/sh\n",
        )
        .unwrap();
        let settings = settings("dev", 1, 1);
        let account = current(&root, &settings, 1234, 1234);
        assert_eq!(
            (account.name.as_str(), account.home.as_path()),
            ("me", Path::new("/home/me"))
        );
        assert_eq!(account.shell, Path::new("/bin/zsh"));
        let account = current(&root, &settings, 99, 99);
        assert_ne!(account.home, Path::new("/"));
        let account = current(&root, &settings, 5, 5);
        assert_eq!(account.name, "dev");
    }

    #[test]
    fn shell_is_bash_when_present() {
        let root = temp_root("bash");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("bin/bash"), "").unwrap();
        let account = set_up(&root, &settings("dev", 5, 5));
        assert_eq!(account.shell, Path::new("/bin/bash"));
    }

    #[test]
    fn sudo_rule_only_with_sudoers_dir() {
        let root = temp_root("sudo");
        set_up(&root, &settings("dev", 5, 5));
        assert!(!root.join("etc/sudoers.d").exists());

        std::fs::create_dir(root.join("etc/sudoers.d")).unwrap();
        set_up(&root, &settings("dev", 5, 5));
        let rule = root.join("etc/sudoers.d/dev");
        assert_eq!(
            std::fs::read_to_string(&rule).unwrap(),
            "dev ALL=(ALL) NOPASSWD:ALL\n"
        );
        assert_eq!(std::fs::metadata(&rule).unwrap().mode() & 0o7777, 0o440);
    }

    #[test]
    fn home_is_created_and_owned() {
        let root = temp_root("home");
        let owner = is_root().then_some((1234, 1234));
        open_home(&root, Path::new("/home/dev"), owner).unwrap();
        let meta = std::fs::metadata(root.join("home/dev")).unwrap();
        assert!(meta.is_dir());
        if is_root() {
            assert_eq!((meta.uid(), meta.gid()), (1234, 1234));
        }
    }

    #[test]
    fn home_link_is_followed_only_when_trusted() {
        let root = temp_root("homelink");
        std::fs::create_dir_all(root.join("data/dev")).unwrap();
        std::fs::create_dir_all(root.join("home")).unwrap();
        // An absolute target resolves inside `root`, as it would in the
        // container.
        std::os::unix::fs::symlink("/data/dev", root.join("home/dev")).unwrap();
        std::fs::write(root.join("data/dev/marker"), "").unwrap();
        let home = open_home(&root, Path::new("/home/dev"), None).unwrap();
        assert!(home.lstat(OsStr::new("marker")).is_ok());

        if is_root() {
            let link = root.join("home/dev");
            std::os::unix::fs::lchown(&link, Some(4321), None).unwrap();
            let err = open_home(&root, Path::new("/home/dev"), None).unwrap_err();
            assert!(err.to_string().contains("owned by uid 4321"), "{err}");
        }
    }

    #[test]
    fn private_dir_replaces_a_link() {
        let root = temp_root("private");
        let outside = temp_root("private-outside");
        std::fs::create_dir_all(root.join("home")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("home/.claude")).unwrap();
        let mode_before = std::fs::metadata(&outside).unwrap().mode();

        let home = Dir::open(&root.join("home")).unwrap();
        private_dir(&home, OsStr::new(".claude"), None).unwrap();
        let meta = std::fs::symlink_metadata(root.join("home/.claude")).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o7777, 0o700);
        assert_eq!(std::fs::metadata(&outside).unwrap().mode(), mode_before);
    }
}
