//! One client connection slot: connect (with backoff), send a request, await its response
//! under a timeout, and reconnect when the connection is lost. The slot speaks HTTP/1.1 or
//! NATS request-reply ([`crate::nats`]) as configured. Shared by both load models;
//! the models differ only in *when* they call [`Client::exchange`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::AbortHandle;

use crate::config::{Config, Method, Route};
use crate::stats::{KindStats, Outcome, Stats, Timeline};

/// What every request to one target has in common; built once per target, shared by that
/// target's connections.
#[derive(Debug)]
pub struct Target {
    addr: SocketAddr,
    method: hyper::Method,
    uri: Uri,
    host: HeaderValue,
    /// Empty for GET; for POST, the bodies cycled through round-robin.
    bodies: Vec<Bytes>,
    /// `--body-kinds`: the kind index of each body (same length as `bodies`); empty without
    /// the flag, and then requests are recorded without a kind.
    body_kind: Vec<usize>,
    /// Number of kinds: every connection's stats keep this many [`KindStats`].
    kinds: usize,
    timeout: Duration,
    /// `Some` for the NATS transport: the request subject (paths and headers are unused).
    subject: Option<async_nats::Subject>,
    /// Responses so far over the target's connections, for live progress only (the report
    /// counts per connection).
    pub responses: AtomicU64,
    /// `--timeline-ms`: every connection's stats keep a timeline with buckets this wide.
    timeline: Option<Duration>,
}

impl Target {
    pub fn new(cfg: &Config) -> Arc<Target> {
        let method = match cfg.method {
            Method::Get => hyper::Method::GET,
            Method::Post => hyper::Method::POST,
        };
        Arc::new(Target {
            addr: cfg.target,
            method,
            // Validation already parsed the path; the fallback only serves hand-built configs.
            uri: cfg.path.parse().unwrap_or_else(|_| Uri::from_static("/")),
            host: HeaderValue::from_str(&cfg.host)
                .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
            bodies: cfg.bodies.clone(),
            body_kind: cfg
                .body_kinds
                .as_ref()
                .map(|k| k.body_kind.clone())
                .unwrap_or_default(),
            kinds: cfg.body_kinds.as_ref().map_or(0, |k| k.kinds.len()),
            timeout: cfg.timeout,
            subject: match &cfg.route {
                Route::Http => None,
                Route::Nats { subject } => Some(subject.as_str().into()),
            },
            responses: AtomicU64::new(0),
            timeline: cfg.timeline,
        })
    }
}

/// Connect retries wait 10 ms, doubling up to 200 ms: quick to recover from a restart of the
/// server, without spinning on a port nobody listens on.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_millis(200);

    fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    fn step(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }
}

/// An open HTTP/1.1 connection. Dropping it aborts the connection task, so a connection
/// whose request timed out is really closed instead of lingering on a silent server.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    task: AbortHandle,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Diagnostics print the first error of each kind only, so a dead target does not flood
/// stderr with one line per retry.
static WARNED_CONNECT: AtomicBool = AtomicBool::new(false);
static WARNED_IO: AtomicBool = AtomicBool::new(false);

fn warn_once(flag: &AtomicBool, what: &str, err: &dyn std::fmt::Display) {
    if !flag.swap(true, Ordering::Relaxed) {
        eprintln!("loadgen: {what}: {err} (further errors of this kind are only counted)");
    }
}

/// An open link of either transport.
enum Link {
    Http(Conn),
    /// A NATS client reconnects by itself, so it stays open once made.
    Nats(async_nats::Client),
}

/// One connection slot and everything measured on it.
pub struct Client {
    target: Arc<Target>,
    conn: Option<Link>,
    backoff: Backoff,
    /// Index of the next body; connection k starts at k so the mix is spread. Always 0 for
    /// GET, which sends no body.
    next_body: usize,
    pub stats: Stats,
}

impl Client {
    /// Connection number `index` of the run (used only to stagger the body mix).
    pub fn new(target: Arc<Target>, index: usize) -> Client {
        let next_body = if target.bodies.is_empty() {
            0
        } else {
            index % target.bodies.len()
        };
        let stats = Stats {
            timeline: target.timeline.map(Timeline::new),
            kinds: vec![KindStats::default(); target.kinds],
            ..Stats::default()
        };
        Client {
            target,
            conn: None,
            backoff: Backoff::new(),
            next_body,
            stats,
        }
    }

    /// Makes sure a usable connection is open, opening one if needed.
    ///
    /// On a failed attempt the error is counted and `Err(wait)` says how long to back off
    /// before the next attempt; the caller waits in whatever way fits its model. `deadline`
    /// bounds the attempt so a hanging connect cannot stretch the run.
    pub async fn ensure_connected(&mut self, deadline: Option<Instant>) -> Result<(), Duration> {
        match &mut self.conn {
            Some(Link::Http(conn)) => {
                // A keep-alive connection the server closed shows up here, not as an error.
                if conn.sender.ready().await.is_ok() {
                    return Ok(());
                }
                self.conn = None;
            }
            Some(Link::Nats(_)) => return Ok(()),
            None => {}
        }
        let mut limit = self.target.timeout;
        if let Some(deadline) = deadline {
            limit = limit.min(deadline.saturating_duration_since(Instant::now()));
        }
        let opened = async {
            match self.target.subject {
                None => connect(self.target.addr).await.map(Link::Http),
                Some(_) => crate::nats::connect(self.target.addr, self.target.timeout)
                    .await
                    .map(Link::Nats)
                    .map_err(ConnectError::Nats),
            }
        };
        match tokio::time::timeout(limit, opened).await {
            Ok(Ok(conn)) => {
                self.conn = Some(conn);
                self.stats.connects += 1;
                self.backoff.reset();
                Ok(())
            }
            Ok(Err(err)) => {
                warn_once(&WARNED_CONNECT, "connect failed", &err);
                self.stats.connect_errors += 1;
                Err(self.backoff.step())
            }
            Err(_elapsed) => {
                warn_once(&WARNED_CONNECT, "connect failed", &"timed out");
                self.stats.connect_errors += 1;
                Err(self.backoff.step())
            }
        }
    }

    /// Sends the next request on the open connection and awaits the whole response under the
    /// per-request timeout. The connection is dropped on timeout or I/O error so the next
    /// request starts on a fresh one.
    ///
    /// Returns the index of the body sent (0 for GET), for [`Client::record`], and how the
    /// request ended. Call only after [`Client::ensure_connected`] succeeded; without a
    /// connection the request is counted as an I/O error.
    pub async fn exchange(&mut self) -> (usize, Outcome) {
        let index = self.next_body;
        let outcome = self.send_next().await;
        (index, outcome)
    }

    /// Gives up the next request without sending it (it waited too long for a connection)
    /// and returns the index of the body it would have carried, so it is recorded under its
    /// kind and the round-robin mix stays as it would have been.
    pub fn skip(&mut self) -> usize {
        let index = self.next_body;
        self.next_body();
        index
    }

    /// Records how the request that carried body `body` ended (see [`Stats::record_timed`]).
    pub fn record(&mut self, body: usize, outcome: Outcome, intended: Duration, latency: Duration) {
        let kind = self.target.body_kind.get(body).copied();
        self.stats.record_timed(outcome, intended, latency, kind);
    }

    async fn send_next(&mut self) -> Outcome {
        if let Some(subject) = self.target.subject.clone() {
            let body = self.next_body();
            let Some(Link::Nats(client)) = &self.conn else {
                return Outcome::Io;
            };
            let outcome = crate::nats::exchange(client, &subject, body, self.target.timeout).await;
            if let Outcome::Response(_) = outcome {
                self.target.responses.fetch_add(1, Ordering::Relaxed);
            }
            return outcome;
        }
        let request = self.next_request();
        let Some(Link::Http(conn)) = self.conn.as_mut() else {
            return Outcome::Io;
        };
        let response = async {
            let response = conn.sender.send_request(request).await?;
            let status = response.status().as_u16();
            // The body must be read to the end for the connection to be reusable, and the
            // latency is that of the whole response. Frames are dropped as they come: the
            // generator never looks at the body, so collecting it would only allocate.
            let mut body = response.into_body();
            while let Some(frame) = body.frame().await {
                frame?;
            }
            Ok::<u16, hyper::Error>(status)
        };
        match tokio::time::timeout(self.target.timeout, response).await {
            Ok(Ok(status)) => {
                self.target.responses.fetch_add(1, Ordering::Relaxed);
                Outcome::Response(status)
            }
            Ok(Err(err)) => {
                warn_once(&WARNED_IO, "request failed", &err);
                self.conn = None;
                Outcome::Io
            }
            Err(_elapsed) => {
                self.conn = None;
                Outcome::Timeout
            }
        }
    }

    /// The next body of the round-robin mix (empty for GET).
    fn next_body(&mut self) -> Bytes {
        let bodies = &self.target.bodies;
        if bodies.is_empty() {
            return Bytes::new();
        }
        let body = bodies[self.next_body].clone();
        self.next_body = (self.next_body + 1) % bodies.len();
        body
    }

    fn next_request(&mut self) -> Request<Full<Bytes>> {
        let body = self.next_body();
        let target = &*self.target;
        // Built field by field rather than through `Request::builder()`, whose checked
        // conversions cost measurable time per request at 80,000+ requests/s.
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = target.method.clone();
        *request.uri_mut() = target.uri.clone();
        let headers = request.headers_mut();
        headers.reserve(2);
        headers.insert(HOST, target.host.clone());
        if !target.bodies.is_empty() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        request
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("{0}")]
    Tcp(#[from] std::io::Error),
    #[error("http handshake: {0}")]
    Handshake(#[from] hyper::Error),
    #[error("nats: {0}")]
    Nats(async_nats::ConnectError),
}

/// Opens a TCP connection with TCP_NODELAY (small requests must not wait for Nagle) and runs
/// the HTTP/1.1 handshake; the connection task is spawned on the current runtime.
async fn connect(addr: SocketAddr) -> Result<Conn, ConnectError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    let task = tokio::spawn(async move {
        // Its errors surface to the sender as failed requests; nothing more to do here.
        let _ = connection.await;
    })
    .abort_handle();
    Ok(Conn { sender, task })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let mut b = Backoff::new();
        let waits: Vec<u64> = (0..7).map(|_| b.step().as_millis() as u64).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 200, 200]);
        b.reset();
        assert_eq!(b.step(), Duration::from_millis(10));
    }
}
