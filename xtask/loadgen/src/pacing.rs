//! Precise waits for the open model's send schedule, inside a tokio runtime.
//!
//! tokio's timers have 1 ms granularity, so sending from them bunches requests and, since
//! latency runs from the intended send time, inflates the measured latency by the timer's
//! lateness. Blocking the thread in `nanosleep` is precise but stops the runtime from
//! reading responses meanwhile, and spinning costs CPU the server needs on a 2-core box.
//! A `timerfd` armed for the exact send time and awaited through tokio's I/O driver wakes
//! the runtime's `epoll_wait` at that time (an hrtimer, no timer slack), while responses on
//! other connections are still read as they arrive.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

/// Sends closer than this to "now" go out at once: arming a timer would cost more than the
/// wait it saves.
const IMMEDIATE: Duration = Duration::from_micros(2);

/// A one-shot precise timer; create it inside the runtime that awaits it.
pub struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
}

impl PreciseTimer {
    pub fn new() -> io::Result<PreciseTimer> {
        // SAFETY: timerfd_create has no memory preconditions; a valid fd is owned at once.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns; the AsyncFd owns it from here
        // on and no other handle to it exists, so it cannot be closed behind tokio's back.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(PreciseTimer { fd })
    }

    /// Returns at `target` (never before it), or at once if it has passed.
    ///
    /// The timer is armed `spin` before the target and the rest is spun: waking a sleeping
    /// CPU costs tens of microseconds on a VM, which would otherwise land in every measured
    /// latency. Keep `spin` a small share of the gap between sends: while it spins, the
    /// thread reads no responses.
    pub async fn sleep_until(&self, target: Instant, spin: Duration) -> io::Result<()> {
        let now = Instant::now();
        let wake = target.checked_sub(spin).unwrap_or(target);
        if wake <= now + IMMEDIATE {
            spin_until(target);
            return Ok(());
        }
        let wait = wake - now;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(wait.subsec_nanos() as i32),
            },
        };
        let fd = self.fd.get_ref().as_raw_fd();
        // SAFETY: `fd` is our timerfd and `spec` a valid itimerspec on the stack.
        if unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            let mut guard = self.fd.readable().await?;
            let mut expirations = 0u64;
            // SAFETY: reading 8 bytes into a u64 from our timerfd.
            let n = unsafe { libc::read(fd, (&raw mut expirations).cast(), 8) };
            if n == 8 {
                spin_until(target);
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::WouldBlock {
                return Err(err);
            }
            guard.clear_ready();
        }
    }
}

/// Busy-waits until `target`; also covers the few ns a relative arming may round early.
fn spin_until(target: Instant) {
    while Instant::now() < target {
        std::hint::spin_loop();
    }
}

/// The spin margin for sends `period` apart: a tenth of the gap, at most 50 µs, so the
/// spinning never takes more than a tenth of the sending thread's time.
pub fn spin_margin(period: Duration) -> Duration {
    (period / 10).min(Duration::from_micros(50))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_wakes_early_and_rarely_late() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let late = runtime.block_on(async {
            let timer = PreciseTimer::new().unwrap();
            let start = Instant::now();
            let mut late = Vec::new();
            for i in 1..=200u32 {
                let target = start + Duration::from_micros(500) * i;
                timer
                    .sleep_until(target, spin_margin(Duration::from_micros(500)))
                    .await
                    .unwrap();
                let now = Instant::now();
                assert!(now >= target, "woke early");
                late.push(now - target);
            }
            late
        });
        let mut late = late;
        late.sort();
        // tokio's own timers would be up to 1 ms late; this must do far better at the median.
        assert!(
            late[late.len() / 2] < Duration::from_micros(300),
            "{late:?}"
        );
    }

    #[test]
    fn spin_margin_is_a_small_share() {
        assert_eq!(
            spin_margin(Duration::from_millis(1)),
            Duration::from_micros(50)
        );
        assert_eq!(
            spin_margin(Duration::from_micros(100)),
            Duration::from_micros(10)
        );
    }

    #[test]
    fn past_targets_return_at_once() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let timer = PreciseTimer::new().unwrap();
            let t0 = Instant::now();
            timer
                .sleep_until(t0 - Duration::from_millis(1), Duration::from_micros(50))
                .await
                .unwrap();
            assert!(t0.elapsed() < Duration::from_millis(5));
        });
    }
}
