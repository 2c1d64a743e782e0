//! SIGINT and SIGTERM during a benchmark: the run must not leave its router, load generator
//! or nats-server running, and must still write its run file (status `interrupted`).
//!
//! Once a session starts children, a handler thread waits for either signal. The first is
//! remembered and every registered child gets SIGTERM; the main thread sees its child end,
//! records the run as interrupted, writes the artifacts and exits with 128 + the signal number,
//! as a shell would report it. A second signal SIGKILLs the children and exits at once.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, Once};

use rustix::process::{Pid, Signal, kill_process};
use signal_hook::consts::{SIGINT, SIGTERM};

/// The first signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Children of this process that must not outlive it.
static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

static INSTALL: Once = Once::new();

/// Starts watching for SIGINT and SIGTERM (once per process). Before this, the signals end
/// xtask the default way: commands that start no children are not affected.
pub fn install() {
    INSTALL.call_once(|| {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            eprintln!(
                "perf-bench: warning: cannot watch for SIGINT/SIGTERM; an interrupted run may leave its router running"
            );
            return;
        };
        std::thread::spawn(move || {
            for signal in signals.forever() {
                if RECEIVED
                    .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    eprintln!(
                        "perf-bench: {}: stopping the router and load generator, then writing the artifacts (again to quit at once)",
                        name(signal)
                    );
                    signal_children(Signal::TERM);
                } else {
                    signal_children(Signal::KILL);
                    std::process::exit(128 + RECEIVED.load(Ordering::SeqCst));
                }
            }
        });
    });
}

fn signal_children(sig: Signal) {
    lock().iter().for_each(|&pid| signal(pid, sig));
}

/// Sends `sig` to `pid`, a child whose handle still owns it (unreaped: the pid is still its);
/// a child that has exited is no error, waiting on it tells how it ended.
pub(crate) fn signal(pid: u32, sig: Signal) {
    if let Some(pid) = Pid::from_raw(pid as i32) {
        let _ = kill_process(pid, sig);
    }
}

fn lock() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A child to stop if xtask is interrupted; unregistered when the guard drops.
#[must_use = "the child stays registered only while the guard lives"]
pub(crate) struct Registered(Vec<u32>);

/// Registers `pids` (a child and, for a wrapper, its own children are the same process).
pub(crate) fn register(pids: Vec<u32>) -> Registered {
    lock().extend(pids.iter().copied());
    Registered(pids)
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut children = lock();
        for pid in &self.0 {
            children.remove(pid);
        }
    }
}

fn first_signal() -> Option<i32> {
    Some(RECEIVED.load(Ordering::SeqCst)).filter(|&s| s != 0)
}

/// The signal received, by name, if any.
pub(crate) fn received() -> Option<&'static str> {
    first_signal().map(name)
}

/// The exit code of an interrupted command: 128 + the signal number.
pub fn exit_code() -> Option<u8> {
    first_signal().and_then(|s| u8::try_from(128 + s).ok())
}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
