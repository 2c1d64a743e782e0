//! The open model (the wrk2 idea): requests arrive at a constant total rate whatever the
//! server does, and each one's latency runs from its *intended* send time. A server stall
//! thus delays every request scheduled during it, and the percentiles show it, instead of
//! the sender politely waiting (coordinated omission).
//!
//! A few OS threads (one by default) each run a current_thread runtime: a dispatcher
//! releases requests at their intended times with a precise timer ([`crate::pacing`]) into
//! a queue, and the thread's connections take them as they are free. Requests that find
//! every connection busy wait in the queue, and that wait is part of their latency.
//!
//! With several targets, each thread holds a queue and a schedule per target, and its one
//! dispatcher walks the schedules merged, so the targets' sends alternate on the same
//! thread. A request is queued for its target when it is released and only that target's
//! connections take it, so a slow or unreachable target changes nothing that the others
//! are sent.

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

    /// The same schedule for target `target` of `targets` at `rate` each: shifted by
    /// `target/targets` of a slot (`1/rate`), so the targets' sends alternate evenly.
    pub fn for_target(self, target: usize, targets: usize, rate: f64) -> Schedule {
        Schedule {
            offset_ns: self.offset_ns + target as f64 / targets as f64 * (1e9 / rate),
            ..self
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
/// every target's connections and a share `1/T` of each target's rate (thread t's schedule
/// is offset by t/R so the threads interleave, and target j's by a further j/(R·k) so the
/// k targets alternate). Returns the connections' results grouped by target, indexed like
/// `targets`.
pub fn run(cfg: &Config, targets: &[Arc<Target>]) -> Result<Vec<Vec<WorkerResult>>, Error> {
    let rate = cfg
        .rate
        .expect("validated: the open model always has a rate");
    let threads = cfg.worker_threads();
    let gate = StartGate::new(threads);
    let budgets: Vec<_> = targets
        .iter()
        .map(|_| Budget::new(cfg.max_requests))
        .collect();
    coord::run_workers(threads, cfg.cpu, &gate, |t| {
        let clients = coord::thread_clients(targets, t, threads, cfg.connections);
        let schedules = (0..targets.len())
            .map(|j| Schedule::new(t, threads, rate).for_target(j, targets.len(), rate))
            .collect();
        run_thread(cfg, clients, schedules, &gate, &budgets)
    })
}

/// One target's requests that are due but not yet taken by a connection, oldest first.
/// Shared by one thread's tasks only, so the lock is never contended.
#[derive(Default)]
struct Queue {
    due: Mutex<VecDeque<Instant>>,
    ready: Notify,
    /// Set when the target's schedule has ended; its connections drain what is due and stop.
    done: AtomicBool,
}

/// What one thread's tasks share: a queue per target (indexed like the run's targets), and
/// what the busy poller watches over all of them.
struct Shared {
    queues: Vec<Queue>,
    /// Requests sent and not yet answered, all targets together.
    in_flight: AtomicUsize,
    /// Wakes the busy poller (kept apart from the queues' `ready`, whose permits belong to
    /// connections).
    sent: Notify,
    /// Set when every target's schedule has ended.
    done: AtomicBool,
}

/// `clients[j]`, `schedules[j]` and `budgets[j]` are target j's.
fn run_thread(
    cfg: &Config,
    mut clients: Vec<Vec<Client>>,
    schedules: Vec<Schedule>,
    gate: &StartGate,
    budgets: &[Budget],
) -> Result<Vec<Vec<WorkerResult>>, Error> {
    let runtime = coord::connected_runtime(&mut clients)?;
    let timer = runtime
        .block_on(async { PreciseTimer::new() })
        .map_err(Error::Runtime)?;
    let Some(start) = gate.wait() else {
        return Ok(Vec::new());
    };
    let deadline = start + cfg.duration;
    let timeout = cfg.timeout;
    // Sends of all targets together: the gap the pacing and polling decisions must fit.
    let gap = schedules[0].period() / schedules.len() as u32;
    runtime.block_on(async {
        let shared = Arc::new(Shared {
            queues: schedules.iter().map(|_| Queue::default()).collect(),
            in_flight: AtomicUsize::new(0),
            sent: Notify::new(),
            done: AtomicBool::new(false),
        });
        let tasks = coord::spawn_interleaved(clients, |target, client| {
            drive(
                client,
                Arc::clone(&shared),
                target,
                start,
                deadline,
                timeout,
            )
        });
        if busy_poll_worth_it(gap) {
            tokio::spawn(busy_poll(Arc::clone(&shared)));
        }
        let senders = dispatch(&timer, &shared, &schedules, gap, start, deadline, budgets).await;
        let mut results = coord::join_grouped(tasks).await?;
        for (target, sender) in results.iter_mut().zip(senders) {
            for (i, result) in target.iter_mut().enumerate() {
                result.sending_ended = sender.sending_ended;
                // The run lasts until the deadline even when the last response came in
                // before it.
                result.finished = result.finished.max(sender.sending_ended);
                if i == 0 {
                    result.send_lag = sender.send_lag.clone();
                }
            }
        }
        Ok(results)
    })
}

/// How one target's schedule went on one thread.
struct Sent {
    /// When sending ended: the deadline, or earlier if the target's budget ran out.
    sending_ended: Instant,
    /// How late, after its intended time, each of the target's requests was released.
    send_lag: hdrhistogram::Histogram<u64>,
}

/// Releases each scheduled request at its intended time into its target's queue, walking
/// the targets' schedules merged: request i of target 0, request i of target 1, ..., then
/// request i+1 of target 0. (Their offsets differ by less than a period, so this is time
/// order.) A target whose budget runs out stops while the others go on. Returns, per
/// target, when sending ended and how late each release was.
async fn dispatch(
    timer: &PreciseTimer,
    shared: &Shared,
    schedules: &[Schedule],
    gap: Duration,
    start: Instant,
    deadline: Instant,
    budgets: &[Budget],
) -> Vec<Sent> {
    // `Some(when sending ended)` once a target's schedule is over.
    let mut ended: Vec<Option<Instant>> = vec![None; schedules.len()];
    let mut send_lag: Vec<_> = schedules.iter().map(|_| stats::new_histogram()).collect();
    let spin = pacing::spin_margin(gap);
    let mut i = 0;
    while ended.iter().any(Option::is_none) {
        for (j, schedule) in schedules.iter().enumerate() {
            if ended[j].is_some() {
                continue;
            }
            let queue = &shared.queues[j];
            let intended = start + schedule.at(i);
            let released = if intended >= deadline {
                Err(deadline)
            } else {
                if timer.sleep_until(intended, spin).await.is_err() {
                    // Without the precise timer, tokio's coarse one still keeps the
                    // schedule; the lag histogram shows the cost.
                    tokio::time::sleep_until(intended.into()).await;
                }
                let now = Instant::now();
                if now >= deadline {
                    Err(deadline)
                } else if !budgets[j].take() {
                    Err(now)
                } else {
                    Ok(now)
                }
            };
            match released {
                Ok(now) => {
                    stats::record_ns(&mut send_lag[j], now - intended);
                    queue.due.lock().expect("queue lock").push_back(intended);
                    queue.ready.notify_one();
                    // Let a connection send it before this task arms the timer for the next.
                    tokio::task::yield_now().await;
                }
                Err(at) => {
                    ended[j] = Some(at);
                    queue.done.store(true, Ordering::Release);
                    queue.ready.notify_waiters();
                }
            }
        }
        i += 1;
    }
    shared.done.store(true, Ordering::Release);
    shared.sent.notify_one();
    ended
        .into_iter()
        .zip(send_lag)
        .map(|(ended, send_lag)| Sent {
            sending_ended: ended.unwrap_or(deadline),
            send_lag,
        })
        .collect()
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
async fn busy_poll(shared: Arc<Shared>) {
    loop {
        if shared.in_flight.load(Ordering::Relaxed) > 0 {
            tokio::task::yield_now().await;
        } else if shared.done.load(Ordering::Acquire) {
            return;
        } else {
            shared.sent.notified().await;
        }
    }
}

/// One connection of target `target`: takes due requests off that target's queue and sends
/// them, each measured from its intended time. A request that has waited longer than the
/// timeout before any connection was free is counted as a timeout without being sent, which
/// also bounds the drain at the end.
async fn drive(
    mut client: Client,
    shared: Arc<Shared>,
    target: usize,
    start: Instant,
    deadline: Instant,
    timeout: Duration,
) -> WorkerResult {
    let queue = &shared.queues[target];
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
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        shared.sent.notify_one();
        let (body, outcome) = client.exchange().await;
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
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
    fn targets_alternate_and_each_keeps_its_rate() {
        // 2 threads, 2 targets at 1000 req/s each: each target sends every millisecond,
        // target 1 half a millisecond after target 0.
        let us = Duration::from_micros;
        let rate = 1000.0;
        let mut per_target = vec![Vec::new(), Vec::new()];
        for t in 0..2 {
            for (j, times) in per_target.iter_mut().enumerate() {
                let schedule = Schedule::new(t, 2, rate).for_target(j, 2, rate);
                times.extend((0..3).map(|i| schedule.at(i)));
            }
        }
        for times in &mut per_target {
            times.sort();
        }
        let want: Vec<Duration> = (0..6).map(|i| us(1000 * i)).collect();
        assert_eq!(per_target[0], want);
        let shifted: Vec<Duration> = want.iter().map(|t| *t + us(500)).collect();
        assert_eq!(per_target[1], shifted);
        // One target: the schedule is the one of a single-target run.
        let alone = Schedule::new(1, 2, rate);
        let first = alone.for_target(0, 1, rate);
        assert_eq!((first.at(0), first.at(5)), (alone.at(0), alone.at(5)));
    }

    #[test]
    fn long_schedules_do_not_drift() {
        let schedule = Schedule::new(0, 1, 3.0);
        let t = schedule.at(3 * 3600);
        assert!(t.abs_diff(Duration::from_secs(3600)) < Duration::from_micros(1));
    }
}
