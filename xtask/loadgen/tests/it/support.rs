//! Test fixtures: a configurable hyper server on a background thread, and config builders.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use loadgen::{Config, Method, Model};
use tokio::sync::oneshot;

/// How the test server answers.
#[derive(Debug, Clone)]
pub struct Behavior {
    pub status: u16,
    /// Added to every response.
    pub delay: Duration,
    /// Request number (0-based, over the server's lifetime) that is held this long.
    pub stall: Option<(u64, Duration)>,
    /// Request number that is never answered.
    pub hang: Option<u64>,
    /// Close the connection after every response (`connection: close`).
    pub close_each: bool,
    /// A request whose body contains this text is answered with this status instead.
    pub status_if_body_contains: Option<(&'static str, u16)>,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            status: 200,
            delay: Duration::ZERO,
            stall: None,
            hang: None,
            close_each: false,
            status_if_body_contains: None,
        }
    }
}

/// What the server saw, for assertions on what the load generator sent.
#[derive(Debug, Default)]
pub struct Seen {
    /// Request bodies with their counts.
    pub bodies: HashMap<String, u64>,
    pub methods: HashMap<String, u64>,
    pub content_types: HashMap<String, u64>,
    pub paths: HashMap<String, u64>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(behavior: Behavior) -> TestServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (shutdown, mut stop) = oneshot::channel();
        let thread = {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let counter = Arc::new(AtomicU64::new(0));
                    loop {
                        let stream = tokio::select! {
                            _ = &mut stop => break,
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => stream,
                                Err(_) => continue,
                            },
                        };
                        stream.set_nodelay(true).unwrap();
                        let keep_alive = !behavior.close_each;
                        let behavior = behavior.clone();
                        let counter = Arc::clone(&counter);
                        let seen = Arc::clone(&seen);
                        let service = service_fn(move |req| {
                            let n = counter.fetch_add(1, Ordering::SeqCst);
                            answer(req, n, behavior.clone(), Arc::clone(&seen))
                        });
                        tokio::spawn(async move {
                            let _ = http1::Builder::new()
                                .keep_alive(keep_alive)
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
            })
        };
        TestServer {
            addr,
            seen,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn answer(
    req: Request<Incoming>,
    n: u64,
    behavior: Behavior,
    seen: Arc<Mutex<Seen>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?").to_owned())
        .unwrap_or_default();
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let body = String::from_utf8_lossy(&body.unwrap_or_default()).into_owned();
    let status = match behavior.status_if_body_contains {
        Some((text, status)) if body.contains(text) => status,
        _ => behavior.status,
    };
    {
        let mut seen = seen.lock().unwrap();
        *seen.methods.entry(method).or_default() += 1;
        *seen.paths.entry(path).or_default() += 1;
        *seen.content_types.entry(content_type).or_default() += 1;
        *seen.bodies.entry(body).or_default() += 1;
    }
    if behavior.hang == Some(n) {
        std::future::pending::<()>().await;
    }
    if let Some((at, stall)) = behavior.stall
        && at == n
    {
        tokio::time::sleep(stall).await;
    }
    if !behavior.delay.is_zero() {
        tokio::time::sleep(behavior.delay).await;
    }
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    Ok(response)
}

/// A closed-loop POST config against `addr` with one body.
pub fn closed(addr: SocketAddr, duration: Duration) -> Config {
    Config {
        target: addr,
        host: addr.to_string(),
        route: loadgen::config::Route::Http,
        more_targets: Vec::new(),
        path: "/v1/decide".into(),
        method: Method::Post,
        bodies: vec![Bytes::from_static(b"{\"tenant_id\":\"t1\"}")],
        body_kinds: None,
        model: Model::Closed,
        connections: 1,
        threads: 1,
        duration,
        rate: None,
        max_requests: 10_000_000,
        timeout: Duration::from_secs(2),
        cpu: None,
        histogram: false,
        progress_file: None,
        timeline: None,
    }
}

/// An open-loop config at `rate` requests per second.
pub fn open(addr: SocketAddr, duration: Duration, rate: f64) -> Config {
    Config {
        model: Model::Open,
        rate: Some(rate),
        ..closed(addr, duration)
    }
}

/// The counting invariants every report keeps.
pub fn assert_consistent(report: &loadgen::Report) {
    let e = &report.errors;
    assert_eq!(
        report.requests_sent,
        report.responses + e.timeout + e.io,
        "{report:#?}"
    );
    assert_eq!(
        report.responses,
        report.ok + report.expected_rejections + e.status,
        "{report:#?}"
    );
    if let Some(kinds) = &report.kinds {
        let sum = |f: fn(&loadgen::report::KindReport) -> u64| kinds.values().map(f).sum::<u64>();
        assert_eq!(sum(|k| k.sent), report.requests_sent, "{report:#?}");
        assert_eq!(sum(|k| k.responses), report.responses, "{report:#?}");
        assert_eq!(sum(|k| k.timeouts), e.timeout, "{report:#?}");
        assert_eq!(sum(|k| k.io_errors), e.io, "{report:#?}");
        for (name, k) in kinds {
            assert_eq!(k.sent, k.responses + k.timeouts + k.io_errors, "{name}");
            assert_eq!(k.status_counts.values().sum::<u64>(), k.responses, "{name}");
        }
    } else {
        assert_eq!(report.expected_rejections, 0, "{report:#?}");
    }
    assert_eq!(
        report.status_counts.values().sum::<u64>(),
        report.responses,
        "{report:#?}"
    );
    let l = &report.latency_ms;
    if report.responses > 0 {
        let seq = [l.min, l.p50, l.p90, l.p95, l.p99, l.p999, l.max].map(Option::unwrap);
        assert!(seq.windows(2).all(|w| w[0] <= w[1]), "{l:?}");
    }
}

/// A unique temporary file with this content; removed on drop.
pub struct TempFile(pub std::path::PathBuf);

impl TempFile {
    pub fn new(name: &str, content: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("loadgen-it-{}-{name}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
