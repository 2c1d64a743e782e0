//! The off-CPU view, without privileges: while a trial's load runs, a thread samples every
//! router thread's `/proc/PID/task/TID/wchan` (the kernel function a blocked thread sleeps
//! in, `0` while it runs). The share of samples at each wait point says where time off the
//! CPU went: an idle worker in `ep_poll`, a parked one or a contended lock in a futex wait, a
//! blocking sleep in `hrtimer_nanosleep`. No stacks (those need ptrace or perf).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the threads are sampled (200 Hz), each a `pread` of a wchan file kept open; the
/// thread list is read again every [`RELIST_EVERY`] samples. That costs 1.3% of one core
/// (in every trial's log; xtask/BENCHMARKS.md: reopening the files at 500 Hz cost 3.4%).
pub(crate) const PERIOD: Duration = Duration::from_millis(5);
const RELIST_EVERY: u32 = 100;

/// A wait point is recorded from this share of thread samples up (half a percent): below
/// it, a few hundred samples are chance.
pub(crate) const LISTED_WAIT_SHARE: f64 = 0.005;

/// Samples of one router's threads: how many, and those that found a thread blocked, by wait point.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Waits {
    pub thread_samples: u64,
    pub blocked: BTreeMap<String, u64>,
    /// What sampling cost: the sampler thread's own CPU time and how long it ran, ms.
    pub cpu_ms: f64,
    pub wall_ms: f64,
}

impl Waits {
    /// Adds another trial's samples.
    pub fn add(&mut self, other: &Waits) {
        self.thread_samples += other.thread_samples;
        self.cpu_ms += other.cpu_ms;
        self.wall_ms += other.wall_ms;
        for (point, n) in &other.blocked {
            *self.blocked.entry(point.clone()).or_default() += n;
        }
    }

    /// The share of samples blocked at each wait point, from `min_share` up, to four decimals.
    pub(crate) fn shares(&self, min_share: f64) -> BTreeMap<String, f64> {
        if self.thread_samples == 0 {
            return BTreeMap::new();
        }
        self.blocked
            .iter()
            .map(|(point, n)| {
                let share = *n as f64 / self.thread_samples as f64;
                (point.clone(), (share * 1e4).round() / 1e4)
            })
            .filter(|(_, share)| *share >= min_share)
            .collect()
    }

    /// One line for the bench log: what was sampled, and what sampling cost.
    pub(crate) fn describe(&self) -> String {
        format!(
            "wait sampler: {} thread samples over {:.1} s, {:.0} ms of its own CPU ({:.2}% of one core)",
            self.thread_samples,
            self.wall_ms / 1e3,
            self.cpu_ms,
            100.0 * self.cpu_ms / self.wall_ms.max(1.0)
        )
    }

    /// One sample of every thread: its open wchan file read again from offset 0.
    fn sample(&mut self, threads: &[std::fs::File]) {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 128];
        for wchan in threads {
            // A thread that has ended reads nothing (or fails) until the list is read again.
            let Ok(n) = wchan.read_at(&mut buf, 0) else {
                continue;
            };
            if n == 0 {
                continue;
            }
            self.thread_samples += 1;
            if let Some(point) = wait_point(&String::from_utf8_lossy(&buf[..n])) {
                *self.blocked.entry(point).or_default() += 1;
            }
        }
    }
}

/// Every thread of `pid`, as its wchan file opened for reading.
fn open_threads(pid: u32) -> Vec<std::fs::File> {
    let threads = crate::bench::router::threads(pid).unwrap_or_default();
    let wchan = |tid| std::fs::File::open(format!("/proc/{pid}/task/{tid}/wchan")).ok();
    threads.iter().filter_map(|task| wchan(task.tid)).collect()
}

/// The wait point in a wchan file's text, as a metric-safe name; `None` for a running thread.
pub(crate) fn wait_point(wchan: &str) -> Option<String> {
    let name = wchan.trim();
    (!name.is_empty() && name != "0").then(|| {
        name.to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    })
}

/// A sampler running beside the load; [`Sampler::finish`] stops it and gives its samples.
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Waits>,
}

impl Sampler {
    /// Samples `pid`'s threads every [`PERIOD`] until finished, and never past `limit`.
    pub fn start(pid: u32, limit: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let until = started + limit;
            let mut waits = Waits::default();
            let mut threads = Vec::new();
            let mut round = 0u32;
            while !flag.load(Ordering::Relaxed) && Instant::now() < until {
                if round.is_multiple_of(RELIST_EVERY) {
                    threads = open_threads(pid);
                }
                round += 1;
                waits.sample(&threads);
                std::thread::sleep(PERIOD);
            }
            let cpu = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
            waits.cpu_ms = cpu.tv_sec as f64 * 1e3 + cpu.tv_nsec as f64 / 1e6;
            waits.wall_ms = started.elapsed().as_secs_f64() * 1e3;
            waits
        });
        Sampler { stop, handle }
    }

    pub fn finish(self) -> Waits {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_thread_has_no_wait_point_and_names_are_metric_safe() {
        assert_eq!(wait_point("0"), None);
        assert_eq!(wait_point(""), None);
        assert_eq!(wait_point("ep_poll\n").as_deref(), Some("ep_poll"));
        assert_eq!(
            wait_point("futex_wait_queue.constprop.0").as_deref(),
            Some("futex_wait_queue_constprop_0")
        );
    }

    #[test]
    fn shares_are_of_all_thread_samples() {
        let mut w = Waits {
            thread_samples: 100,
            blocked: BTreeMap::from([("ep_poll".into(), 60), ("hrtimer_nanosleep".into(), 2)]),
            ..Waits::default()
        };
        w.add(&Waits {
            thread_samples: 100,
            blocked: BTreeMap::from([("ep_poll".into(), 40)]),
            ..Waits::default()
        });
        let shares = w.shares(0.005);
        assert_eq!(shares["ep_poll"], 0.5);
        assert_eq!(shares["hrtimer_nanosleep"], 0.01);
        assert_eq!(w.shares(0.05).len(), 1);
        assert!(Waits::default().shares(0.0).is_empty());
    }

    /// A child that sleeps is found sleeping, at a wait point this kernel names.
    #[test]
    fn a_sleeping_process_is_sampled_at_its_wait_point() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let sampler = Sampler::start(child.id(), Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(100));
        let waits = sampler.finish();
        let _ = child.kill();
        let _ = child.wait();
        assert!(waits.thread_samples >= 5, "{waits:?}");
        assert!(
            waits.wall_ms >= 90.0 && waits.cpu_ms < waits.wall_ms,
            "{waits:?}"
        );
        let blocked: u64 = waits.blocked.values().sum();
        assert_eq!(blocked, waits.thread_samples, "{waits:?}");
    }
}
