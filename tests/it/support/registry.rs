//! Debian's real registry (`docker-registry`, the distribution project's
//! reference server) on a free loopback port, stopped on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// A registry without authentication; `None` (outside CI) when the
    /// tool is missing.
    pub fn start() -> Option<Self> {
        Self::launch(None)
    }

    /// A registry demanding Basic auth for `user`/`password` (bcrypt htpasswd).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Option<Self> {
        Self::launch(Some((user, password)))
    }

    fn launch(htpasswd: Option<(&str, &str)>) -> Option<Self> {
        let tools: &[&str] = if htpasswd.is_some() {
            &["docker-registry", "htpasswd"]
        } else {
            &["docker-registry"]
        };
        if !super::require_tools(tools) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let auth = match htpasswd {
            Some((user, password)) => {
                let file = dir.path().join("htpasswd");
                write_htpasswd(&file, user, password);
                format!(
                    "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {host}\n{auth}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let registry = TestRegistry { child, host, dir };
        registry.wait_ready();
        Some(registry)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = status_of_v2(&self.host)
                && (status == 200 || status == 401)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "registry at {} did not answer; log: {}",
            self.host,
            self.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `docker://HOST/<path>` for skopeo.
    pub fn docker_ref(&self, path: &str) -> String {
        format!("docker://{}/{path}", self.host)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_htpasswd(file: &Path, user: &str, password: &str) {
    let output = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("running htpasswd");
    assert!(output.status.success(), "htpasswd failed");
    std::fs::write(file, output.stdout).unwrap();
}

/// The status of `GET /v2/`, or `None` when nothing answers yet.
fn status_of_v2(host: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
