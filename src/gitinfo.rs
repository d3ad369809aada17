//! Source and revision of the git checkout holding the spec, for the
//! `org.opencontainers.image.source` and `.revision` annotations.

use std::path::Path;
use std::process::Command;

pub struct GitInfo {
    pub revision: String,
    pub source: Option<String>,
}

/// Asks git about the checkout around `path`; `None` outside a checkout or
/// without git. A remote URL loses any credentials written into it.
pub fn describe(path: &Path) -> Option<GitInfo> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let run = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let revision = run(&["rev-parse", "HEAD"])?;
    let source = run(&["config", "--get", "remote.origin.url"]).map(|url| strip_userinfo(&url));
    Some(GitInfo { revision, source })
}

fn strip_userinfo(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_in_remote_urls_are_dropped() {
        assert_eq!(
            super::strip_userinfo("https://user:tok@host/x.git"),
            "https://host/x.git"
        );
        assert_eq!(super::strip_userinfo("git@host:x.git"), "git@host:x.git");
    }
}
