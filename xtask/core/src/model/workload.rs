//! Workload files (`perf/workloads/<name>.json`): the phases a trial runs and the request
//! mix it sends. Parsing is strict: an unknown or missing field is an error naming the
//! file and the field, so a typo can never silently change what is measured.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::json;
pub use crate::model::load::{Model, Phase, Role, Transport};

/// A validated workload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub name: String,
    pub description: String,
    pub warmup: Warmup,
    /// The load phases; a scenario that plans its own steps (ramp, burst, soak, scaling,
    /// connections) has none.
    #[serde(default)]
    pub phases: Vec<Phase>,
    pub mix: Mix,
    /// Trials when `--trials` is not given (default 5): long scenarios such as soak ask
    /// for fewer.
    #[serde(default)]
    pub trials: Option<u32>,
    /// Instruction counting this workload always does (as `--counters`, which overrides it).
    #[serde(default)]
    pub counters: Option<crate::model::counters::Counters>,
    /// Extra router flags this workload needs (e.g. a small `--max-inflight` for a burst);
    /// `--router-arg` flags come after them.
    #[serde(default)]
    pub router_args: Vec<String>,
    /// A scenario beyond steady load (see `crate::bench::scenario`), with its parameters.
    #[serde(default)]
    pub scenario: Option<crate::model::scenario::Scenario>,
    /// How the load reaches the router; `--transport` overrides it.
    #[serde(default)]
    pub transport: Transport,
    /// Two routers in one NATS queue group, one SIGKILLed during the latency phase.
    #[serde(default)]
    pub failover: Option<Failover>,
}

/// The failover scenario: a second router joins the first in the NATS queue group, and
/// `kill_after_ms` into the latency phase it is killed with SIGKILL.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Failover {
    pub kill_after_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Warmup {
    pub duration_ms: u64,
    pub connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// Seeds the generator of request bodies, so every run sends the same requests.
    pub seed: u64,
    /// How many distinct bodies are generated and cycled through.
    pub distinct_bodies: u32,
    pub templates: Vec<Template>,
}

/// One kind of request in the mix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub weight: u32,
    pub tenant_id: String,
    #[serde(default)]
    pub policy_id: Option<String>,
    pub task_type: String,
    /// Size of the pool of session keys (0: no session key, so no sticky path).
    #[serde(default)]
    pub session_keys: u32,
    /// Sent verbatim as the request's `constraints`.
    #[serde(default)]
    pub constraints: Option<serde_json::Map<String, serde_json::Value>>,
    /// The answer this kind of request should get: `ok` (2xx) or `reject` (4xx, counted as
    /// an expected rejection, not an error).
    #[serde(default)]
    pub expect: Expect,
    /// Pads the body (in `metadata.pad`, which the router passes over) to this many bytes.
    #[serde(default)]
    pub body_bytes: Option<u32>,
    /// Breaks the body on purpose, for the malformed-request storm.
    #[serde(default)]
    pub malformed: Option<Malformed>,
}

/// The answer a request kind should get (in a workload's templates, and in the body-kinds
/// file the load generator reads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum Expect {
    /// A 2xx is the expected answer; anything else is an error.
    #[default]
    Ok,
    /// A 4xx is the expected answer (a malformed or over-limit request refused as it
    /// should be); anything else, a 2xx included, is an error.
    Reject,
}

/// Read from a string rather than derived, so that a wrong value is told what the values
/// mean instead of only `unknown variant`.
impl TryFrom<String> for Expect {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "ok" => Ok(Expect::Ok),
            "reject" => Ok(Expect::Reject),
            _ => Err(format!(
                "must be \"ok\" (a 2xx is the expected answer) or \"reject\" (a 4xx is), \
                 not {s:?}"
            )),
        }
    }
}

/// Ways a template's bodies are broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Malformed {
    /// Cut off halfway: not JSON at all.
    BadJson,
    /// Well-formed JSON with a number where a string belongs.
    WrongTypes,
    /// A JSON array instead of an object.
    NotObject,
    /// An object without `tenant_id`.
    MissingField,
}

/// Upper bounds that keep a workload file from asking for a run that cannot end sensibly.
const MAX_PHASE_MS: u64 = 3_600_000;
const MAX_CONNECTIONS: u32 = 10_000;
const MAX_BODY_BYTES: u32 = 1 << 20;

impl Workload {
    /// Reads and validates a workload file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = json::read_input(path, json::MAX_INPUT_BYTES).map_err(|e| {
            // The error names the file already; a name that is not there gets the hint.
            if path.exists() {
                e
            } else {
                e.context("no such workload (list them with `ls perf/workloads`)")
            }
        })?;
        Self::parse_named(&text, &format!("workload {}", path.display()))
    }

    /// Parses and validates workload JSON; errors name the field.
    pub fn parse(text: &str) -> Result<Self> {
        Self::parse_named(text, "workload")
    }

    /// `source` names the workload in messages (`workload perf/workloads/cp1.json: field ...`).
    fn parse_named(text: &str, source: &str) -> Result<Self> {
        // serde_json keeps the last of two equal keys; a repeated key must not silently
        // change what is measured. The parse itself stays serde_json's, whose messages
        // ("unknown field `rate_hz`, expected ...") the tests and users know.
        json::check_duplicates(text, source)?;
        let w: Workload = serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| source.to_string())?;
        w.validate().with_context(|| source.to_string())?;
        Ok(w)
    }

    fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            bail!("field `name`: must not be empty");
        }
        match &self.scenario {
            Some(s) => s.validate(&self.phases)?,
            None if self.phases.is_empty() => {
                bail!("field `phases`: expected at least one phase");
            }
            None => {}
        }
        if self.trials == Some(0) {
            bail!("field `trials`: expected at least 1");
        }
        if self.warmup.duration_ms > MAX_PHASE_MS {
            bail!("field `warmup.duration_ms`: at most {MAX_PHASE_MS}");
        }
        if self.warmup.connections == 0 || self.warmup.connections > MAX_CONNECTIONS {
            bail!("field `warmup.connections`: expected 1..={MAX_CONNECTIONS}");
        }
        self.validate_phases()?;
        if let Some(f) = &self.failover {
            if self.transport != Transport::Nats {
                bail!("field `failover`: needs `\"transport\": \"nats\"` (a queue group)");
            }
            let Some(phase) = self.phases.iter().find(|p| p.role == Role::Latency) else {
                bail!("field `failover`: the kill happens in the latency phase, and there is none");
            };
            if f.kill_after_ms == 0 || f.kill_after_ms >= phase.duration_ms {
                bail!(
                    "field `failover.kill_after_ms`: expected inside the latency phase, 1..{}",
                    phase.duration_ms
                );
            }
        }
        self.validate_mix()
    }

    /// Each phase on its own (name, duration, connections, rate) and with the others (names
    /// and roles unique; latency open loop, throughput closed).
    fn validate_phases(&self) -> Result<()> {
        for (i, p) in self.phases.iter().enumerate() {
            let at = |f: &str| format!("field `phases[{i}].{f}`");
            if p.name.trim().is_empty() {
                bail!("{}: must not be empty", at("name"));
            }
            if self.phases[..i].iter().any(|q| q.name == p.name) {
                bail!("{}: duplicate phase name `{}`", at("name"), p.name);
            }
            if self.phases[..i].iter().any(|q| q.role == p.role) {
                bail!("{}: only one phase may have role {:?}", at("role"), p.role);
            }
            if p.duration_ms == 0 || p.duration_ms > MAX_PHASE_MS {
                bail!("{}: expected 1..={MAX_PHASE_MS}", at("duration_ms"));
            }
            if p.connections == 0 || p.connections > MAX_CONNECTIONS {
                bail!("{}: expected 1..={MAX_CONNECTIONS}", at("connections"));
            }
            // The first of the refused pairings of model, rate, role and connections.
            let (field, why) = match (p.model, p.rate, p.role) {
                (Model::Open, None | Some(0), _) => ("rate", "an open-loop phase needs a rate > 0"),
                (Model::Closed, Some(_), _) => (
                    "rate",
                    "a closed-loop phase sends back to back and takes no rate",
                ),
                (Model::Closed, _, Role::Latency) => (
                    "model",
                    "latency is measured open loop (a closed loop hides stalls: coordinated omission)",
                ),
                (Model::Open, _, Role::Sequential | Role::Throughput) => {
                    ("model", "throughput is measured closed loop")
                }
                (_, _, Role::Sequential) if p.connections != 1 => (
                    "connections",
                    "the sequential phase uses exactly 1 connection",
                ),
                _ => continue,
            };
            bail!("{}: {why}", at(field));
        }
        Ok(())
    }

    /// The request mix: its bodies and templates.
    fn validate_mix(&self) -> Result<()> {
        if self.mix.distinct_bodies == 0 || self.mix.distinct_bodies > 1_000_000 {
            bail!("field `mix.distinct_bodies`: expected 1..=1000000");
        }
        if self.mix.templates.is_empty() {
            bail!("field `mix.templates`: expected at least one template");
        }
        if self.mix.templates.iter().all(|t| t.weight == 0) {
            bail!("field `mix.templates`: at least one template needs a weight > 0");
        }
        for (i, t) in self.mix.templates.iter().enumerate() {
            let at = |f: &str| format!("field `mix.templates[{i}].{f}`");
            if t.tenant_id.trim().is_empty() {
                bail!("{}: must not be empty", at("tenant_id"));
            }
            if t.task_type.trim().is_empty() {
                bail!("{}: must not be empty", at("task_type"));
            }
            if self.mix.templates[..i].iter().any(|u| u.name == t.name) {
                bail!("{}: duplicate template name `{}`", at("name"), t.name);
            }
            if t.body_bytes.is_some_and(|b| b > MAX_BODY_BYTES) {
                bail!("{}: at most {MAX_BODY_BYTES}", at("body_bytes"));
            }
            if t.malformed.is_some() && t.expect != Expect::Reject {
                bail!("{}: a malformed template expects `reject`", at("expect"));
            }
        }
        Ok(())
    }

    /// Request bodies for the mix from the templates `keep` accepts, one JSON document per
    /// line (deterministic for the seed), and loadgen's `--body-kinds` document naming each
    /// body's template, so that it reports every kind apart.
    pub fn generate(&self, keep: impl Fn(&Template) -> bool) -> (String, serde_json::Value) {
        let templates: Vec<&Template> = self.mix.templates.iter().filter(|t| keep(t)).collect();
        let mut rng = SplitMix64::new(self.mix.seed);
        // Each template's share of `0..total`: it is picked for the points below its end.
        let ends: Vec<u64> = templates
            .iter()
            .scan(0, |end, t| {
                *end += u64::from(t.weight);
                Some(*end)
            })
            .collect();
        let total = ends.last().copied().unwrap_or(0);
        let mut out = String::new();
        let mut kinds = Vec::new();
        if total == 0 {
            return (out, body_kinds(&templates, kinds));
        }
        for i in 0..self.mix.distinct_bodies {
            let point = rng.next_u64() % total;
            let k = ends.partition_point(|&end| end <= point);
            let t = templates[k];
            let mut body = serde_json::json!({
                "version": "1",
                "tenant_id": t.tenant_id,
                "request_id": format!("{}-{}-{i}", self.name, t.name),
                "trace_id": format!("trace-{:016x}", rng.next_u64()),
                "task": {"type": t.task_type},
            });
            if let Some(p) = &t.policy_id {
                body["policy_id"] = p.clone().into();
            }
            if t.session_keys > 0 {
                body["session_key"] = format!(
                    "{}-session-{}",
                    t.name,
                    rng.next_u64() % u64::from(t.session_keys)
                )
                .into();
            }
            if let Some(c) = &t.constraints {
                body["constraints"] = c.clone().into();
            }
            if let Some(size) = t.body_bytes {
                pad(&mut body, size as usize);
            }
            let text = match t.malformed {
                None => body.to_string(),
                Some(m) => malform(body, m),
            };
            out.push_str(&text);
            out.push('\n');
            kinds.push(k);
        }
        (out, body_kinds(&templates, kinds))
    }
}

fn body_kinds(templates: &[&Template], body_kind: Vec<usize>) -> serde_json::Value {
    serde_json::json!({
        "kinds": templates.iter().map(|t| serde_json::json!({"name": t.name, "expect": t.expect})).collect::<Vec<_>>(),
        "body_kind": body_kind,
    })
}

/// Grows `body` to `size` bytes of JSON text with a `metadata.pad` string (never shrinks it).
fn pad(body: &mut serde_json::Value, size: usize) {
    body["metadata"] = serde_json::json!({"pad": ""});
    let len = body.to_string().len();
    body["metadata"]["pad"] = "x".repeat(size.saturating_sub(len)).into();
}

fn malform(mut body: serde_json::Value, how: Malformed) -> String {
    match how {
        Malformed::BadJson => {
            let text = body.to_string();
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_string()
        }
        Malformed::WrongTypes => {
            body["task"]["type"] = 42.into();
            body.to_string()
        }
        Malformed::NotObject => serde_json::json!([body]).to_string(),
        Malformed::MissingField => {
            if let Some(o) = body.as_object_mut() {
                o.remove("tenant_id");
            }
            body.to_string()
        }
    }
}

/// splitmix64 (Steele, Lea, Flood 2014): enough to spread a request mix and drive the gate's
/// resampling; no `rand` dependency, so results never change with a crate upgrade.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform index in `0..n` (multiply-shift; the bias is below 2^-50 for our n).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal draw (Box-Muller), for noise in tests and simulations.
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (1.0 - self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
