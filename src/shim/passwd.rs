//! `/etc/passwd` and `/etc/group`, read by hand.
//!
//! The shim runs in images without a C library, so it cannot ask NSS; the
//! files are parsed directly. Lines that do not parse (comments, blanks,
//! NIS `+`/`-` lines, damaged entries) are skipped, never fatal, and never
//! rewritten: the shim only appends.

/// One line of `/etc/passwd`: `name:password:uid:gid:gecos:home:shell`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// One line of `/etc/group`: `name:password:gid:member,member`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parses every well-formed line of a passwd file.
pub fn parse_users(text: &str) -> Vec<User> {
    text.lines().filter_map(parse_user).collect()
}

/// Parses every well-formed line of a group file.
pub fn parse_groups(text: &str) -> Vec<Group> {
    text.lines().filter_map(parse_group).collect()
}

fn parse_user(line: &str) -> Option<User> {
    let fields: Vec<&str> = line.split(':').collect();
    let [name, _password, uid, gid, _gecos, home, shell] = fields[..] else {
        return None;
    };
    Some(User {
        name: entry_name(name)?,
        uid: uid.parse().ok()?,
        gid: gid.parse().ok()?,
        home: home.to_owned(),
        shell: shell.to_owned(),
    })
}

fn parse_group(line: &str) -> Option<Group> {
    let fields: Vec<&str> = line.split(':').collect();
    let [name, _password, gid, members] = fields[..] else {
        return None;
    };
    Some(Group {
        name: entry_name(name)?,
        gid: gid.parse().ok()?,
        members: members
            .split(',')
            .filter(|member| !member.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// A name as it appears in a line; NIS markers and blanks are no names.
fn entry_name(name: &str) -> Option<String> {
    let usable = !name.is_empty() && !name.starts_with(['#', '+', '-']);
    usable.then(|| name.to_owned())
}

/// Whether `name` is safe as a user name, a group name and a path
/// component: a lowercase letter or `_` first, then lowercase letters,
/// digits, `_` or `-`, at most 32 bytes (the useradd rule without `$`).
pub fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    first_ok
        && name.len() <= 32
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The passwd line for a new user, newline included.
pub fn user_line(user: &User) -> String {
    format!(
        "{}:x:{}:{}::{}:{}\n",
        user.name, user.uid, user.gid, user.home, user.shell
    )
}

/// The group line for a new group, newline included.
pub fn group_line(name: &str, gid: u32) -> String {
    format!("{name}:x:{gid}:\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_debian_lines() {
        let users = parse_users(
            "root:x:0:0:root:/root:/bin/bash\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        );
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].uid, 65534);
        assert_eq!(users[0].shell, "/bin/bash");

        let groups = parse_groups("sudo:x:27:alice,bob\nusers:x:100:\n");
        assert_eq!(groups[0].members, ["alice", "bob"]);
        assert!(groups[1].members.is_empty());
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let text = "\n# comment\n+nis\nbad:x:notanumber:0::/:/bin/sh\nshort:x:1\n\
                    ok:x:1:1::/h:/bin/sh\nextra:x:2:2::/h:/bin/sh:more\n:x:3:3::/:/bin/sh";
        let users = parse_users(text);
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].name, "ok");
        assert!(parse_groups("g:x:-1:\ng:x:99999999999:\n").is_empty());
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_name("sandboxed"));
        assert!(is_valid_name("_svc-1"));
        for bad in [
            "",
            "Root",
            "a:b",
            "a/b",
            "..",
            "a\nb",
            "1abc",
            &"a".repeat(33),
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn lines_round_trip() {
        let user = User {
            name: "sandboxed".into(),
            uid: 1000,
            gid: 1000,
            home: "/home/sandboxed".into(),
            shell: "/bin/sh".into(),
        };
        assert_eq!(parse_users(&user_line(&user)), [user]);
        assert_eq!(parse_groups(&group_line("g", 7))[0].gid, 7);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(text in "(?s).{0,400}") {
            let _ = parse_users(&text);
            let _ = parse_groups(&text);
        }

        #[test]
        fn parsers_never_panic_on_colon_rich_text(text in "[a-z0-9:,#+\\-\n]{0,400}") {
            for user in parse_users(&text) {
                prop_assert!(!user.name.is_empty());
            }
            let _ = parse_groups(&text);
        }
    }
}
