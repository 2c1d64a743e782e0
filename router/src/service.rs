//! The decision service shared by every transport: admission (backpressure), decoding,
//! policy lookup, the sticky store, the decision core, encoding, and the metrics around them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::{Metrics, TransportMetrics};
use crate::policy::{LookupError, PolicySet};
use crate::routing::{self, DecideInput};
use crate::sticky::StickyStore;
use crate::wire::{self, Context, DecisionRequest, DecisionResponse};

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub policies: PolicySet,
    pub sticky: StickyStore,
    pub metrics: Metrics,
    pub http: TransportMetrics,
    inflight: AtomicUsize,
    /// Cleared when shutdown starts, so `/ready` turns away new traffic first.
    ready: AtomicBool,
    /// Decisions seen by the test delay knob, over all transports (untouched when it is off).
    delay_count: AtomicU64,
}

impl AppState {
    pub fn new(config: Config, policies: PolicySet) -> Arc<Self> {
        let metrics = Metrics::new();
        metrics
            .slowdown_iterations
            .set(i64::try_from(config.slowdown_iters).unwrap_or(i64::MAX));
        let delay = config.test_delay;
        metrics
            .test_delay_us
            .set(i64::try_from(delay.us).unwrap_or(i64::MAX));
        metrics
            .test_delay_every
            .set(i64::try_from(delay.every).unwrap_or(i64::MAX));
        let http = metrics.transport("http");
        Arc::new(Self {
            sticky: StickyStore::new(config.sticky_capacity, config.sticky_ttl),
            config,
            policies,
            metrics,
            http,
            inflight: AtomicUsize::new(0),
            ready: AtomicBool::new(true),
            delay_count: AtomicU64::new(0),
        })
    }

    /// The test delay knob's verdict for one decision: how long to wait before answering,
    /// or `None` (always, when the knob is off). Every `every`-th call, counted over all
    /// transports, starting with the first, gets the delay. The transport sleeps on the
    /// tokio timer while the request keeps its in-flight slot, like a call to a slow
    /// dependency: latency without CPU, which shows in the decision-duration histogram as a
    /// slow dependency would. tokio's timer rounds a sleep up to the next whole millisecond,
    /// so a delay of 1-1000 us is in effect about 1-2 ms.
    pub fn test_delay(&self) -> Option<Duration> {
        let delay = self.config.test_delay;
        if !delay.is_on() {
            return None;
        }
        let n = self.delay_count.fetch_add(1, Ordering::Relaxed);
        n.is_multiple_of(delay.every)
            .then(|| Duration::from_micros(delay.us))
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn set_not_ready(&self) {
        self.ready.store(false, Ordering::Relaxed);
    }

    /// Takes an in-flight slot, or refuses with `overloaded` when `max_inflight` are taken.
    pub fn admit<'a>(
        &'a self,
        transport: &'a TransportMetrics,
    ) -> Result<InflightSlot<'a>, ApiError> {
        let prev = self.inflight.fetch_add(1, Ordering::AcqRel);
        if prev >= self.config.max_inflight {
            self.inflight.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::new(
                ErrorCode::Overloaded,
                format!(
                    "more than {} decisions in progress; retry later",
                    self.config.max_inflight
                ),
            ));
        }
        transport.inflight.inc();
        Ok(InflightSlot {
            state: self,
            transport,
        })
    }

    /// The Prometheus exposition, with gauges that are read at scrape time brought up to date.
    pub fn render_metrics(&self) -> String {
        self.metrics
            .sticky_entries
            .set(i64::try_from(self.sticky.len()).unwrap_or(i64::MAX));
        self.metrics.encode()
    }

    /// Decodes a decision request, decides, and encodes the response body.
    pub fn decide_json(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        let req: DecisionRequest<'_> = wire::decode_request(body).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("invalid decision request: {e}"),
            )
        })?;
        self.decide(&req)
    }

    /// Decides for a decoded request and encodes the response body.
    pub fn decide(&self, req: &DecisionRequest<'_>) -> Result<Vec<u8>, ApiError> {
        if req.version != wire::VERSION {
            return Err(ApiError::new(
                ErrorCode::UnsupportedVersion,
                format!(
                    "unsupported version `{}`; this router speaks version \"1\"",
                    req.version
                ),
            ));
        }
        for (field, value) in [
            ("tenant_id", &req.tenant_id),
            ("request_id", &req.request_id),
            ("task.type", &req.task.kind),
        ] {
            if value.trim().is_empty() {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("`{field}` must not be empty"),
                ));
            }
        }
        let policy = self
            .policies
            .lookup(&req.tenant_id, req.policy_id.as_deref())
            .map_err(|e| match e {
                LookupError::UnknownTenant => ApiError::new(
                    ErrorCode::TenantNotFound,
                    format!("no policies for tenant `{}`", req.tenant_id),
                ),
                LookupError::UnknownPolicy => ApiError::new(
                    ErrorCode::PolicyNotFound,
                    format!(
                        "tenant `{}` has no policy `{}`",
                        req.tenant_id,
                        req.policy_id.as_deref().unwrap_or("(default)")
                    ),
                ),
            })?;
        let now = Instant::now();
        let session = req.session_key.as_deref().filter(|s| !s.is_empty());
        let sticky_key = session
            .filter(|_| policy.sticky)
            .map(|s| StickyStore::key(policy.uid, s));
        let input = DecideInput {
            key: session.unwrap_or(&req.request_id),
            constraints: req.constraints.as_ref(),
            sticky: sticky_key.and_then(|k| self.sticky.get(k, now)),
        };
        let decision = routing::decide(policy, &input).map_err(|e| {
            ApiError::new(
                ErrorCode::NoEligibleProvider,
                format!("policy `{}`: {e}", policy.policy_id),
            )
        })?;
        burn_cpu(self.config.slowdown_iters);
        if let Some(k) = sticky_key
            && decision.reason != wire::Reason::Sticky
        {
            let ttl = policy.sticky_ttl.unwrap_or(self.config.sticky_ttl);
            self.sticky.put(k, decision.provider, now, ttl);
        }
        let provider = &policy.providers[decision.provider];
        let resp = DecisionResponse {
            provider_id: &provider.id,
            reason: decision.reason,
            policy_id: &policy.policy_id,
            policy_version: &policy.version,
            expected_latency_ms: provider.expected_latency_ms,
            expected_cost: provider.expected_cost,
            context: Context {
                request_id: &req.request_id,
                trace_id: req.trace_id.as_deref(),
            },
        };
        let mut out = Vec::with_capacity(256);
        serde_json::to_writer(&mut out, &resp).expect("decision responses always serialize");
        Ok(out)
    }
}

/// An admitted decision; frees its slot when dropped, whatever path the request takes.
#[derive(Debug)]
pub struct InflightSlot<'a> {
    state: &'a AppState,
    transport: &'a TransportMetrics,
}

impl Drop for InflightSlot<'_> {
    fn drop(&mut self) {
        self.state.inflight.fetch_sub(1, Ordering::AcqRel);
        self.transport.inflight.dec();
    }
}

/// The test-only slowdown: a fixed amount of arithmetic per decision that the optimiser
/// cannot remove, so it costs CPU (and instructions) in proportion to `iters`.
fn burn_cpu(iters: u64) {
    if iters == 0 {
        return;
    }
    // A `while`, not a `for` over a range: in a debug build the range's `next` is a call of
    // its own, which would top a profile instead of this function (the profile test runs the
    // debug router).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut i = 0;
    while i < iters {
        x = std::hint::black_box(x.rotate_left(7) ^ i).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        i += 1;
    }
    std::hint::black_box(x);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(config: Config) -> Arc<AppState> {
        AppState::new(config, PolicySet::sample())
    }

    fn decide(s: &AppState, body: &str) -> Result<serde_json::Value, ErrorCode> {
        s.decide_json(body.as_bytes())
            .map(|b| serde_json::from_slice(&b).unwrap())
            .map_err(|e| e.code)
    }

    #[test]
    fn sticky_session_repeats_provider() {
        let s = state(Config::default());
        let body = r#"{"version":"1","tenant_id":"acme","request_id":"r1","task":{"type":"chat"},"session_key":"u-1"}"#;
        let first = decide(&s, body).unwrap();
        assert_eq!(first["reason"], "weighted");
        let second = decide(&s, &body.replace("r1", "r2")).unwrap();
        assert_eq!(second["reason"], "sticky");
        assert_eq!(second["provider_id"], first["provider_id"]);
        assert_eq!(second["context"]["request_id"], "r2");
    }

    #[test]
    fn errors_map_to_codes() {
        let s = state(Config::default());
        let cases = [
            (
                r#"{"version":"2","tenant_id":"acme","request_id":"r","task":{"type":"x"}}"#,
                ErrorCode::UnsupportedVersion,
            ),
            (
                r#"{"version":"1","tenant_id":"","request_id":"r","task":{"type":"x"}}"#,
                ErrorCode::InvalidRequest,
            ),
            (
                r#"{"version":"1","tenant_id":"zzz","request_id":"r","task":{"type":"x"}}"#,
                ErrorCode::TenantNotFound,
            ),
            (
                r#"{"version":"1","tenant_id":"acme","request_id":"r","task":{"type":"x"},"policy_id":"q"}"#,
                ErrorCode::PolicyNotFound,
            ),
            (
                r#"{"version":"1","tenant_id":"acme","request_id":"r","task":{"type":"x"},"constraints":{"max_cost":0}}"#,
                ErrorCode::NoEligibleProvider,
            ),
            (r#"{"version":"1"}"#, ErrorCode::InvalidRequest),
        ];
        for (body, code) in cases {
            assert_eq!(decide(&s, body).unwrap_err(), code, "{body}");
        }
    }

    #[test]
    fn test_delay_hits_every_nth_decision() {
        let s = state(Config::default());
        assert!((0..10).all(|_| s.test_delay().is_none()), "off by default");
        let s = state(Config {
            test_delay: crate::config::TestDelay { us: 1500, every: 3 },
            ..Config::default()
        });
        let got: Vec<_> = (0..7).map(|_| s.test_delay()).collect();
        let d = Some(Duration::from_micros(1500));
        assert_eq!(got, [d, None, None, d, None, None, d]);
    }

    #[test]
    fn admission_is_bounded_and_slots_are_returned() {
        let s = state(Config {
            max_inflight: 2,
            ..Config::default()
        });
        let a = s.admit(&s.http).unwrap();
        let _b = s.admit(&s.http).unwrap();
        assert_eq!(s.admit(&s.http).unwrap_err().code, ErrorCode::Overloaded);
        drop(a);
        assert!(s.admit(&s.http).is_ok());
    }
}
