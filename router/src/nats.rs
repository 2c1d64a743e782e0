//! The NATS request-reply front end: a queue-group subscription on the decide subject that
//! answers each request on its reply subject through the same decision path as HTTP
//! (`AppState::admit` and `AppState::decide_json`), with its own `transport="nats"` metrics.
//!
//! `trace_id` and `tenant_id` may also come as NATS headers of those names. The body wins:
//! a header only fills in a field the body does not have.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions, Event, HeaderMap, Message, Subscriber};
use futures_util::StreamExt;
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::task::JoinSet;

use crate::error::{ApiError, ErrorCode};
use crate::metrics::TransportMetrics;
use crate::service::AppState;

/// The subject the original service answered on.
pub const DEFAULT_SUBJECT: &str = "beamline.router.v1.decide";
/// The queue group all routers join, so each request is answered by one of them.
pub const DEFAULT_QUEUE: &str = "router-decide-group";
/// The headers that may carry the request fields of the same names.
pub const TRACE_HEADER: &str = "trace_id";
pub const TENANT_HEADER: &str = "tenant_id";

/// Where to subscribe.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    pub url: String,
    pub subject: String,
    pub queue: String,
}

/// Why the NATS front end could not start.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
    #[error("cannot subscribe to `{subject}` in queue group `{queue}`: {source}")]
    Subscribe {
        subject: String,
        queue: String,
        source: async_nats::SubscribeError,
    },
}

/// A connected, subscribed front end, ready to `serve`.
#[derive(Debug)]
pub struct NatsFrontEnd {
    client: Client,
    subscriber: Subscriber,
    /// The `transport="nats"` series, shared by the answer tasks.
    metrics: Arc<TransportMetrics>,
}

/// Connects and subscribes. Only the first connection must succeed (so a wrong URL fails the
/// start); after that the client reconnects by itself, and each disconnect is counted in
/// `router_nats_disconnects_total`.
pub async fn connect(config: &NatsConfig, state: &AppState) -> Result<NatsFrontEnd, NatsError> {
    let disconnects = state.metrics.nats_disconnects.clone();
    let client = ConnectOptions::new()
        .name("router")
        .connection_timeout(Duration::from_secs(5))
        // Keep trying for as long as the router runs: HTTP keeps serving meanwhile.
        .max_reconnects(None)
        // The default backoff grows to 4 s; the server is usually near, so come back sooner.
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(50 * u64::try_from(attempts).unwrap_or(u64::MAX).min(20))
        })
        .event_callback(move |event| {
            let disconnects = disconnects.clone();
            async move {
                match event {
                    Event::Disconnected => {
                        disconnects.inc();
                        tracing::warn!("nats: disconnected; reconnecting");
                    }
                    Event::Connected => tracing::info!("nats: connected"),
                    Event::Closed => tracing::info!("nats: connection closed"),
                    other => tracing::warn!(event = %other, "nats: event"),
                }
            }
        })
        .connect(config.url.as_str())
        .await
        .map_err(|source| NatsError::Connect {
            url: config.url.clone(),
            source,
        })?;
    let subscriber = client
        .queue_subscribe(config.subject.clone(), config.queue.clone())
        .await
        .map_err(|source| NatsError::Subscribe {
            subject: config.subject.clone(),
            queue: config.queue.clone(),
            source,
        })?;
    // Make sure the server has the subscription before the router says it is up.
    if let Err(err) = client.flush().await {
        tracing::warn!(%err, "nats: flushing the subscription");
    }
    Ok(NatsFrontEnd {
        client,
        subscriber,
        metrics: Arc::new(state.metrics.transport("nats")),
    })
}

impl NatsFrontEnd {
    /// Answers requests until `shutdown` resolves; then drains the subscription (the server
    /// stops sending, messages already delivered are still answered), waits for the answers
    /// in flight (up to `config.shutdown_timeout`), flushes them, and returns.
    pub async fn serve(self, state: Arc<AppState>, shutdown: impl Future<Output = ()>) {
        let NatsFrontEnd {
            client,
            mut subscriber,
            metrics,
        } = self;
        let answerer = Answerer {
            state,
            client,
            metrics,
        };
        let mut tasks = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // Reap finished answers so the set holds only the ones in flight.
            while tasks.try_join_next().is_some() {}
            let msg = tokio::select! {
                msg = subscriber.next() => match msg {
                    Some(msg) => msg,
                    None => break,
                },
                () = &mut shutdown => break,
            };
            spawn_answer(&mut tasks, &answerer, msg);
        }
        let drained = async {
            if let Err(err) = subscriber.drain().await {
                tracing::warn!(%err, "nats: draining the subscription");
            }
            while let Some(msg) = subscriber.next().await {
                spawn_answer(&mut tasks, &answerer, msg);
            }
            while tasks.join_next().await.is_some() {}
            if let Err(err) = answerer.client.flush().await {
                tracing::warn!(%err, "nats: flushing the last replies");
            }
        };
        let timeout = answerer.state.config.shutdown_timeout;
        if tokio::time::timeout(timeout, drained).await.is_err() {
            tracing::warn!(?timeout, "nats: shutdown timed out with requests in flight");
        }
    }
}

/// What an answer task needs; cheap to clone (three reference counts).
#[derive(Clone)]
struct Answerer {
    state: Arc<AppState>,
    client: Client,
    metrics: Arc<TransportMetrics>,
}

fn spawn_answer(tasks: &mut JoinSet<()>, answerer: &Answerer, msg: Message) {
    let answerer = answerer.clone();
    tasks.spawn(async move { answer(&answerer, msg).await });
}

/// Decides one request and publishes the decision or the error body to its reply subject.
async fn answer(answerer: &Answerer, msg: Message) {
    let Answerer {
        state,
        client,
        metrics,
    } = answerer;
    let Some(reply) = msg.reply.clone() else {
        // A plain publish has nowhere to send the decision: deciding would be wasted work.
        tracing::debug!(subject = %msg.subject, "nats: message without a reply subject ignored");
        return;
    };
    let result = match state.admit(metrics) {
        Ok(_slot) => {
            let started = Instant::now();
            let result = decide(state, &msg);
            // The test delay knob (off in a normal run): latency without CPU, slot held.
            if let Some(delay) = state.test_delay() {
                tokio::time::sleep(delay).await;
            }
            metrics
                .decision_seconds
                .observe(started.elapsed().as_secs_f64());
            result
        }
        Err(err) => Err(err),
    };
    let body = match result {
        Ok(body) => {
            metrics.record_ok();
            body
        }
        Err(err) => {
            metrics.record_error(err.code);
            err.to_json()
        }
    };
    if let Err(err) = client.publish(reply, body.into()).await {
        tracing::warn!(%err, "nats: publishing a reply");
    }
}

fn decide(state: &AppState, msg: &Message) -> Result<Vec<u8>, ApiError> {
    let limit = state.config.max_body_bytes;
    if msg.payload.len() > limit {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        ));
    }
    match msg
        .headers
        .as_ref()
        .and_then(|h| with_headers(&msg.payload, h))
    {
        Some(body) => state.decide_json(&body),
        None => state.decide_json(&msg.payload),
    }
}

/// Which of the header-fillable fields a body has (`null` counts as present: the body said it).
#[derive(Deserialize)]
struct Present {
    #[serde(default, deserialize_with = "present")]
    tenant_id: bool,
    #[serde(default, deserialize_with = "present")]
    trace_id: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// The body with the `tenant_id`/`trace_id` headers added as fields where the body lacks
/// them, or `None` when there is nothing to add (or the body is not a JSON object, which the
/// decoder then reports as usual). Splicing into the object keeps one decoder for both
/// transports, so a NATS request is checked exactly like an HTTP one.
fn with_headers(body: &[u8], headers: &HeaderMap) -> Option<Vec<u8>> {
    let header = |name: &str| headers.get(name).map(|v| v.as_str());
    let (tenant, trace) = (header(TENANT_HEADER), header(TRACE_HEADER));
    if tenant.is_none() && trace.is_none() {
        return None;
    }
    let present: Present = serde_json::from_slice(body).ok()?;
    let mut fields = Vec::new();
    for (name, value, has) in [
        ("tenant_id", tenant, present.tenant_id),
        ("trace_id", trace, present.trace_id),
    ] {
        if let (Some(value), false) = (value, has) {
            let value = serde_json::to_string(value).expect("strings always serialize");
            fields.push(format!("\"{name}\":{value}"));
        }
    }
    if fields.is_empty() {
        return None;
    }
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &body[start + 1..];
    let empty = rest.trim_ascii_start().starts_with(b"}");
    let mut out = Vec::with_capacity(body.len() + 64);
    out.push(b'{');
    out.extend_from_slice(fields.join(",").as_bytes());
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, *v);
        }
        h
    }

    fn json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn headers_fill_absent_fields_only() {
        let h = headers(&[("tenant_id", "acme"), ("trace_id", "t-\"1")]);
        let out = with_headers(br#" {"request_id":"r"}"#, &h).unwrap();
        let v = json(&out);
        assert_eq!(v["tenant_id"], "acme");
        assert_eq!(v["trace_id"], "t-\"1");
        assert_eq!(v["request_id"], "r");

        let out = with_headers(br#"{"tenant_id":"body","trace_id":null}"#, &h);
        assert!(out.is_none(), "the body has both: nothing to add");

        let out = with_headers(br#"{"tenant_id":"body"}"#, &h).unwrap();
        let v = json(&out);
        assert_eq!(v["tenant_id"], "body");
        assert_eq!(v["trace_id"], "t-\"1");

        let v = json(&with_headers(b"{ }", &h).unwrap());
        assert_eq!(v["tenant_id"], "acme");
    }

    #[test]
    fn no_headers_or_not_an_object_leaves_the_body() {
        let h = headers(&[("tenant_id", "acme")]);
        assert!(with_headers(b"[1]", &h).is_none());
        assert!(with_headers(b"{oops", &h).is_none());
        assert!(with_headers(b"{}", &headers(&[("other", "x")])).is_none());
    }
}
