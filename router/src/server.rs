//! The HTTP/1.1 front end (hyper): routes, body limits, content types, and the accept loop
//! with graceful shutdown. A connection's error is logged and never ends the accept loop.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::error::{ApiError, ErrorCode};
use crate::service::AppState;

type Resp = Response<Full<Bytes>>;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Serves HTTP on `listener` until `shutdown` resolves; then stops accepting, lets
/// in-flight requests finish (up to `config.shutdown_timeout`), and returns.
pub async fn run(listener: TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
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
        let state = state.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(&state, req).await) }
        });
        let conn = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
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
    let result = match state.admit(metrics) {
        Ok(_slot) => {
            // `_slot` lives until the decision is encoded, so the body read counts as in flight.
            let started = Instant::now();
            let result = match read_json_body(state, req).await {
                Ok(body) => state.decide_json(&body),
                Err(err) => Err(err),
            };
            metrics
                .decision_seconds
                .observe(started.elapsed().as_secs_f64());
            result
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(body) => {
            metrics.record_ok();
            json(StatusCode::OK, Bytes::from(body))
        }
        Err(err) => {
            metrics.record_error(err.code);
            if err.code == ErrorCode::Internal {
                tracing::error!(%err, "internal error");
            }
            error_response(&err)
        }
    }
}

async fn read_json_body(state: &AppState, req: Request<Incoming>) -> Result<Bytes, ApiError> {
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
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(err) => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("reading the request body: {err}"),
        )),
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
        // These are answered before the body is read, so the connection cannot carry
        // another request: say so, or a keep-alive client sends its next request into a
        // connection that is closing and sees it fail.
        ErrorCode::PayloadTooLarge | ErrorCode::UnsupportedMediaType => {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        _ => {}
    }
    resp
}
