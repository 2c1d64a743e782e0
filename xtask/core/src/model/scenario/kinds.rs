//! Parameters of the `kinds` scenario, as its workload file states them (the runner is
//! `bench::scenario::kinds`).

use serde::{Deserialize, Serialize};

/// None (`{}`): `mixed` and `payloads` run the workload's phases.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}
