//! A fault-injecting HTTP proxy on 127.0.0.1 in front of a test registry.
//!
//! Each request is matched against the rules in order; the first rule whose
//! method and path match, and whose turn it is (by how many matching
//! requests it has seen), decides the fault. Everything else is forwarded
//! unchanged, `Host` included, one request per connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Answer this status without forwarding.
    Status(u16),
    /// 429 with `Retry-After: 1`, without forwarding.
    TooMany,
    /// Forward, then send the head and half the body and reset the
    /// connection.
    ResetMidBody,
    /// Forward, then send half the body under a `Content-Length` that
    /// matches it: a short answer that looks complete.
    Truncate,
    /// Forward, then send the body with one byte changed.
    WrongBody,
    /// Read the request, say nothing for this long, then close.
    Stall(Duration),
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub method: &'static str,
    /// The request path must contain this.
    pub path_has: &'static str,
    pub fault: Fault,
    /// Matching requests let through before the fault starts.
    pub skip: usize,
    /// How many matching requests get the fault (`usize::MAX`: all).
    pub times: usize,
}

impl Rule {
    pub fn new(method: &'static str, path_has: &'static str, fault: Fault) -> Rule {
        Rule {
            method,
            path_has,
            fault,
            skip: 0,
            times: 1,
        }
    }

    pub fn times(mut self, times: usize) -> Rule {
        self.times = times;
        self
    }

    pub fn skip(mut self, skip: usize) -> Rule {
        self.skip = skip;
        self
    }
}

#[derive(Default)]
pub struct FaultStats {
    /// `METHOD path` of every request received.
    pub requests: Mutex<Vec<String>>,
    /// Faults injected so far.
    pub injected: AtomicUsize,
}

impl FaultStats {
    pub fn count(&self, method: &str, path_has: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with(&format!("{method} ")) && r.contains(path_has))
            .count()
    }

    /// Blob upload requests: `PUT` and `PATCH` of upload sessions.
    pub fn blob_uploads(&self) -> usize {
        self.count("PUT", "/blobs/uploads/") + self.count("PATCH", "/blobs/uploads/")
    }

    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }
}

pub struct FaultyProxy {
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub stats: Arc<FaultStats>,
    stop: Arc<AtomicBool>,
}

struct Shared {
    upstream: String,
    rules: Vec<Rule>,
    seen: Vec<AtomicUsize>,
    stats: Arc<FaultStats>,
}

impl FaultyProxy {
    pub fn start(upstream: &str, rules: Vec<Rule>) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let stats = Arc::new(FaultStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            seen: rules.iter().map(|_| AtomicUsize::new(0)).collect(),
            rules,
            stats: stats.clone(),
        });
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = shared.handle(stream);
                });
            }
        });
        FaultyProxy { host, stats, stop }
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host);
    }
}

struct Request {
    head: Vec<u8>,
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let path = target.split('?').next().unwrap_or_default().to_string();
    let mut head = line.clone().into_bytes();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim_end().is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap_or(0);
        }
        if name.eq_ignore_ascii_case("connection") {
            continue;
        }
        head.extend_from_slice(line.as_bytes());
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request {
        head,
        method,
        path,
        body,
    })
}

/// A whole response split into its head (without the blank line) and body.
fn split_response(bytes: &[u8]) -> (String, Vec<u8>) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let body = bytes.get(end + 4..).unwrap_or_default().to_vec();
    (head, body)
}

fn with_length(head: &str, length: usize) -> String {
    let mut out: Vec<String> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .map(str::to_string)
        .collect();
    out.push(format!("Content-Length: {length}"));
    out.join("\r\n") + "\r\n\r\n"
}

impl Shared {
    fn fault_for(&self, request: &Request) -> Option<Fault> {
        for (rule, seen) in self.rules.iter().zip(&self.seen) {
            if rule.method != request.method || !request.path.contains(rule.path_has) {
                continue;
            }
            let n = seen.fetch_add(1, Ordering::SeqCst);
            if n >= rule.skip && n - rule.skip < rule.times {
                return Some(rule.fault);
            }
        }
        None
    }

    fn handle(&self, mut client: TcpStream) -> std::io::Result<()> {
        let request = read_request(&client)?;
        self.stats
            .requests
            .lock()
            .unwrap()
            .push(format!("{} {}", request.method, request.path));
        let fault = self.fault_for(&request);
        if fault.is_some() {
            self.stats.injected.fetch_add(1, Ordering::SeqCst);
        }
        match fault {
            Some(Fault::Status(status)) => {
                let head = format!(
                    "HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                return client.write_all(head.as_bytes());
            }
            Some(Fault::TooMany) => {
                let head = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n\
                            Content-Length: 0\r\nConnection: close\r\n\r\n";
                return client.write_all(head.as_bytes());
            }
            Some(Fault::Stall(pause)) => {
                std::thread::sleep(pause);
                return client.shutdown(Shutdown::Both);
            }
            _ => {}
        }
        let mut upstream = TcpStream::connect(&self.upstream)?;
        upstream.write_all(&request.head)?;
        upstream.write_all(&request.body)?;
        let mut response = Vec::new();
        upstream.read_to_end(&mut response)?;
        let (head, body) = split_response(&response);
        match fault {
            Some(Fault::ResetMidBody) => {
                client.write_all(head.as_bytes())?;
                client.write_all(b"\r\n\r\n")?;
                client.write_all(&body[..body.len() / 2])?;
                client.flush()?;
                reset(&client);
                Ok(())
            }
            Some(Fault::Truncate) => {
                let half = &body[..body.len() / 2];
                client.write_all(with_length(&head, half.len()).as_bytes())?;
                client.write_all(half)
            }
            Some(Fault::WrongBody) => {
                let mut body = body;
                if let Some(first) = body.first_mut() {
                    *first ^= 0x20;
                }
                client.write_all(head.as_bytes())?;
                client.write_all(b"\r\n\r\n")?;
                client.write_all(&body)
            }
            _ => client.write_all(&response),
        }
    }
}

/// Closes with a TCP reset (linger zero) rather than an orderly FIN.
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
