//! A session's run files: one per arm, as they stand or written at the end.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::{Value, json};

use std::path::PathBuf;

use super::{Session, Status};
use crate::bench::interrupt;
use crate::bench::runner::Trial;
use crate::bench::waits::{LISTED_WAIT_SHARE, Waits};
use crate::gate::stats::summarize;
use crate::model::artifacts;
use crate::model::metric::wait_share;
use crate::model::run_file::{self, Failover, Histograms, MetricValue, Paired, RunFile};

/// What a bench run left behind.
#[derive(Debug, Clone)]
pub struct BenchOutcome {
    /// The raw-run JSON (`perf_baseline_<ts>.json`), always written.
    pub artifact: PathBuf,
    /// Where its Markdown summary goes (claimed with the run's other artifacts).
    pub summary: PathBuf,
    pub run: RunFile,
    /// True when the run did not complete (`run.status` is not `ok`).
    pub failed: bool,
}

impl Session<'_> {
    /// The run files as they stand: one per arm, in the arms' order (reference first).
    pub(crate) fn run_files(&self) -> Vec<RunFile> {
        (0..self.arms.len()).map(|i| self.run_file(i)).collect()
    }

    /// Writes the run files and returns them with their paths, in the arms' order. Artifacts
    /// are written whatever the status; the status is in each file's `run`.
    pub fn finish(mut self) -> Result<Vec<BenchOutcome>> {
        if self.status == Status::Ok
            && let Some(signal) = interrupt::received()
        {
            self.fail(Status::Interrupted(format!("received {signal}")));
        }
        let runs = self.run_files();
        // Stop nats-server and remove the bodies before writing: nothing runs after this.
        drop(self.ready.take());
        let failed = self.status != Status::Ok;
        let mut outcomes = Vec::with_capacity(runs.len());
        for (arm, run) in self.arms.iter().zip(runs) {
            outcomes.push(self.out.write(run, [arm.prefix, arm.summary], failed)?);
        }
        self.out.done(&self.status, &outcomes);
        Ok(outcomes)
    }

    /// Arm `i`'s run file.
    fn run_file(&self, i: usize) -> RunFile {
        let (arm, runs, w) = (&self.arms[i], &self.runs[i], &self.plan.workload);
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for t in &runs.trials {
            for (name, v) in &t.metrics {
                values.entry(name.clone()).or_default().push(*v);
            }
        }
        let mut summary = summarize(&values, runs.trials.len());
        // Where the threads waited, over all of the arm's trials together: one share per
        // wait point, not a median of per-trial shares (a point seen in some trials only
        // would be missing from the others).
        let mut waits = Waits::default();
        for t in &runs.trials {
            waits.add(&t.waits);
        }
        for (point, share) in waits.shares(LISTED_WAIT_SHARE) {
            summary
                .metrics
                .insert(wait_share(&point), MetricValue::Number(share));
        }
        if !runs.counted.is_empty() {
            // One value per counting run, not per trial: complete when every run counted.
            let counted = super::counting::by_metric(&runs.counted);
            summary.extend(summarize(&counted, runs.counted.len()));
        }
        RunFile {
            // Where finish writes it: messages about an unwritten run name it already.
            source: self
                .out
                .dir
                .join(format!("{}_{}.json", arm.prefix, self.out.stamp))
                .display()
                .to_string(),
            schema_version: Some(run_file::SCHEMA_VERSION),
            kind: Some(run_file::KIND.into()),
            timestamp: Some(artifacts::now_rfc3339()),
            git: arm
                .git
                .clone()
                .unwrap_or_else(|| crate::bench::env_info::git(&self.out.sh)),
            env: self.environment(i),
            workload: Some(w.name.clone()),
            workload_description: Some(w.description.clone()),
            trials: Some(self.done.max(self.plan.trials)),
            trials_completed: Some(runs.trials.len() as u32),
            metrics: summary.metrics,
            samples: summary.samples,
            spread: summary.spread,
            run: self
                .status
                .run_status(self.out.started.elapsed(), !self.args.no_warmup),
            phases: runs.trials.iter().map(|t| t.phases.clone()).collect(),
            router_stop: runs.trials.iter().map(|t| t.stop).collect(),
            histograms: Histograms {
                latency: runs.trials.iter().map(|t| t.histogram.clone()).collect(),
            },
            paired: self.pairing.as_ref().map(|p| Paired {
                against: p.against.clone(),
                reference_commit: Some(p.commit.clone()),
                order: Some("alternating per trial: AB, BA, AB, ...".into()),
                reference_file: Some(format!("{}_{}.json", self.arms[0].prefix, self.out.stamp)),
            }),
            failover: w.failover.map(|f| Failover {
                kill_after_ms: Some(f.kill_after_ms),
                router_killed: runs.trials.iter().map(|t| t.killed).collect(),
            }),
            ..RunFile::default()
        }
    }

    fn environment(&self, i: usize) -> run_file::Env {
        let (runs, w) = (&self.runs[i], &self.plan.workload);
        let knob = |f: fn(&Trial) -> f64| runs.trials.iter().map(f).fold(0.0, f64::max);
        let slowdown = knob(|t| t.knobs.slowdown_iterations);
        let delay_us = knob(|t| t.knobs.delay_us);
        let delay_every = knob(|t| t.knobs.delay_every);
        let bin = self.ready.as_ref().map(|r| r.specs[i].bin.clone());
        let Value::Object(mut extra) = json!({
            "slowdown_knob": slowdown > 0.0 || delay_us > 0.0,
            "slowdown_iterations": slowdown,
            "affinity": self.pin.map(|(r, l)| json!({"router": [r], "loadgen": [l]})),
            "router_flags": w.router_args.iter().chain(&self.args.router_args).collect::<Vec<_>>(),
            "router_bin": bin.as_ref().map(|b| b.display().to_string()),
            "load": {
                "generator": "loadgen (hyper, HTTP/1.1 keep-alive, HDR histograms)",
                "warmup": w.warmup,
                "phases": w.phases,
                "scenario": w.scenario,
                "distinct_bodies": w.mix.distinct_bodies,
                "seed": w.mix.seed,
            },
            "transport": self.plan.transport.as_str(),
        }) else {
            unreachable!("an object literal")
        };
        if delay_us > 0.0 {
            extra.insert("delay_us".into(), json!(delay_us));
            extra.insert("delay_every".into(), json!(delay_every));
        }
        // A debug router (the tests', `--debug-build`) says so: its numbers are not a
        // release build's, and the environment check compares profiles.
        if let Some(profile) = bin.as_deref().and_then(crate::bench::env_info::profile_of) {
            extra.insert("profile".into(), json!(profile));
        }
        if let Some(counter) = &self.plan.counter {
            // The counter used, `auto` resolved; what was asked for when it differs.
            extra.insert("counters".into(), json!(counter.name()));
            if counter.requested.as_str() != counter.name() {
                extra.insert(
                    "counters_requested".into(),
                    json!(counter.requested.as_str()),
                );
            }
            if let Some(version) = &counter.valgrind_version {
                extra.insert("valgrind_version".into(), json!(version));
            }
            extra.insert("counter_requests".into(), json!(self.args.counter_requests));
        }
        if let Some(version) = &self.plan.nats_version {
            // A real nats-server on loopback, not an in-process stand-in.
            extra.insert("nats_mode".into(), json!("real"));
            extra.insert("nats_server_version".into(), json!(version));
        }
        crate::bench::env_info::machine(&self.out.sh, extra)
    }
}
