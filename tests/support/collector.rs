//! A collector for the reporter's and the OTLP exporter's tests: a tiny
//! HTTP/1.1 server on 127.0.0.1 that records what it is sent and answers well,
//! badly, or not at all.
//!
//! Everything it does is bounded: it accepts at most `MAX_CONNECTIONS`, reads
//! at most `MAX_REQUEST` bytes of a request, hangs for at most `MAX_HANG`,
//! writes at most `MAX_ENDLESS` bytes of an endless answer, and stops accepting
//! after `MAX_LIFETIME` even if the test forgets to drop it.

// Each test binary uses the behaviours it needs.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MAX_CONNECTIONS: usize = 200;
const MAX_REQUEST: usize = 16 << 20;
const MAX_HANG: Duration = Duration::from_secs(30);
pub const MAX_ENDLESS: u64 = 256 << 20;
const MAX_LIFETIME: Duration = Duration::from_secs(120);

/// How the collector answers every request.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// `200 OK` with this JSON body.
    Answer(&'static str),
    /// This status and an empty body.
    Status(u16),
    /// Bytes that are not HTTP, then the connection closes.
    Garbage,
    /// `200 OK` with a body that never ends, until the client stops reading.
    EndlessBody,
    /// A status line, then one header line that never ends.
    EndlessHeaders,
    /// Reads the request and answers nothing until released (or `MAX_HANG`).
    Hang,
    /// Writes these bytes as soon as a client connects, reads nothing, closes.
    SpeakFirst(&'static [u8]),
    /// The n-th request gets the n-th reply; the last one repeats.
    Script(Vec<Reply>),
    /// This status and a body of this many bytes (bounded by `MAX_ENDLESS`),
    /// written until the client stops reading.
    HugeAnswer { status: u16, bytes: u64 },
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct State {
    connections: usize,
    requests: Vec<Request>,
    /// Connections now hanging.
    hanging: usize,
    /// For each hung connection the client closed: how long it hung.
    given_up_after: Vec<Duration>,
    /// Bytes written by each endless answer, once it ended.
    endless_written: Vec<u64>,
    released: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.lock());
        self.changed.notify_all();
    }
}

pub struct Collector {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Collector {
    pub fn start(behaviour: Behaviour) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept(listener, behaviour, shared))
        };
        Collector {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn connections(&self) -> usize {
        self.shared.lock().connections
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().requests.clone()
    }

    pub fn hanging(&self) -> usize {
        self.shared.lock().hanging
    }

    pub fn given_up_after(&self) -> Vec<Duration> {
        self.shared.lock().given_up_after.clone()
    }

    pub fn endless_written(&self) -> Vec<u64> {
        self.shared.lock().endless_written.clone()
    }

    /// Ends every hang now.
    pub fn release(&self) {
        self.shared.update(|state| state.released = true);
    }

    /// Waits (at most `timeout`) until `done` holds for the collector's state.
    pub fn wait(&self, what: &str, timeout: Duration, done: impl Fn(&Collector) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "gave up after {timeout:?} waiting for {what}"
            );
            // Woken by every change; the timeout only bounds a missed wake-up.
            let state = self.shared.lock();
            let _ = self
                .shared
                .changed
                .wait_timeout(state, (deadline - now).min(Duration::from_millis(50)));
        }
    }

    /// Waits until `count` requests have arrived and returns them all.
    pub fn wait_requests(&self, count: usize, timeout: Duration) -> Vec<Request> {
        self.wait(&format!("{count} request(s)"), timeout, |c| {
            c.requests().len() >= count
        });
        self.requests()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.release();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(listener: TcpListener, behaviour: Behaviour, shared: Arc<Shared>) {
    let born = Instant::now();
    let mut handlers = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) && born.elapsed() < MAX_LIFETIME {
        match listener.accept() {
            Ok((stream, _)) => {
                let mut count = 0;
                shared.update(|state| {
                    state.connections += 1;
                    count = state.connections;
                });
                if count > MAX_CONNECTIONS {
                    continue;
                }
                let shared = Arc::clone(&shared);
                let behaviour = behaviour.clone();
                handlers.push(std::thread::spawn(move || {
                    serve(stream, &behaviour, &shared);
                }));
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    for handler in handlers {
        let _ = handler.join();
    }
}

fn serve(mut stream: TcpStream, behaviour: &Behaviour, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    if let Behaviour::SpeakFirst(bytes) = behaviour {
        let _ = stream.write_all(bytes);
        return;
    }
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    let mut nth = 0;
    shared.update(|state| {
        state.requests.push(request);
        nth = state.requests.len() - 1;
    });
    match behaviour {
        Behaviour::Script(replies) => {
            let reply = &replies[nth.min(replies.len() - 1)];
            let mut head = format!(
                "HTTP/1.1 {} Scripted\r\ncontent-length: {}\r\nconnection: close\r\n",
                reply.status,
                reply.body.len()
            );
            for (name, value) in &reply.headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&reply.body);
        }
        Behaviour::HugeAnswer { status, bytes } => {
            let head = format!(
                "HTTP/1.1 {status} Huge\r\ncontent-type: text/plain\r\n\
                 content-length: {bytes}\r\nconnection: close\r\n\r\n"
            );
            endless(
                &mut stream,
                head.as_bytes(),
                head.len() as u64 + bytes,
                shared,
            );
        }
        Behaviour::Answer(body) => {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Behaviour::Status(status) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
        Behaviour::Garbage => {
            let _ = stream.write_all(b"\x00\xffSURPRISE \x1b[31m{not http}\r\n\r\n\xc3\x28");
        }
        Behaviour::EndlessBody => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                        content-length: 100000000000\r\n\r\n{\"latest_version\": \"";
            endless(&mut stream, head.as_bytes(), MAX_ENDLESS, shared);
        }
        Behaviour::EndlessHeaders => {
            endless(
                &mut stream,
                b"HTTP/1.1 200 OK\r\nx-endless: ",
                MAX_ENDLESS,
                shared,
            );
        }
        Behaviour::Hang => hang(&mut stream, shared),
        Behaviour::SpeakFirst(_) => {}
    }
    let _ = stream.flush();
}

/// Reads one request: headers up to the blank line, then `content-length` bytes.
fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if bytes.len() > MAX_REQUEST {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
        .min(MAX_REQUEST);
    let mut body = bytes[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    Some(Request {
        method,
        target,
        headers,
        body,
        at: Instant::now(),
    })
}

/// Writes `head`, then filler until the client stops reading or `limit`
/// (at most `MAX_ENDLESS`) bytes are written.
fn endless(stream: &mut TcpStream, head: &[u8], limit: u64, shared: &Shared) {
    let limit = limit.min(MAX_ENDLESS);
    let filler = [b'7'; 16 * 1024];
    let mut written = 0u64;
    if stream.write_all(head).is_ok() {
        written += head.len() as u64;
        while written < limit && !shared.stop.load(Ordering::SeqCst) {
            match stream.write(&filler) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
    }
    shared.update(|state| state.endless_written.push(written));
}

/// Answers nothing; notes when the client gives up (closes the connection).
fn hang(stream: &mut TcpStream, shared: &Shared) {
    let since = Instant::now();
    shared.update(|state| state.hanging += 1);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let mut byte = [0u8; 1];
    loop {
        let released = shared.lock().released || shared.stop.load(Ordering::SeqCst);
        if released || since.elapsed() > MAX_HANG {
            break;
        }
        match stream.read(&mut byte) {
            // The client closed its end: it gave up.
            Ok(0) => {
                shared.update(|state| state.given_up_after.push(since.elapsed()));
                break;
            }
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                shared.update(|state| state.given_up_after.push(since.elapsed()));
                break;
            }
        }
    }
    shared.update(|state| state.hanging -= 1);
}
