//! The closed model: every connection sends its next request as soon as the previous
//! response is in. It measures the most the server can serve; its latencies hide stalls
//! (a stalled server also stalls the sender), which is why latency is taken open-loop.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::conn::{Client, Target};
use crate::coord::{self, Budget, StartGate, WorkerResult};
use crate::error::Error;
use crate::stats;

/// Runs `cfg.worker_threads()` OS threads, each a tokio current_thread runtime owning an
/// equal share of the connections (connection k goes to thread k mod T).
pub fn run(cfg: &Config, target: &Arc<Target>) -> Result<Vec<WorkerResult>, Error> {
    let threads = cfg.worker_threads();
    let gate = StartGate::new(threads);
    let budget = Arc::new(Budget::new(cfg.max_requests));
    coord::run_workers(threads, cfg.cpu, &gate, |thread| {
        let clients = (thread..cfg.connections)
            .step_by(threads)
            .map(|k| Client::new(Arc::clone(target), k))
            .collect();
        run_thread(cfg, clients, &gate, &budget)
    })
}

fn run_thread(
    cfg: &Config,
    mut clients: Vec<Client>,
    gate: &StartGate,
    budget: &Arc<Budget>,
) -> Result<Vec<WorkerResult>, Error> {
    let runtime = coord::connected_runtime(&mut clients)?;
    let Some(start) = gate.wait() else {
        return Ok(Vec::new());
    };
    let deadline = start + cfg.duration;
    runtime.block_on(async {
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|client| tokio::spawn(drive(client, start, deadline, Arc::clone(budget))))
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await.map_err(|_| Error::WorkerPanicked)?);
        }
        Ok(results)
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
