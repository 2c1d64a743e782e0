//! What the worker threads share: a start gate so every connection starts measuring at the
//! same instant, the request budgets (`--max-requests`, one per target), and how the
//! targets' connections are laid out over the threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

use crate::affinity;
use crate::conn::{Client, Target};
use crate::error::Error;
use crate::stats::Stats;

/// Holds workers back until all of them are ready (connected, or failed to), then releases
/// them with one shared start instant. Connection setup is thus not part of the measured
/// run, and the staggered open-loop schedules line up.
#[derive(Debug)]
pub struct StartGate {
    state: Mutex<GateState>,
    opened: Condvar,
}

#[derive(Debug)]
struct GateState {
    /// Workers still expected at the gate.
    missing: usize,
    /// Set once, when the last worker arrives.
    start: Option<Instant>,
    /// Set when a worker will never arrive (its thread failed to spawn).
    aborted: bool,
}

impl StartGate {
    pub fn new(workers: usize) -> StartGate {
        StartGate {
            state: Mutex::new(GateState {
                missing: workers,
                start: None,
                aborted: false,
            }),
            opened: Condvar::new(),
        }
    }

    /// Blocks until every worker has arrived; `None` if the run was aborted instead.
    pub fn wait(&self) -> Option<Instant> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.missing = state.missing.saturating_sub(1);
        if state.missing == 0 && state.start.is_none() {
            state.start = Some(Instant::now());
            self.opened.notify_all();
        }
        let state = self
            .opened
            .wait_while(state, |s| s.start.is_none() && !s.aborted)
            .unwrap_or_else(PoisonError::into_inner);
        if state.aborted { None } else { state.start }
    }

    /// Releases everyone waiting without starting the run.
    pub fn abort(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.aborted = true;
        self.opened.notify_all();
    }
}

/// The hard bound on requests sent to one target, shared by all its connections.
#[derive(Debug)]
pub struct Budget {
    max: u64,
    taken: AtomicU64,
}

impl Budget {
    pub fn new(max: u64) -> Budget {
        Budget {
            max,
            taken: AtomicU64::new(0),
        }
    }

    /// Claims one request; false once the budget is spent.
    pub fn take(&self) -> bool {
        // Relaxed is enough: only the count matters, not ordering with other memory.
        self.taken.fetch_add(1, Ordering::Relaxed) < self.max
    }
}

/// What one worker thread hands back.
#[derive(Debug)]
pub struct WorkerResult {
    pub stats: Stats,
    /// The run's common start, from the gate.
    pub started: Instant,
    /// When the worker's last request finished (the run's end is the latest of these).
    pub finished: Instant,
    /// When the worker stopped sending: the deadline, or earlier if the budget ran out.
    pub sending_ended: Instant,
    /// Open model: how late each send started after its intended time, in nanoseconds
    /// (empty for the closed model). Shows whether the generator kept its schedule.
    pub send_lag: Histogram<u64>,
}

/// Thread `thread`'s connections, grouped by target (indexed like `targets`): connection
/// numbers `thread, thread + threads, ...` below `connections`, the same numbers for every
/// target. Every thread thus holds the same number of connections of each target, and
/// a target's connection k goes to the same thread as with that target alone.
pub fn thread_clients(
    targets: &[Arc<Target>],
    thread: usize,
    threads: usize,
    connections: usize,
) -> Vec<Vec<Client>> {
    targets
        .iter()
        .map(|target| {
            (thread..connections)
                .step_by(threads)
                .map(|k| Client::new(Arc::clone(target), k))
                .collect()
        })
        .collect()
}

/// A worker thread's current_thread runtime, with its clients connected before the start so
/// handshakes are not measured (a failure is counted and retried by the load loop).
pub fn connected_runtime(clients: &mut [Vec<Client>]) -> Result<tokio::runtime::Runtime, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(async {
        for client in clients.iter_mut().flatten() {
            let _ = client.ensure_connected(None).await;
        }
    });
    Ok(runtime)
}

/// Spawns `task(target, client)` for every client on the current runtime, the targets'
/// clients interleaved (the first of each target, then the second of each, ...) so that
/// the runtime's run queue, which is first in first out, favours no target. The handles
/// come back grouped by target like `clients`.
pub fn spawn_interleaved<F, Fut>(
    clients: Vec<Vec<Client>>,
    mut task: F,
) -> Vec<Vec<JoinHandle<WorkerResult>>>
where
    F: FnMut(usize, Client) -> Fut,
    Fut: Future<Output = WorkerResult> + Send + 'static,
{
    let mut handles: Vec<Vec<_>> = clients
        .iter()
        .map(|c| Vec::with_capacity(c.len()))
        .collect();
    let mut queues: Vec<_> = clients.into_iter().map(Vec::into_iter).collect();
    loop {
        let mut spawned = false;
        for (target, queue) in queues.iter_mut().enumerate() {
            if let Some(client) = queue.next() {
                handles[target].push(tokio::spawn(task(target, client)));
                spawned = true;
            }
        }
        if !spawned {
            return handles;
        }
    }
}

/// Awaits tasks from [`spawn_interleaved`], keeping their grouping by target.
pub async fn join_grouped(
    handles: Vec<Vec<JoinHandle<WorkerResult>>>,
) -> Result<Vec<Vec<WorkerResult>>, Error> {
    let mut results = Vec::with_capacity(handles.len());
    for target in handles {
        let mut mine = Vec::with_capacity(target.len());
        for handle in target {
            mine.push(handle.await.map_err(|_| Error::WorkerPanicked)?);
        }
        results.push(mine);
    }
    Ok(results)
}

/// Runs `work(i)` for `i in 0..count`, each on its own named OS thread (pinned to `cpu` if
/// given), and collects their results, which each worker returns grouped by target: the
/// result's entry j holds target j's connections of every worker (a target no worker
/// reported on may be missing at the end). The first error wins; a worker that fails or
/// panics aborts the gate so the others are not left waiting for it forever.
pub fn run_workers<F>(
    count: usize,
    cpu: Option<usize>,
    gate: &StartGate,
    work: F,
) -> Result<Vec<Vec<WorkerResult>>, Error>
where
    F: Fn(usize) -> Result<Vec<Vec<WorkerResult>>, Error> + Sync,
{
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(count);
        let mut first_error = None;
        for i in 0..count {
            let work = &work;
            let spawned = std::thread::Builder::new()
                .name(format!("loadgen-{i}"))
                .spawn_scoped(scope, move || {
                    let _guard = AbortOnFailure(gate);
                    if let Some(cpu) = cpu {
                        // The mask was checked on this CPU before any worker started.
                        if let Err(err) = affinity::pin_current_thread(cpu) {
                            eprintln!("loadgen: pinning worker {i} to CPU {cpu}: {err}");
                        }
                    }
                    let result = work(i);
                    if result.is_err() {
                        gate.abort();
                    }
                    result
                });
            match spawned {
                Ok(handle) => handles.push(handle),
                Err(err) => {
                    gate.abort();
                    first_error = Some(Error::Thread(err));
                    break;
                }
            }
        }
        let mut results: Vec<Vec<WorkerResult>> = Vec::new();
        for handle in handles {
            match handle.join() {
                Ok(Ok(worker)) => {
                    if results.len() < worker.len() {
                        results.resize_with(worker.len(), Vec::new);
                    }
                    for (mine, mut theirs) in results.iter_mut().zip(worker) {
                        mine.append(&mut theirs);
                    }
                }
                Ok(Err(err)) => {
                    first_error.get_or_insert(err);
                }
                Err(_panic) => {
                    first_error.get_or_insert(Error::WorkerPanicked);
                }
            }
        }
        match first_error {
            Some(err) => Err(err),
            None => Ok(results),
        }
    })
}

/// Aborts the gate if the worker thread unwinds, so a panic cannot deadlock the others.
struct AbortOnFailure<'a>(&'a StartGate);

impl Drop for AbortOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn gate_releases_everyone_with_one_start() {
        let gate = Arc::new(StartGate::new(3));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let gate = Arc::clone(&gate);
                std::thread::spawn(move || gate.wait())
            })
            .collect();
        let starts: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(starts[0].is_some());
        assert!(starts.iter().all(|s| *s == starts[0]));
    }

    #[test]
    fn aborted_gate_releases_with_none() {
        let gate = Arc::new(StartGate::new(2));
        let waiter = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || gate.wait())
        };
        gate.abort();
        assert_eq!(waiter.join().unwrap(), None);
    }

    #[test]
    fn budget_is_a_hard_bound() {
        let budget = Budget::new(3);
        let taken = (0..10).filter(|_| budget.take()).count();
        assert_eq!(taken, 3);
    }
}
