//! Prometheus metrics (OpenMetrics text via `prometheus-client`). Label sets are resolved
//! once at start-up into plain counter handles, so the hot path only does atomic adds.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ErrorCode;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    transport: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    transport: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    transport: &'static str,
    phase: &'static str,
}

/// The counters of one transport (HTTP today; NATS shares the decision core).
#[derive(Debug, Clone)]
pub struct TransportMetrics {
    ok: Counter,
    outcome: Vec<Counter>,
    errors: Vec<Counter>,
    pub backpressure: Counter,
    pub inflight: Gauge,
    pub decision_seconds: Histogram,
    /// Connections closed because a request head did not arrive in time (HTTP only).
    pub header_timeouts: Counter,
    /// Requests answered 408 because the body did not arrive in time (HTTP only).
    pub body_timeouts: Counter,
    /// Keep-alive connections closed by the header-read timer while idle (HTTP only).
    pub idle_closed: Counter,
    /// Slots given back by requests whose body was slow to arrive (HTTP only).
    pub body_slot_releases: Counter,
}

impl TransportMetrics {
    /// Counts a request that got a decision.
    pub fn record_ok(&self) {
        self.ok.inc();
    }

    /// Counts a request that ended with an error response. `overloaded` is counted as an
    /// outcome and a backpressure activation but not as an error: it is the router
    /// protecting itself, and `errors_total` is kept for requests that went wrong.
    pub fn record_error(&self, code: ErrorCode) {
        self.outcome[code as usize].inc();
        if code == ErrorCode::Overloaded {
            self.backpressure.inc();
        } else {
            self.errors[code as usize].inc();
        }
    }
}

/// Every metric the router exposes, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<OutcomeLabels, Counter>,
    errors: Family<CodeLabels, Counter>,
    backpressure: Family<TransportLabels, Counter>,
    inflight: Family<TransportLabels, Gauge>,
    decision_seconds: Family<TransportLabels, Histogram>,
    request_timeouts: Family<PhaseLabels, Counter>,
    idle_closed: Family<TransportLabels, Counter>,
    body_slot_releases: Family<TransportLabels, Counter>,
    pub sticky_entries: Gauge,
    pub slowdown_iterations: Gauge,
    /// The test delay knob's settings (0 = off).
    pub test_delay_us: Gauge,
    pub test_delay_every: Gauge,
    /// Lost NATS connections (the client reconnects by itself); 0 without `--nats-url`.
    pub nats_disconnects: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "router_requests",
            "Decision requests by transport and outcome",
            requests.clone(),
        );
        let errors = Family::<CodeLabels, Counter>::default();
        registry.register(
            "router_errors",
            "Decision requests that ended in an error response (backpressure excluded), by code",
            errors.clone(),
        );
        let backpressure = Family::<TransportLabels, Counter>::default();
        registry.register(
            "router_backpressure_active",
            "Requests refused with 503 overloaded because --max-inflight was reached",
            backpressure.clone(),
        );
        let inflight = Family::<TransportLabels, Gauge>::default();
        registry.register(
            "router_inflight_requests",
            "Decisions in progress",
            inflight.clone(),
        );
        let decision_seconds = Family::<TransportLabels, Histogram>::new_with_constructor(|| {
            // 2 us .. ~0.5 s: the core takes microseconds; the top buckets catch stalls.
            Histogram::new(exponential_buckets(2e-6, 2.0, 18))
        });
        registry.register(
            "router_decision_duration_seconds",
            "Time a decision holds its in-flight slot, from its (last) admission to the encoded decision: body read, decode, decide, encode",
            decision_seconds.clone(),
        );
        let request_timeouts = Family::<PhaseLabels, Counter>::default();
        registry.register(
            "router_request_timeouts",
            "Requests whose head (phase=header: the connection is closed) or body (phase=body: \
             408 request_timeout) did not arrive within --header-read-timeout or --body-read-timeout",
            request_timeouts.clone(),
        );
        let idle_closed = Family::<TransportLabels, Counter>::default();
        registry.register(
            "router_idle_connections_closed",
            "Keep-alive connections closed after --header-read-timeout with no byte of a next \
             request (normal expiry, not a client fault)",
            idle_closed.clone(),
        );
        let body_slot_releases = Family::<TransportLabels, Counter>::default();
        registry.register(
            "router_body_slot_releases",
            "In-flight slots given back by requests whose body was not complete soon after \
             admission; they read the rest outside --max-inflight and are admitted again",
            body_slot_releases.clone(),
        );
        let sticky_entries = Gauge::default();
        registry.register(
            "router_sticky_entries",
            "Entries in the sticky-session store",
            sticky_entries.clone(),
        );
        let slowdown_iterations = Gauge::default();
        registry.register(
            "router_test_slowdown_iterations",
            "Extra CPU work per decision from ROUTER_TEST_SLOWDOWN_ITERS (0 = off; a run with it on is not a normal run)",
            slowdown_iterations.clone(),
        );
        let test_delay_us = Gauge::default();
        registry.register(
            "router_test_delay_us",
            "Latency added to a delayed decision by ROUTER_TEST_DELAY_US, in microseconds (0 = off; a run with it on is not a normal run)",
            test_delay_us.clone(),
        );
        let test_delay_every = Gauge::default();
        registry.register(
            "router_test_delay_every",
            "Every N-th decision is delayed (ROUTER_TEST_DELAY_EVERY; 0 = the delay knob is off)",
            test_delay_every.clone(),
        );
        let nats_disconnects = Counter::default();
        registry.register(
            "router_nats_disconnects",
            "Times the NATS connection was lost; the router reconnects and keeps serving HTTP",
            nats_disconnects.clone(),
        );
        Self {
            registry,
            requests,
            errors,
            backpressure,
            inflight,
            decision_seconds,
            request_timeouts,
            idle_closed,
            body_slot_releases,
            sticky_entries,
            slowdown_iterations,
            test_delay_us,
            test_delay_every,
            nats_disconnects,
        }
    }

    /// Resolves the label sets of one transport once; the handles share the registry's values.
    pub fn transport(&self, transport: &'static str) -> TransportMetrics {
        let labels = TransportLabels { transport };
        let outcome = ErrorCode::ALL
            .iter()
            .map(|c| {
                self.requests.get_or_create_owned(&OutcomeLabels {
                    transport,
                    outcome: c.as_str(),
                })
            })
            .collect();
        let errors = ErrorCode::ALL
            .iter()
            .map(|&c| match c {
                // Never incremented (see `record_error`): a detached counter keeps the
                // exposition free of a series that would always read 0.
                ErrorCode::Overloaded => Counter::default(),
                c => self.errors.get_or_create_owned(&CodeLabels {
                    transport,
                    code: c.as_str(),
                }),
            })
            .collect();
        // Timeouts and slot releases exist only where there are connections and bodies to
        // wait for (HTTP); elsewhere detached counters keep always-0 series out.
        let http = transport == "http";
        let timeouts = |phase| {
            if http {
                self.request_timeouts
                    .get_or_create_owned(&PhaseLabels { transport, phase })
            } else {
                Counter::default()
            }
        };
        let per_transport = |family: &Family<TransportLabels, Counter>| {
            if http {
                family.get_or_create_owned(&labels)
            } else {
                Counter::default()
            }
        };
        TransportMetrics {
            ok: self.requests.get_or_create_owned(&OutcomeLabels {
                transport,
                outcome: "ok",
            }),
            outcome,
            errors,
            backpressure: self.backpressure.get_or_create_owned(&labels),
            inflight: self.inflight.get_or_create_owned(&labels),
            decision_seconds: self.decision_seconds.get_or_create_owned(&labels),
            header_timeouts: timeouts("header"),
            body_timeouts: timeouts("body"),
            idle_closed: per_transport(&self.idle_closed),
            body_slot_releases: per_transport(&self.body_slot_releases),
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
