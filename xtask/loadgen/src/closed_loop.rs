//! The closed model: every connection sends its next request as soon as the previous
//! response is in. It measures the most the server can serve; its latencies hide stalls
//! (a stalled server also stalls the sender), which is why latency is taken open-loop.
//!
//! With several targets, each has its own connections and budget; their connections share
//! the threads, each running back to back on its own.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::conn::{Client, Target};
use crate::coord::{self, Budget, StartGate, WorkerResult};
use crate::error::Error;
use crate::stats;

/// Runs `cfg.worker_threads()` OS threads, each a tokio current_thread runtime owning an
/// equal share of every target's connections (connection k of each target goes to thread
/// k mod T). Returns the connections' results grouped by target, indexed like `targets`.
pub fn run(cfg: &Config, targets: &[Arc<Target>]) -> Result<Vec<Vec<WorkerResult>>, Error> {
    let threads = cfg.worker_threads();
    let gate = StartGate::new(threads);
    let budgets: Vec<_> = targets
        .iter()
        .map(|_| Arc::new(Budget::new(cfg.max_requests)))
        .collect();
    coord::run_workers(threads, cfg.cpu, &gate, |thread| {
        let clients = coord::thread_clients(targets, thread, threads, cfg.connections);
        run_thread(cfg, clients, &gate, &budgets)
    })
}

/// `clients[j]` and `budgets[j]` are target j's.
fn run_thread(
    cfg: &Config,
    mut clients: Vec<Vec<Client>>,
    gate: &StartGate,
    budgets: &[Arc<Budget>],
) -> Result<Vec<Vec<WorkerResult>>, Error> {
    let runtime = coord::connected_runtime(&mut clients)?;
    let Some(start) = gate.wait() else {
        return Ok(Vec::new());
    };
    let deadline = start + cfg.duration;
    runtime.block_on(async {
        let tasks = coord::spawn_interleaved(clients, |target, client| {
            drive(client, start, deadline, Arc::clone(&budgets[target]))
        });
        coord::join_grouped(tasks).await
    })
}

/// One connection's loop, bounded by the deadline and the budget. A request in flight at
/// the deadline is still awaited (up to the timeout) and counted.
async fn drive(
    mut client: Client,
    start: Instant,
    deadline: Instant,
    budget: Arc<Budget>,
) -> WorkerResult {
    let mut sending_ended = deadline;
    loop {
        if Instant::now() >= deadline {
            break;
        }
        if let Err(backoff) = client.ensure_connected(Some(deadline)).await {
            let retry_at = (Instant::now() + backoff).min(deadline);
            tokio::time::sleep_until(retry_at.into()).await;
            continue;
        }
        if Instant::now() >= deadline {
            break;
        }
        if !budget.take() {
            sending_ended = Instant::now().min(deadline);
            break;
        }
        let sent_at = Instant::now();
        let (body, outcome) = client.exchange().await;
        client.record(body, outcome, sent_at - start, sent_at.elapsed());
    }
    WorkerResult {
        stats: client.stats,
        started: start,
        finished: Instant::now(),
        sending_ended,
        send_lag: stats::new_histogram(),
    }
}
