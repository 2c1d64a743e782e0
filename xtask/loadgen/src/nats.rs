//! The NATS request-reply transport: each load connection is its own NATS connection, and
//! each request a request-reply on the subject. A reply carrying the router's error body
//! (`{"error":{"code":..}}`) is counted under the HTTP status the router gives that code,
//! so the report's `status_counts` read the same for both transports.

use std::net::SocketAddr;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, RequestErrorKind, Subject};
use bytes::Bytes;
use serde::Deserialize;

use crate::stats::Outcome;

/// Opens one NATS connection to `addr`. After the first connection the client reconnects by
/// itself; requests sent meanwhile time out and are counted as such.
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Client, async_nats::ConnectError> {
    ConnectOptions::new()
        .name("loadgen")
        .connection_timeout(timeout)
        // The run's own timeout bounds every request (see `exchange`).
        .request_timeout(Some(timeout))
        .connect(format!("nats://{addr}"))
        .await
}

/// Sends `body` to `subject` and waits up to `timeout` for the reply.
pub async fn exchange(
    client: &Client,
    subject: &Subject,
    body: Bytes,
    timeout: Duration,
) -> Outcome {
    match tokio::time::timeout(timeout, client.request(subject.clone(), body)).await {
        Ok(Ok(reply)) => Outcome::Response(status_of(&reply.payload)),
        Ok(Err(err)) if err.kind() == RequestErrorKind::TimedOut => Outcome::Timeout,
        // No router subscribed (or the connection is down): the request was lost.
        Ok(Err(_)) => Outcome::Io,
        Err(_elapsed) => Outcome::Timeout,
    }
}

#[derive(Deserialize)]
struct ErrorReply<'a> {
    #[serde(borrow)]
    error: ErrorCode<'a>,
}

#[derive(Deserialize)]
struct ErrorCode<'a> {
    #[serde(borrow)]
    code: std::borrow::Cow<'a, str>,
}

/// 200 for a decision; for an error body, the router's HTTP status of its code. Only a body
/// that starts as the router's compact error body is parsed, so decisions cost no decoding.
pub fn status_of(payload: &[u8]) -> u16 {
    if !payload.starts_with(b"{\"error\"") {
        return 200;
    }
    match serde_json::from_slice::<ErrorReply>(payload) {
        Ok(reply) => status_for_code(&reply.error.code),
        // Not the router's error body: a bad gateway, from the client's point of view.
        Err(_) => 502,
    }
}

/// The router's HTTP status for each error code (router/src/error.rs).
fn status_for_code(code: &str) -> u16 {
    match code {
        "invalid_request" | "unsupported_version" => 400,
        "tenant_not_found" | "policy_not_found" | "not_found" => 404,
        "method_not_allowed" => 405,
        "payload_too_large" => 413,
        "unsupported_media_type" => 415,
        "no_eligible_provider" => 422,
        "overloaded" => 503,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(
            status_of(br#"{"provider_id":"p","reason":"weighted"}"#),
            200
        );
        assert_eq!(
            status_of(br#"{"error":{"code":"overloaded","message":"busy"}}"#),
            503
        );
        assert_eq!(
            status_of(br#"{"error":{"code":"tenant_not_found","message":"x"}}"#),
            404
        );
        assert_eq!(
            status_of(br#"{"error":{"code":"new_code","message":"x"}}"#),
            500
        );
        assert_eq!(status_of(br#"{"error":7}"#), 502);
    }
}
