//! The open model (the wrk2 idea): requests arrive at a constant total rate whatever the
//! server does, and each one's latency runs from its *intended* send time. A server stall
//! thus delays every request scheduled during it, and the percentiles show it, instead of
//! the sender politely waiting (coordinated omission).
//!
//! A few OS threads (one by default) each run a current_thread runtime: a dispatcher
//! releases requests at their intended times with a precise timer ([`crate::pacing`]) into
//! a queue, and the thread's connections take them as they are free. Requests that find
//! every connection busy wait in the queue, and that wait is part of their latency.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::config::Config;
use crate::conn::{Client, Target};
use crate::coord::{self, Budget, StartGate, WorkerResult};
use crate::error::Error;
use crate::pacing::{self, PreciseTimer};
use crate::stats::{self, Outcome};

/// The send times of one sender: sender k of N at total rate R sends at
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

    /// Time between two sends of this sender.
    pub fn period(&self) -> Duration {
        Duration::from_nanos(self.period_ns as u64)
    }

    /// Intended send time of request `i`, relative to the start.
    pub fn at(&self, i: u64) -> Duration {
        // Computed from i (not accumulated) so rounding errors do not drift over a long run.
        Duration::from_nanos((self.offset_ns + i as f64 * self.period_ns) as u64)
    }
}

/// Runs `cfg.worker_threads()` OS threads, each a current_thread runtime with its share of
/// the connections and a share `1/T` of the rate (thread t's schedule is offset by t/R so
/// the threads interleave).
pub fn run(cfg: &Config, target: &Arc<Target>) -> Result<Vec<WorkerResult>, Error> {
    let rate = cfg
        .rate
        .expect("validated: the open model always has a rate");
    let threads = cfg.worker_threads();
    let gate = StartGate::new(threads);
    let budget = Budget::new(cfg.max_requests);
    coord::run_workers(threads, cfg.cpu, &gate, |t| {
        let clients = (t..cfg.connections)
            .step_by(threads)
            .map(|k| Client::new(Arc::clone(target), k))
            .collect();
        let schedule = Schedule::new(t, threads, rate);
        run_thread(cfg, clients, schedule, &gate, &budget)
    })
}

/// Requests that are due but not yet taken by a connection, oldest first. Shared by one
/// thread's tasks only, so the lock is never contended.
#[derive(Default)]
struct Queue {
    due: Mutex<VecDeque<Instant>>,
    ready: Notify,
    /// Set when the schedule has ended; connections drain what is due and stop.
    done: AtomicBool,
    /// Requests sent and not yet answered.
    in_flight: AtomicUsize,
    /// Wakes the busy poller (kept apart from `ready`, whose permits belong to connections).
    sent: Notify,
}

fn run_thread(
    cfg: &Config,
    mut clients: Vec<Client>,
    schedule: Schedule,
    gate: &StartGate,
    budget: &Budget,
) -> Result<Vec<WorkerResult>, Error> {
    let runtime = coord::connected_runtime(&mut clients)?;
    let timer = runtime
        .block_on(async { PreciseTimer::new() })
        .map_err(Error::Runtime)?;
    let Some(start) = gate.wait() else {
        return Ok(Vec::new());
    };
    let deadline = start + cfg.duration;
    let timeout = cfg.timeout;
    runtime.block_on(async {
        let queue = Arc::new(Queue::default());
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|client| tokio::spawn(drive(client, Arc::clone(&queue), start, deadline, timeout)))
            .collect();
        if busy_poll_worth_it(schedule.period()) {
            tokio::spawn(busy_poll(Arc::clone(&queue)));
        }
        let (sending_ended, send_lag) =
            dispatch(&timer, &queue, schedule, start, deadline, budget).await;
        let mut results = Vec::with_capacity(tasks.len());
        for (i, task) in tasks.into_iter().enumerate() {
            let mut result = task.await.map_err(|_| Error::WorkerPanicked)?;
            result.sending_ended = sending_ended;
            // The run lasts until the deadline even when the last response came in before it.
            result.finished = result.finished.max(sending_ended);
            if i == 0 {
                result.send_lag = send_lag.clone();
            }
            results.push(result);
        }
        Ok(results)
    })
}

/// Releases each scheduled request at its intended time. Returns when sending ended and
/// how late, after its intended time, each request was released.
async fn dispatch(
    timer: &PreciseTimer,
    queue: &Queue,
    schedule: Schedule,
    start: Instant,
    deadline: Instant,
    budget: &Budget,
) -> (Instant, hdrhistogram::Histogram<u64>) {
    let mut send_lag = stats::new_histogram();
    let mut sending_ended = deadline;
    let spin = pacing::spin_margin(schedule.period());
    let mut i = 0;
    loop {
        let intended = start + schedule.at(i);
        if intended >= deadline {
            break;
        }
        if timer.sleep_until(intended, spin).await.is_err() {
            // Without the precise timer, tokio's coarse one still keeps the schedule; the
            // lag histogram shows the cost.
            tokio::time::sleep_until(intended.into()).await;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if !budget.take() {
            sending_ended = now;
            break;
        }
        stats::record_ns(&mut send_lag, now - intended);
        queue.due.lock().expect("queue lock").push_back(intended);
        queue.ready.notify_one();
        // Let a connection send it before this task arms the timer for the next one.
        tokio::task::yield_now().await;
        i += 1;
    }
    queue.done.store(true, Ordering::Release);
    queue.ready.notify_waiters();
    queue.sent.notify_one();
    (sending_ended, send_lag)
}

/// At low rates the thread would sleep in `epoll_wait` while each response is on its way,
/// and waking a sleeping CPU costs a VM tens of microseconds that would land in every
/// latency. Sends at least this far apart leave room to poll instead.
const BUSY_POLL_MIN_PERIOD: Duration = Duration::from_micros(400);

fn busy_poll_worth_it(period: Duration) -> bool {
    period >= BUSY_POLL_MIN_PERIOD
}

/// While a request is in flight, keeps the runtime polling its I/O driver without
/// sleeping (each `yield_now` lets the driver check for events with a zero timeout).
async fn busy_poll(queue: Arc<Queue>) {
    loop {
        if queue.in_flight.load(Ordering::Relaxed) > 0 {
            tokio::task::yield_now().await;
        } else if queue.done.load(Ordering::Acquire) {
            return;
        } else {
            queue.sent.notified().await;
        }
    }
}

/// One connection: takes due requests off the queue and sends them, each measured from its
/// intended time. A request that has waited longer than the timeout before any connection
/// was free is counted as a timeout without being sent, which also bounds the drain at the end.
async fn drive(
    mut client: Client,
    queue: Arc<Queue>,
    start: Instant,
    deadline: Instant,
    timeout: Duration,
) -> WorkerResult {
    loop {
        let next = queue.due.lock().expect("queue lock").pop_front();
        let Some(intended) = next else {
            if queue.done.load(Ordering::Acquire) {
                break;
            }
            queue.ready.notified().await;
            continue;
        };
        if let Err(backoff) = client
            .ensure_connected(Some(deadline.max(intended + timeout)))
            .await
        {
            // Give the request back for another connection (or this one after the backoff)
            // while it can still be sent in time. Once it cannot, or the run is over, it is
            // dropped unsent: the connect errors already report why.
            if Instant::now() >= deadline {
                // No connection after the end: nothing still due can be sent.
                queue.due.lock().expect("queue lock").clear();
                continue;
            }
            if intended.elapsed() < timeout {
                queue.due.lock().expect("queue lock").push_front(intended);
                queue.ready.notify_one();
            }
            tokio::time::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())))
                .await;
            continue;
        }
        if intended.elapsed() >= timeout {
            // It waited out the whole timeout for a free connection: from the client's side
            // that is a timed-out request, and counting it keeps a stall visible.
            let body = client.skip();
            client.record(body, Outcome::Timeout, intended - start, intended.elapsed());
            continue;
        }
        queue.in_flight.fetch_add(1, Ordering::Relaxed);
        queue.sent.notify_one();
        let (body, outcome) = client.exchange().await;
        queue.in_flight.fetch_sub(1, Ordering::Relaxed);
        client.record(body, outcome, intended - start, intended.elapsed());
    }
    WorkerResult {
        stats: client.stats,
        started: start,
        finished: Instant::now(),
        sending_ended: deadline,
        send_lag: stats::new_histogram(),
    }
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
