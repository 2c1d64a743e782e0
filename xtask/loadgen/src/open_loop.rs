//! The open model (the wrk2 idea): requests arrive at a constant total rate whatever the
//! server does, and each one's latency runs from its *intended* send time. A server stall
//! thus delays every request scheduled during it, and the percentiles show it, instead of
//! the sender politely waiting (coordinated omission).
//!
//! Each connection runs on its own OS thread with its own current_thread runtime and waits
//! for its send times in a blocking, precise way (see [`crate::pacing`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::conn::{Client, Target};
use crate::coord::{self, Budget, StartGate, WorkerResult};
use crate::error::Error;
use crate::pacing::{self, Pacer};
use crate::stats;

/// The send times of one connection: connection k of N at total rate R sends at
/// `start + k/R + i·N/R`, so the N schedules interleave evenly.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    offset_ns: f64,
    period_ns: f64,
}

impl Schedule {
    pub fn new(connection: usize, connections: usize, rate: f64) -> Schedule {
        let slot_ns = 1e9 / rate;
        Schedule {
            offset_ns: connection as f64 * slot_ns,
            period_ns: connections as f64 * slot_ns,
        }
    }

    /// Intended send time of request `i`, relative to the start.
    pub fn at(&self, i: u64) -> Duration {
        // Computed from i (not accumulated) so rounding errors do not drift over a long run.
        Duration::from_nanos((self.offset_ns + i as f64 * self.period_ns) as u64)
    }
}

/// Runs one OS thread per connection.
pub fn run(cfg: &Config, target: &Arc<Target>) -> Result<Vec<WorkerResult>, Error> {
    let rate = cfg
        .rate
        .expect("validated: the open model always has a rate");
    let gate = StartGate::new(cfg.connections);
    let budget = Budget::new(cfg.max_requests);
    coord::run_workers(cfg.connections, cfg.cpu, &gate, |k| {
        let client = Client::new(Arc::clone(target), k);
        let schedule = Schedule::new(k, cfg.connections, rate);
        run_connection(cfg, client, schedule, &gate, &budget)
    })
}

fn run_connection(
    cfg: &Config,
    mut client: Client,
    schedule: Schedule,
    gate: &StartGate,
    budget: &Budget,
) -> Result<Vec<WorkerResult>, Error> {
    pacing::set_fine_timer_slack();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    // Connect before the start so the handshake is not measured.
    let _ = runtime.block_on(client.ensure_connected(None));
    let Some(start) = gate.wait() else {
        return Ok(Vec::new());
    };
    let deadline = start + cfg.duration;
    let mut pacer = Pacer::default();
    let mut sending_ended = deadline;
    let mut send_lag = stats::new_histogram();
    let mut i = 0;
    loop {
        let intended = start + schedule.at(i);
        let now = Instant::now();
        if intended >= deadline || now >= deadline {
            break;
        }
        // (Re)connect in the idle time before the send slot: the reconnect only shows in
        // the latency if it makes the request late, as it would for a real client.
        if let Err(backoff) = runtime.block_on(client.ensure_connected(Some(deadline))) {
            // The schedule runs on while the server is unreachable; the requests it missed
            // are sent once a connection is back, each measured from its intended time.
            std::thread::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())));
            continue;
        }
        pacer.wait_until(intended);
        let sent_at = Instant::now();
        if sent_at >= deadline {
            break;
        }
        if !budget.take() {
            sending_ended = sent_at;
            break;
        }
        stats::record_ns(&mut send_lag, sent_at.saturating_duration_since(intended));
        let outcome = runtime.block_on(client.exchange());
        client.stats.record(outcome, intended.elapsed());
        i += 1;
    }
    Ok(vec![WorkerResult {
        stats: client.stats,
        started: start,
        // The run lasts until the deadline even when the last response came in before it.
        finished: Instant::now().max(sending_ended),
        sending_ended,
        send_lag,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_interleave_evenly() {
        // 4 connections at 1000 req/s: every millisecond one of them sends.
        let mut times: Vec<Duration> = (0..4)
            .flat_map(|k| {
                let schedule = Schedule::new(k, 4, 1000.0);
                (0..3).map(move |i| schedule.at(i))
            })
            .collect();
        times.sort();
        let want: Vec<Duration> = (0..12).map(Duration::from_millis).collect();
        assert_eq!(times, want);
    }

    #[test]
    fn long_schedules_do_not_drift() {
        let schedule = Schedule::new(0, 1, 3.0);
        let t = schedule.at(3 * 3600);
        assert!(t.abs_diff(Duration::from_secs(3600)) < Duration::from_micros(1));
    }
}
