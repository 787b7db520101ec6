//! A debug endpoint: an HTTP server on 127.0.0.1 that serves the snapshot as
//! JSON on `/telemetry` and as Prometheus text on `/metrics`, while a small
//! instrumented workload runs so the numbers move.
//!
//! ```text
//! cargo run --example debug_endpoint                  # http://127.0.0.1:9898
//! cargo run --example debug_endpoint -- --port 0      # any free port (printed)
//! cargo run --example debug_endpoint -- --exit-after 60
//!
//! curl 'http://127.0.0.1:9898/telemetry?details_level=1'
//! curl 'http://127.0.0.1:9898/metrics'
//! ```
//!
//! The server is axum's; with any other framework the handler is the same three
//! lines: pass the request's path and query to `telemetry::http::respond`, and
//! send back the status, content type and body it returns.

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::process::ExitCode;
use std::task::{Context, Waker};
use std::time::Duration;

use axum::http::{header::CONTENT_TYPE, StatusCode, Uri};
use axum::routing::get;
use axum::Router;
use telemetry::{counted, timed};

// The tests' executor: the examples use two of its parts.
#[allow(dead_code)]
#[path = "../tests/support/executor.rs"]
mod executor;
use executor::{block_on, YieldOnce};

/// The port served when `--port` is not given.
const DEFAULT_PORT: u16 = 9898;

const USAGE: &str = "usage: debug_endpoint [--port PORT] [--exit-after SECONDS]
  --port PORT            port on 127.0.0.1 to serve (default 9898; 0 picks a free one)
  --exit-after SECONDS   stop after that many seconds (default: run until interrupted)";

/// Answers `GET /telemetry?details_level=N&anonymize=true|false` (JSON) and
/// `GET /metrics` (Prometheus text), and names both for any other path. Timed
/// itself, so scraping moves its numbers too.
#[timed]
async fn debug_request(
    uri: Uri,
) -> (
    StatusCode,
    [(axum::http::HeaderName, &'static str); 1],
    String,
) {
    let answer = telemetry::http::respond(uri.path_and_query().map_or("/", |p| p.as_str()));
    let status = StatusCode::from_u16(answer.status).expect("telemetry answers valid statuses");
    (status, [(CONTENT_TYPE, answer.content_type)], answer.body)
}

struct Options {
    port: u16,
    exit_after: Option<Duration>,
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        port: DEFAULT_PORT,
        exit_after: None,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                let text = value()?;
                options.port = text
                    .parse()
                    .map_err(|_| format!("invalid --port {text:?}: expected 0 to 65535"))?;
            }
            "--exit-after" => {
                let text = value()?;
                let seconds: u64 = text.parse().map_err(|_| {
                    format!("invalid --exit-after {text:?}: expected a whole number of seconds")
                })?;
                options.exit_after = Some(Duration::from_secs(seconds));
            }
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if message.is_empty() { 0 } else { 2 });
        }
    };
    telemetry::set_app_info(telemetry::app_info!()).expect("set once at start-up");

    if let Some(after) = options.exit_after {
        std::thread::spawn(move || {
            std::thread::sleep(after);
            println!("exiting after {} s (--exit-after)", after.as_secs());
            std::process::exit(0);
        });
    }
    for worker in 0..2 {
        std::thread::Builder::new()
            .name(format!("worker-{worker}"))
            .spawn(move || workload(worker))
            .expect("spawn a worker thread");
    }

    // One thread is plenty for a debug endpoint.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("start the async runtime");
    let served = runtime.block_on(async {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| format!("cannot listen on {address}: {error}"))?;
        let address = listener.local_addr().map_err(|error| error.to_string())?;
        // The first line of output, which scripts wait for (with --port 0 it is
        // the only place the port is told).
        println!("listening on http://{address}");
        let app = Router::new()
            .route("/telemetry", get(debug_request))
            .route("/metrics", get(debug_request))
            .fallback(debug_request);
        axum::serve(listener, app)
            .await
            .map_err(|error| format!("server failed: {error}"))
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

// The workload: a catalog looked up by id, a log line per request, an async page
// render; every 10th lookup misses (err), every 50th render is cancelled.

struct Catalog {
    items: HashMap<u64, String>,
}

#[derive(Debug)]
struct NotFound(u64);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no item {}", self.0)
    }
}

impl std::error::Error for NotFound {}

#[timed]
impl Catalog {
    fn new() -> Catalog {
        let items = (0..1_000)
            .filter(|id| id % 10 != 0)
            .map(|id| (id, format!("item {id}")))
            .collect();
        Catalog { items }
    }

    fn lookup(&self, id: u64) -> Result<&str, NotFound> {
        self.items.get(&id).map(String::as_str).ok_or(NotFound(id))
    }
}

#[counted]
fn log_request(line: &str) -> usize {
    line.len()
}

/// Pending once, like a wait on I/O, then renders.
#[timed]
async fn render_page(title: &str, rows: usize) -> String {
    YieldOnce::default().await;
    let mut page = format!("<h1>{title}</h1>");
    for row in 0..rows {
        page.push_str(&format!("<p>{row}</p>"));
    }
    page
}

/// Runs until the process exits: a request every 2 ms or so, little CPU.
fn workload(worker: u64) {
    let catalog = Catalog::new();
    for i in 0u64.. {
        let id = (i * 7 + worker) % 1_000;
        let title = catalog.lookup(id).unwrap_or("missing").to_owned();
        log_request(&title);
        let render = render_page(&title, (i % 64) as usize);
        if i % 50 == 0 {
            // Polled once and dropped: counted as cancelled.
            let mut render = pin!(render);
            let _ = render
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
        } else {
            block_on(render);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
