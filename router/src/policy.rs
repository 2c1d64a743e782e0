//! Routing policies: the per-tenant JSON files, their validation, and the in-memory
//! form the decision core reads (weights pre-summed, fallback ids resolved to indices).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The sample policy set shipped with the router, used when no `--policies` directory is
/// given. Embedded so the binary works from any working directory (the perf harness runs
/// it from a temporary one).
pub const SAMPLE_POLICIES: &[(&str, &str)] = &[
    ("acme.json", include_str!("../policies/acme.json")),
    ("globex.json", include_str!("../policies/globex.json")),
    ("initech.json", include_str!("../policies/initech.json")),
];

/// A policy file that could not be used, naming the file and the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("reading policy directory {dir}: {source}")]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("reading policy file {file}: {source}")]
    ReadFile {
        file: String,
        source: std::io::Error,
    },
    #[error("policy file {file}: {message}")]
    Parse { file: String, message: String },
    #[error("policy file {file}: field `{field}`: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
    #[error("no policy files (*.json) in {dir}")]
    Empty { dir: PathBuf },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    tenant_id: String,
    default_policy: String,
    policies: Vec<PolicyFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    policy_id: String,
    version: String,
    providers: Vec<ProviderFile>,
    #[serde(default)]
    fallback: Vec<String>,
    #[serde(default)]
    sticky: StickyFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderFile {
    id: String,
    weight: u32,
    expected_latency_ms: Option<f64>,
    expected_cost: Option<f64>,
    #[serde(default = "yes")]
    healthy: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StickyFile {
    #[serde(default)]
    enabled: bool,
    ttl_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

/// One provider a policy can route to.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub weight: u32,
    pub expected_latency_ms: Option<f64>,
    pub expected_cost: Option<f64>,
    pub healthy: bool,
}

/// A validated policy, ready for the hot path.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Unique across the whole set; lets the sticky store key entries by number, not string.
    pub uid: u32,
    pub policy_id: String,
    pub version: String,
    pub providers: Vec<Provider>,
    /// `cumulative[i]` is the sum of the weights of providers `0..=i`; the last is the total.
    pub cumulative: Vec<u64>,
    /// Indices into `providers`, tried in order when the weighted choice is not eligible.
    pub fallback: Vec<usize>,
    pub sticky: bool,
    /// Per-policy sticky TTL; `None` means the router's `--sticky-ttl`.
    pub sticky_ttl: Option<Duration>,
}

impl Policy {
    pub fn total_weight(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }
}

/// A tenant's policies and which one applies when a request names none.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub policies: HashMap<String, Policy>,
    pub default_policy: String,
}

/// Every tenant's policies.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    tenants: HashMap<String, Tenant>,
}

/// Why a lookup found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    UnknownTenant,
    UnknownPolicy,
}

impl PolicySet {
    /// The sample set shipped in `router/policies/`.
    pub fn sample() -> Self {
        Self::from_sources(
            SAMPLE_POLICIES
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string())),
        )
        .expect("the shipped sample policies are valid")
    }

    /// Loads every `*.json` file in `dir` (sorted by name, so loading is reproducible).
    pub fn load_dir(dir: &Path) -> Result<Self, PolicyError> {
        let read_dir = |source| PolicyError::ReadDir {
            dir: dir.to_path_buf(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(read_dir)?;
        files.retain(|p| p.extension().is_some_and(|e| e == "json"));
        files.sort();
        if files.is_empty() {
            return Err(PolicyError::Empty {
                dir: dir.to_path_buf(),
            });
        }
        let mut sources = Vec::with_capacity(files.len());
        for path in files {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|source| PolicyError::ReadFile {
                file: name.clone(),
                source,
            })?;
            sources.push((name, text));
        }
        Self::from_sources(sources)
    }

    /// Parses and validates `(file name, JSON text)` pairs.
    pub fn from_sources(
        sources: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, PolicyError> {
        let mut set = PolicySet::default();
        let mut next_uid = 0u32;
        for (file, text) in sources {
            let parsed: TenantFile =
                serde_json::from_str(&text).map_err(|e| PolicyError::Parse {
                    file: file.clone(),
                    message: e.to_string(),
                })?;
            let tenant = build_tenant(&file, parsed, &mut next_uid, &set)?;
            set.tenants.insert(tenant.0, tenant.1);
        }
        Ok(set)
    }

    /// The policy for a tenant: the named one, else the tenant's default.
    pub fn lookup(&self, tenant_id: &str, policy_id: Option<&str>) -> Result<&Policy, LookupError> {
        let tenant = self
            .tenants
            .get(tenant_id)
            .ok_or(LookupError::UnknownTenant)?;
        let id = policy_id.unwrap_or(&tenant.default_policy);
        tenant.policies.get(id).ok_or(LookupError::UnknownPolicy)
    }

    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }
}

fn build_tenant(
    file: &str,
    parsed: TenantFile,
    next_uid: &mut u32,
    set: &PolicySet,
) -> Result<(String, Tenant), PolicyError> {
    let invalid = |field: String, message: &str| PolicyError::Invalid {
        file: file.to_string(),
        field,
        message: message.to_string(),
    };
    if parsed.tenant_id.trim().is_empty() {
        return Err(invalid("tenant_id".into(), "must not be empty"));
    }
    if set.tenants.contains_key(&parsed.tenant_id) {
        return Err(invalid(
            "tenant_id".into(),
            "tenant is defined in another file too",
        ));
    }
    if parsed.policies.is_empty() {
        return Err(invalid("policies".into(), "expected at least one policy"));
    }
    let mut policies = HashMap::new();
    for (pi, p) in parsed.policies.into_iter().enumerate() {
        let at = |field: &str| format!("policies[{pi}].{field}");
        if p.policy_id.trim().is_empty() {
            return Err(invalid(at("policy_id"), "must not be empty"));
        }
        if policies.contains_key(&p.policy_id) {
            return Err(invalid(
                at("policy_id"),
                "duplicate policy_id in this tenant",
            ));
        }
        if p.providers.is_empty() {
            return Err(invalid(at("providers"), "expected at least one provider"));
        }
        let mut providers = Vec::with_capacity(p.providers.len());
        let mut cumulative = Vec::with_capacity(p.providers.len());
        let mut total = 0u64;
        for (i, prov) in p.providers.into_iter().enumerate() {
            let field = |f: &str| at(&format!("providers[{i}].{f}"));
            if prov.id.trim().is_empty() {
                return Err(invalid(field("id"), "must not be empty"));
            }
            if providers.iter().any(|x: &Provider| x.id == prov.id) {
                return Err(invalid(field("id"), "duplicate provider id in this policy"));
            }
            for (name, value) in [
                ("expected_latency_ms", prov.expected_latency_ms),
                ("expected_cost", prov.expected_cost),
            ] {
                if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
                    return Err(invalid(field(name), "expected a non-negative number"));
                }
            }
            total += u64::from(prov.weight);
            cumulative.push(total);
            providers.push(Provider {
                id: prov.id,
                weight: prov.weight,
                expected_latency_ms: prov.expected_latency_ms,
                expected_cost: prov.expected_cost,
                healthy: prov.healthy,
            });
        }
        if total == 0 {
            return Err(invalid(
                at("providers"),
                "expected at least one provider with weight > 0",
            ));
        }
        let mut fallback = Vec::with_capacity(p.fallback.len());
        for (i, id) in p.fallback.iter().enumerate() {
            match providers.iter().position(|x| &x.id == id) {
                Some(idx) => fallback.push(idx),
                None => {
                    return Err(invalid(
                        at(&format!("fallback[{i}]")),
                        &format!(
                            "unknown provider `{id}` (fallback entries must be listed in providers)"
                        ),
                    ));
                }
            }
        }
        if p.sticky.ttl_ms == Some(0) {
            return Err(invalid(
                at("sticky.ttl_ms"),
                "expected a TTL greater than 0",
            ));
        }
        let policy = Policy {
            uid: *next_uid,
            policy_id: p.policy_id.clone(),
            version: p.version,
            providers,
            cumulative,
            fallback,
            sticky: p.sticky.enabled,
            sticky_ttl: p.sticky.ttl_ms.map(Duration::from_millis),
        };
        *next_uid += 1;
        policies.insert(p.policy_id, policy);
    }
    if !policies.contains_key(&parsed.default_policy) {
        return Err(invalid(
            "default_policy".into(),
            &format!(
                "names `{}`, which is not among this tenant's policies",
                parsed.default_policy
            ),
        ));
    }
    Ok((
        parsed.tenant_id,
        Tenant {
            policies,
            default_policy: parsed.default_policy,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<PolicySet, PolicyError> {
        PolicySet::from_sources([("t.json".to_string(), text.to_string())])
    }

    #[test]
    fn sample_set_loads() {
        let set = PolicySet::sample();
        assert_eq!(set.tenant_count(), 3);
        let p = set.lookup("acme", None).unwrap();
        assert_eq!(p.policy_id, "default");
        assert_eq!(p.total_weight(), 100);
        assert_eq!(
            set.lookup("acme", Some("nope")).unwrap_err(),
            LookupError::UnknownPolicy
        );
        assert_eq!(
            set.lookup("nobody", None).unwrap_err(),
            LookupError::UnknownTenant
        );
    }

    #[test]
    fn bad_files_name_the_field() {
        let cases = [
            (
                r#"{"tenant_id":"t","default_policy":"p","policies":[]}"#,
                "policies",
            ),
            (
                r#"{"tenant_id":"t","default_policy":"x","policies":[{"policy_id":"p","version":"1","providers":[{"id":"a","weight":1}]}]}"#,
                "default_policy",
            ),
            (
                r#"{"tenant_id":"t","default_policy":"p","policies":[{"policy_id":"p","version":"1","providers":[{"id":"a","weight":0}]}]}"#,
                "policies[0].providers",
            ),
            (
                r#"{"tenant_id":"t","default_policy":"p","policies":[{"policy_id":"p","version":"1","providers":[{"id":"a","weight":1}],"fallback":["b"]}]}"#,
                "policies[0].fallback[0]",
            ),
            (
                r#"{"tenant_id":"t","default_policy":"p","policies":[{"policy_id":"p","version":"1","providers":[{"id":"a","weight":1},{"id":"a","weight":1}]}]}"#,
                "policies[0].providers[1].id",
            ),
            (
                r#"{"tenant_id":"t","default_policy":"p","policies":[{"policy_id":"p","version":"1","providers":[{"id":"a","weight":1,"expected_cost":-1}]}]}"#,
                "policies[0].providers[0].expected_cost",
            ),
        ];
        for (text, field) in cases {
            match load(text) {
                Err(PolicyError::Invalid { field: f, file, .. }) => {
                    assert_eq!(f, field, "{text}");
                    assert_eq!(file, "t.json");
                }
                other => panic!("expected invalid {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_parse_errors() {
        for text in [
            r#"{"tenant_id":"t","default_policy":"p","policies":[],"extra":1}"#,
            r#"{"tenant_id":"t","default_policy":"p","policies":[{"policy_id":"p","version":"1","providers":[{"id":"a","weight":"heavy"}]}]}"#,
            "not json",
        ] {
            let err = load(text).unwrap_err();
            assert!(matches!(err, PolicyError::Parse { .. }), "{text}: {err}");
            assert!(err.to_string().contains("t.json"));
        }
    }
}
