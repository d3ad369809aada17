//! A small npm registry on 127.0.0.1 for behaviour tests: packuments and
//! tarballs from memory, with faults (a status, a body cut short) per path.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::Digest as _;

/// How one path is answered.
#[derive(Clone)]
pub enum Answer {
    Ok(Vec<u8>),
    Status(u16, Vec<u8>),
    /// Announces the whole body, sends `sent` bytes of it, then closes.
    CutShort {
        body: Vec<u8>,
        sent: usize,
    },
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Answer>>,
    /// `(path, authorization header)` of every request.
    seen: Mutex<Vec<(String, Option<String>)>>,
}

pub struct MockServer {
    pub port: u16,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
}

/// The `sha512-…` SRI string of `bytes`.
pub fn integrity_of(bytes: &[u8]) -> String {
    let hash = sha2::Sha512::digest(bytes);
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// A package tarball (`package/…` entries, gzipped) of `files`.
pub fn package_tgz(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, format!("package/{path}"), *data)
            .unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

impl MockServer {
    pub fn start() -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (serving, stopping) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let state = serving.clone();
                    std::thread::spawn(move || serve(stream, &state));
                }
            }
        });
        MockServer { port, state, stop }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn route(&self, path: &str, answer: Answer) {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), answer);
    }

    /// Publishes `name@version` whose tarball is answered with `tarball`
    /// (by default the package itself); returns the tarball bytes.
    pub fn publish(&self, name: &str, version: &str, files: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let tgz = package_tgz(files);
        let tarball_path = format!("/{name}/-/{name}-{version}.tgz");
        let packument = serde_json::json!({
            "name": name,
            "dist-tags": { "latest": version },
            "versions": { version: {
                "name": name,
                "version": version,
                "bin": { name: "bin/tool" },
                "dist": {
                    "integrity": integrity_of(&tgz),
                    "tarball": format!("{}{}", self.url(), &tarball_path[1..]),
                },
            }},
        });
        self.route(
            &format!("/{name}"),
            Answer::Ok(serde_json::to_vec(&packument).unwrap()),
        );
        self.route(&tarball_path, Answer::Ok(tgz.clone()));
        tgz
    }

    /// A package `name` with one executable `bin/tool` of `size` bytes.
    pub fn publish_tool(&self, name: &str, version: &str, size: usize) -> Vec<u8> {
        let manifest = serde_json::json!({
            "name": name, "version": version, "bin": { name: "bin/tool" },
        });
        let manifest = serde_json::to_vec(&manifest).unwrap();
        // An ELF header: the installer takes it for a native program.
        let mut program = b"\x7fELF".to_vec();
        program.extend(pseudo_random(size, name.len() as u64));
        self.publish(
            name,
            version,
            &[
                ("package.json", &manifest, 0o644),
                ("bin/tool", &program, 0o755),
            ],
        )
    }

    pub fn seen(&self) -> Vec<(String, Option<String>)> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// `len` bytes that gzip cannot shrink much, the same for the same seed.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn serve(stream: TcpStream, state: &State) {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    state
        .seen
        .lock()
        .unwrap()
        .push((path.clone(), authorization));
    let answer = state
        .routes
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or(Answer::Status(404, b"{\"error\":\"not found\"}".to_vec()));
    let (status, body, sent) = match answer {
        Answer::Ok(body) => {
            let n = body.len();
            (200, body, n)
        }
        Answer::Status(status, body) => {
            let n = body.len();
            (status, body, n)
        }
        Answer::CutShort { body, sent } => (200, body, sent),
    };
    let mut out = &stream;
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&body[..sent.min(body.len())]);
    let _ = out.flush();
    let _ = stream.shutdown(Shutdown::Both);
}
