//! The HTTP/1.1 front end (hyper): routes, body limits, content types, read timeouts, and
//! the accept loop with graceful shutdown. A connection's error is logged and never ends the
//! accept loop.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::conn::{HeadTimeoutCounters, RequestPhase, WatchedStream};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::TransportMetrics;
use crate::service::{AppState, InflightSlot};

type Resp = Response<Full<Bytes>>;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// How long a decision may hold its in-flight slot while its body arrives. A body that is
/// not complete by then gives the slot back and is read outside `--max-inflight` (still
/// under `--body-read-timeout`), and the request is admitted again once the body is in (or
/// refused with `overloaded` if the bound is full then, like any new request).
///
/// So a stalled or trickling body cannot hold a slot for longer than this, and a thousand of
/// them cannot starve every decision, while a body that streams in at loopback or LAN pace
/// (a 48 KB body takes well under a millisecond) is read inside its slot, so that reading
/// large bodies still counts as in flight and an overload spike still meets the bound. This
/// is simpler than releasing on a gap between frames, and unlike that it also bounds a body
/// that trickles in one byte per gap. 100 ms is far above a loopback or LAN body read even
/// on a busy 2-core machine (a TCP delayed-ACK stall of a header/body split is ~40 ms), and
/// far below the body timeout; a body over a slow WAN link merely loses its place in the
/// bound for the time it is not using any CPU.
pub const BODY_SLOT_BUDGET: Duration = Duration::from_millis(100);

/// Serves HTTP on `listener` until `shutdown` resolves; then stops accepting, lets
/// in-flight requests finish (up to `config.shutdown_timeout`), and returns.
pub async fn run(listener: TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut http = http1::Builder::new();
    // hyper's own header-read timeout stays off (it would cost every request a timer; see
    // `conn`): the connection's socket enforces `--header-read-timeout` instead.
    http.keep_alive(true).header_read_timeout(None);
    let head_timeouts = HeadTimeoutCounters {
        header: state.http.header_timeouts.clone(),
        idle: state.http.idle_closed.clone(),
    };
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    // Usually EMFILE or a reset before accept: back off briefly, keep serving.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let phase = Arc::new(RequestPhase::default());
        let stream = WatchedStream::new(
            stream,
            phase.clone(),
            state.config.header_read_timeout,
            head_timeouts.clone(),
        );
        let state = state.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            let in_request = phase.begin();
            async move {
                let resp = handle(&state, req).await;
                drop(in_request);
                Ok::<_, Infallible>(resp)
            }
        });
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
        });
    }
    state.set_not_ready();
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    if tokio::time::timeout(state.config.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(timeout = ?state.config.shutdown_timeout, "shutdown timed out with requests in flight");
    }
}

async fn handle(state: &AppState, req: Request<Incoming>) -> Resp {
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/decide") => decide(state, req).await,
        (&Method::GET, "/health") => {
            json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#))
        }
        (&Method::GET, "/ready") if state.is_ready() => {
            json(StatusCode::OK, Bytes::from_static(br#"{"status":"ready"}"#))
        }
        (&Method::GET, "/ready") => json(
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from_static(br#"{"status":"shutting_down"}"#),
        ),
        (&Method::GET, "/metrics") => {
            let mut resp = Response::new(Full::new(Bytes::from(state.render_metrics())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            resp
        }
        (_, path @ ("/v1/decide" | "/health" | "/ready" | "/metrics")) => {
            let allow = if path == "/v1/decide" { "POST" } else { "GET" };
            let err = ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{} {path}: use {allow}", req.method()),
            );
            if path == "/v1/decide" {
                state.http.record_error(err.code);
            }
            let mut resp = error_response(&err);
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            resp
        }
        (_, path) => error_response(&ApiError::new(
            ErrorCode::NotFound,
            format!("no route for {path}"),
        )),
    }
}

async fn decide(state: &AppState, req: Request<Incoming>) -> Resp {
    let metrics = &state.http;
    match admit_and_decide(state, req).await {
        Ok(body) => {
            metrics.record_ok();
            json(StatusCode::OK, Bytes::from(body))
        }
        Err(err) => {
            metrics.record_error(err.code);
            match err.code {
                ErrorCode::Internal => tracing::error!(%err, "internal error"),
                ErrorCode::RequestTimeout => {
                    metrics.body_timeouts.inc();
                }
                _ => {}
            }
            error_response(&err)
        }
    }
}

/// A decision request from its head to its encoded answer. The slot is taken when the head
/// has arrived, so reading the body counts as in flight, but for at most `BODY_SLOT_BUDGET`:
/// a body still incomplete by then is read without a slot and the request is admitted again
/// once it is in.
async fn admit_and_decide(state: &AppState, req: Request<Incoming>) -> Result<Vec<u8>, ApiError> {
    let metrics = &state.http;
    let mut slot = Some(state.admit(metrics)?);
    let mut started = Instant::now();
    let result = match read_json_body(state, req, &mut slot, started).await {
        Ok(body) => {
            if slot.is_none() {
                slot = Some(state.admit(metrics)?);
                started = Instant::now();
            }
            let result = state.decide_json(&body);
            // The test delay knob (off in a normal run): latency without CPU, slot held.
            if let Some(delay) = state.test_delay() {
                tokio::time::sleep(delay).await;
            }
            result
        }
        Err(err) => Err(err),
    };
    // Timed while it holds a slot: from its (last) admission until the decision is encoded.
    if slot.is_some() {
        metrics
            .decision_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    result
}

async fn read_json_body(
    state: &AppState,
    req: Request<Incoming>,
    slot: &mut Option<InflightSlot<'_>>,
    head_at: Instant,
) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "expected `content-type: application/json`",
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let timeout = state.config.body_read_timeout;
    let deadline = head_at + timeout;
    let timers = BodyTimers {
        release_at: (head_at + BODY_SLOT_BUDGET).min(deadline),
        deadline,
    };
    let mut body = req.into_body();
    // A size hint for a body that comes in several frames (checked against the limit above).
    let expected = declared.map_or(0, |n| n as usize);
    match read_body(&mut body, limit, expected, slot, timers, &state.http).await {
        Ok(bytes) => Ok(bytes),
        Err(BodyError::TooLarge) => Err(too_large()),
        Err(BodyError::TimedOut) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} ms of its headers",
                timeout.as_millis()
            ),
        )),
        Err(BodyError::Read(err)) => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("reading the request body: {err}"),
        )),
    }
}

/// When a body read gives up its slot, and when it gives up altogether.
#[derive(Debug, Clone, Copy)]
struct BodyTimers {
    release_at: Instant,
    deadline: Instant,
}

#[derive(Debug)]
enum BodyError {
    TooLarge,
    TimedOut,
    Read(hyper::Error),
}

/// Collects a body of at most `limit` bytes, frame by frame. While a frame is not there yet,
/// one timer runs: first until `release_at`, when the slot is given back (and counted),
/// then until `deadline`, when the read times out. The timer is armed only when a frame
/// has to be waited for, so a body that came with its head costs no timer at all.
async fn read_body(
    body: &mut Incoming,
    limit: usize,
    expected: usize,
    slot: &mut Option<InflightSlot<'_>>,
    timers: BodyTimers,
    metrics: &TransportMetrics,
) -> Result<Bytes, BodyError> {
    let mut collected = Collected::Empty;
    let mut len = 0usize;
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers carry nothing a decision reads.
                    if let Ok(data) = frame.into_data() {
                        len += data.len();
                        if len > limit {
                            return Poll::Ready(Err(BodyError::TooLarge));
                        }
                        collected.push(data, expected);
                    }
                    if body.is_end_stream() {
                        return Poll::Ready(Ok(collected.take()));
                    }
                }
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Err(BodyError::Read(err))),
                Poll::Ready(None) => return Poll::Ready(Ok(collected.take())),
                Poll::Pending => {
                    let timer = timer.get_or_insert_with(|| {
                        let until = if slot.is_some() {
                            timers.release_at
                        } else {
                            timers.deadline
                        };
                        Box::pin(tokio::time::sleep_until(until.into()))
                    });
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if slot.take().is_none() {
                        return Poll::Ready(Err(BodyError::TimedOut));
                    }
                    // The slot went back to the bound; wait on for the rest until the
                    // deadline. Loop to poll the body and the re-armed timer again, so
                    // both hold this task's waker.
                    metrics.body_slot_releases.inc();
                    timer.as_mut().reset(timers.deadline.into());
                }
            }
        }
    })
    .await
}

/// The data of a body so far: a body in one frame (the usual case) is kept as it came, with
/// no copy.
enum Collected {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Collected {
    /// Appends a frame; `expected` (the declared length, at most the limit) sizes the buffer
    /// when a second frame comes.
    fn push(&mut self, data: Bytes, expected: usize) {
        *self = match std::mem::replace(self, Collected::Empty) {
            Collected::Empty => Collected::One(data),
            Collected::One(first) => {
                let mut all = BytesMut::with_capacity(expected.max(first.len() + data.len()));
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                Collected::Many(all)
            }
            Collected::Many(mut all) => {
                all.extend_from_slice(&data);
                Collected::Many(all)
            }
        };
    }

    /// The whole body, leaving `Empty` behind.
    fn take(&mut self) -> Bytes {
        match std::mem::replace(self, Collected::Empty) {
            Collected::Empty => Bytes::new(),
            Collected::One(data) => data,
            Collected::Many(all) => all.freeze(),
        }
    }
}

fn json(status: StatusCode, body: Bytes) -> Resp {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, JSON);
    resp
}

fn error_response(err: &ApiError) -> Resp {
    let status =
        StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json(status, Bytes::from(err.to_json()));
    match err.code {
        ErrorCode::Overloaded => {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // These are answered before the body is (wholly) read, so the connection cannot
        // carry another request: say so, or a keep-alive client sends its next request into
        // a connection that is closing and sees it fail.
        ErrorCode::PayloadTooLarge
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::RequestTimeout => {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        _ => {}
    }
    resp
}
