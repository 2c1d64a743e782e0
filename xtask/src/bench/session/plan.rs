//! What a session runs: the arms (the candidate, and a paired reference) and the plan checked
//! before anything is built.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::bench::Options;
use crate::bench::counters::{self, Chosen};
use crate::model::run_file::Git;
use crate::model::workload::{Transport, Workload};

/// The router's test-only knobs (see router/src/config.rs): they slow the router under test on
/// purpose, so a reference build never gets them.
pub const TEST_KNOBS: [&str; 3] = [
    "ROUTER_TEST_SLOWDOWN_ITERS",
    "ROUTER_TEST_DELAY_US",
    "ROUTER_TEST_DELAY_EVERY",
];

/// Trials when neither `--trials` nor the workload says.
pub(crate) const DEFAULT_TRIALS: u32 = 5;

/// A router under test in one session: the working tree's, or a reference build.
#[derive(Debug, Clone)]
pub(crate) struct Arm {
    /// Artifact name prefix (`perf_baseline` for the candidate, as DESIGN.md names it).
    pub prefix: &'static str,
    /// Prefix of the arm's Markdown summary: `perf_summary` for the candidate.
    pub summary: &'static str,
    /// A prebuilt router; `None` means the working tree's, built (or `--router-bin`).
    pub router_bin: Option<PathBuf>,
    /// Git identity to record; `None` means the working tree's.
    pub git: Option<Git>,
}

impl Arm {
    pub fn candidate() -> Arm {
        Arm {
            prefix: "perf_baseline",
            summary: "perf_summary",
            router_bin: None,
            git: None,
        }
    }
}

/// A paired session: which reference the candidate alternates with.
#[derive(Debug, Clone)]
pub struct Pairing {
    pub against: String,
    pub commit: String,
    pub reference_bin: PathBuf,
}

impl Pairing {
    /// The two arms of a paired session: the reference first, then the candidate.
    pub(crate) fn arms(&self) -> Vec<Arm> {
        vec![
            Arm {
                prefix: "perf_reference",
                summary: "perf_reference_summary",
                router_bin: Some(self.reference_bin.clone()),
                git: Some(Git {
                    commit: Some(self.commit.clone()),
                    dirty: Some(false),
                    reference: Some(self.against.clone()),
                }),
            },
            Arm::candidate(),
        ]
    }
}

/// The inputs of a run, checked before anything is built or started: a bad workload, a
/// missing nats-server or a counter the machine lacks is bad input (exit 2).
pub(crate) struct Plan {
    pub workload: Workload,
    pub(super) workload_path: PathBuf,
    /// Trials of the first round.
    pub trials: u32,
    pub(super) transport: Transport,
    pub(super) nats_version: Option<String>,
    pub(super) counter: Option<Chosen>,
    /// strace, when counting and it can trace here: system calls are counted beside the
    /// instructions. Else why not (for the log), when counting.
    pub(super) strace: Result<PathBuf, String>,
}

impl Plan {
    pub fn new(args: &Options) -> Result<Plan> {
        let workload_path = crate::model::paths::resolve_workload(
            &crate::model::paths::perf_root(),
            &args.workload,
        );
        let workload = Workload::load(&workload_path)?;
        let trials = args.trials.or(workload.trials).unwrap_or(DEFAULT_TRIALS);
        if trials == 0 {
            bail!("--trials: expected at least 1");
        }
        let transport = args.transport.unwrap_or(workload.transport);
        if workload.failover.is_some() && transport != Transport::Nats {
            bail!(
                "workload {} is a NATS failover workload; it cannot run with --transport {}",
                workload.name,
                transport.as_str()
            );
        }
        let nats_version = (transport == Transport::Nats)
            .then(crate::bench::nats::version)
            .transpose()?;
        // `auto` probes the machine here: `perf` without hardware counters, or callgrind
        // without valgrind, is bad input before anything starts.
        let counter = args
            .counters
            .or(workload.counters)
            .map(counters::choose)
            .transpose()?;
        let strace = match counter {
            Some(_) => crate::bench::syscalls::strace_path().map_err(|e| format!("{e:#}")),
            None => Err("nothing is counted".to_string()),
        };
        Ok(Plan {
            workload,
            workload_path,
            trials,
            transport,
            nats_version,
            counter,
            strace,
        })
    }

    pub fn counts(&self) -> bool {
        self.counter.is_some()
    }
}
