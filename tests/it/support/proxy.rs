//! A small HTTP front for a test registry on 127.0.0.1, to add what the
//! real registry does not do: Bearer token auth with a token service of its
//! own (tokens that stop working after a few requests) and injected faults.
//!
//! It handles one request per connection (`Connection: close`) and forwards
//! everything else unchanged, `Host` included, so the registry's upload
//! `Location`s point back at the proxy.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

#[derive(Clone, Default)]
pub struct ProxyConfig {
    /// Demand Bearer tokens; each token works for this many requests.
    pub token_uses: Option<usize>,
    /// `user:password` the token service demands (Basic), if any.
    pub token_credentials: Option<String>,
    /// Answer 503 to this many blob `PUT`s before forwarding them.
    pub fail_blob_puts: usize,
    /// Answer 413 to every blob `PUT` that carries a body.
    pub refuse_monolithic: bool,
    /// Answer 503 to every manifest `PUT`.
    pub fail_manifest_puts: bool,
    /// Redirect blob `GET`s to this `host:port` (another origin).
    pub redirect_blob_gets: Option<String>,
}

#[derive(Default)]
pub struct ProxyStats {
    /// Query strings of token requests.
    pub token_requests: Mutex<Vec<String>>,
    /// Requests refused because their token had been used up.
    pub expired_rejections: AtomicUsize,
    /// `METHOD path` of each forwarded request.
    pub forwarded: Mutex<Vec<String>>,
    /// Forwarded requests that carried an `Authorization` header.
    pub authorized: AtomicUsize,
}

pub struct Proxy {
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub stats: Arc<ProxyStats>,
    stop: Arc<AtomicBool>,
}

struct Shared {
    upstream: String,
    host: String,
    config: ProxyConfig,
    stats: Arc<ProxyStats>,
    /// Uses left per issued token.
    tokens: Mutex<HashMap<String, usize>>,
    issued: AtomicUsize,
    blob_put_failures: AtomicUsize,
}

impl Proxy {
    pub fn start(upstream: &str, config: ProxyConfig) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let stats = Arc::new(ProxyStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            host: host.clone(),
            config,
            stats: stats.clone(),
            tokens: Mutex::new(HashMap::new()),
            issued: AtomicUsize::new(0),
            blob_put_failures: AtomicUsize::new(0),
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
        Proxy { host, stats, stop }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(&self.host);
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request {
        method,
        target,
        headers,
        body,
    })
}

fn respond(
    mut stream: &TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    )?;
    for (name, value) in headers {
        write!(stream, "{name}: {value}\r\n")?;
    }
    stream.write_all(b"\r\n")?;
    stream.write_all(body)?;
    stream.flush()
}

impl Shared {
    fn handle(&self, stream: TcpStream) -> std::io::Result<()> {
        let request = read_request(&stream)?;
        let path = request
            .target
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        if path == "/token" {
            return self.issue_token(&stream, &request);
        }
        if self.config.token_uses.is_some() && !self.token_valid(&request) {
            let challenge = format!(
                "Bearer realm=\"http://{}/token\",service=\"test-registry\",error=\"invalid_token\"",
                self.host
            );
            let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}"#;
            return respond(
                &stream,
                "401 Unauthorized",
                &[("WWW-Authenticate", challenge)],
                body,
            );
        }
        let is_blob_put = request.method == "PUT" && path.contains("/blobs/uploads/");
        if is_blob_put && self.config.refuse_monolithic && !request.body.is_empty() {
            return respond(&stream, "413 Payload Too Large", &[], b"");
        }
        if is_blob_put
            && self.blob_put_failures.fetch_add(1, Ordering::SeqCst) < self.config.fail_blob_puts
        {
            return respond(&stream, "503 Service Unavailable", &[], b"");
        }
        if request.method == "PUT" && path.contains("/manifests/") && self.config.fail_manifest_puts
        {
            return respond(
                &stream,
                "503 Service Unavailable",
                &[("Retry-After", "0".into())],
                b"",
            );
        }
        if let Some(other) = &self.config.redirect_blob_gets
            && request.method == "GET"
            && path.contains("/blobs/sha256:")
        {
            let location = format!("http://{other}{}", request.target);
            return respond(
                &stream,
                "307 Temporary Redirect",
                &[("Location", location)],
                b"",
            );
        }
        self.stats
            .forwarded
            .lock()
            .unwrap()
            .push(format!("{} {path}", request.method));
        if request.header("authorization").is_some() {
            self.stats.authorized.fetch_add(1, Ordering::SeqCst);
        }
        self.forward(&stream, &request)
    }

    fn token_valid(&self, request: &Request) -> bool {
        let Some(token) = request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let mut tokens = self.tokens.lock().unwrap();
        match tokens.get_mut(token) {
            Some(0) => {
                self.stats.expired_rejections.fetch_add(1, Ordering::SeqCst);
                false
            }
            Some(left) => {
                *left -= 1;
                true
            }
            None => false,
        }
    }

    fn issue_token(&self, stream: &TcpStream, request: &Request) -> std::io::Result<()> {
        let query = request
            .target
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default();
        self.stats
            .token_requests
            .lock()
            .unwrap()
            .push(query.to_string());
        if let Some(expected) = &self.config.token_credentials {
            let encoded = base64::engine::general_purpose::STANDARD.encode(expected);
            if request.header("authorization") != Some(format!("Basic {encoded}").as_str()) {
                return respond(stream, "401 Unauthorized", &[], b"");
            }
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        let token = format!("test-token-{n}");
        let uses = self.config.token_uses.unwrap_or(usize::MAX);
        self.tokens.lock().unwrap().insert(token.clone(), uses);
        let body = format!(r#"{{"token":"{token}","expires_in":300}}"#);
        respond(
            stream,
            "200 OK",
            &[("Content-Type", "application/json".into())],
            body.as_bytes(),
        )
    }

    fn forward(&self, mut client: &TcpStream, request: &Request) -> std::io::Result<()> {
        let mut upstream = TcpStream::connect(&self.upstream)?;
        write!(
            upstream,
            "{} {} HTTP/1.1\r\n",
            request.method, request.target
        )?;
        for (name, value) in &request.headers {
            let skip = ["connection", "authorization", "content-length"];
            if !skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                write!(upstream, "{name}: {value}\r\n")?;
            }
        }
        write!(
            upstream,
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            request.body.len()
        )?;
        upstream.write_all(&request.body)?;
        std::io::copy(&mut upstream, &mut client)?;
        client.flush()
    }
}
