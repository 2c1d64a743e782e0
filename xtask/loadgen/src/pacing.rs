//! Precise blocking waits for the open model's send schedule.
//!
//! tokio timers have 1 ms granularity and the kernel's default timer slack adds another
//! 50 µs, so sending from a timer wheel bunches requests and inflates the median several-fold.
//! Instead the sending thread sleeps until shortly before the intended time and spins the
//! rest. The spin margin adapts to how late this machine's sleeps actually wake, so the
//! spin stays short (the load generator shares a 2-core machine with the server).

use std::time::{Duration, Instant};

/// Sets the calling thread's timer slack to 1 ns so `nanosleep` wakes when asked rather
/// than up to 50 µs later. Best effort: without it the pacer's margin grows to compensate.
pub fn set_fine_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only affects this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Waits until an instant: a plain sleep for most of the way, then a short spin.
#[derive(Debug)]
pub struct Pacer {
    /// How long before the target the sleep ends and the spin begins; always within
    /// `[MIN_MARGIN, MAX_MARGIN]`.
    margin: Duration,
    /// Moving average of how late sleeps wake, in nanoseconds.
    oversleep_ns: f64,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer {
            margin: Self::INITIAL_MARGIN,
            oversleep_ns: 0.0,
        }
    }
}

impl Pacer {
    const INITIAL_MARGIN: Duration = Duration::from_micros(40);
    const MIN_MARGIN: Duration = Duration::from_micros(20);
    /// Past this, a late wake-up costs less than the CPU the spin would burn.
    const MAX_MARGIN: Duration = Duration::from_micros(200);

    /// Blocks the thread until `target`; returns at once if it has passed.
    pub fn wait_until(&mut self, target: Instant) {
        let now = Instant::now();
        if now >= target {
            return;
        }
        if target - now > self.margin {
            let wake_at = target - self.margin;
            std::thread::sleep(wake_at - now);
            self.learn(Instant::now().saturating_duration_since(wake_at));
        }
        while Instant::now() < target {
            std::hint::spin_loop();
        }
    }

    /// The margin is twice the typical oversleep plus a little headroom: enough to cover
    /// ordinary jitter, while rare long oversleeps just make one send late (and that
    /// lateness is measured, never hidden, because latency runs from the intended time).
    fn learn(&mut self, oversleep: Duration) {
        let ns = oversleep.as_nanos().min(u128::from(u32::MAX)) as f64;
        self.oversleep_ns = 0.9 * self.oversleep_ns + 0.1 * ns;
        let want =
            Duration::from_nanos((2.0 * self.oversleep_ns) as u64) + Duration::from_micros(10);
        self.margin = want.clamp(Self::MIN_MARGIN, Self::MAX_MARGIN);
    }

    pub fn margin(&self) -> Duration {
        self.margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_wakes_early_and_rarely_late() {
        set_fine_timer_slack();
        let mut pacer = Pacer::default();
        let start = Instant::now();
        let mut late = Vec::new();
        for i in 1..=50u32 {
            let target = start + Duration::from_micros(500) * i;
            pacer.wait_until(target);
            let now = Instant::now();
            assert!(now >= target, "woke early");
            late.push(now - target);
        }
        late.sort();
        // A generous band: the median send is well under a millisecond late even on a
        // busy CI machine; tokio timers would be about a millisecond off.
        assert!(
            late[late.len() / 2] < Duration::from_micros(500),
            "{late:?}"
        );
        assert!(pacer.margin() <= Pacer::MAX_MARGIN);
    }

    #[test]
    fn margin_follows_oversleep_within_bounds() {
        let mut pacer = Pacer::default();
        for _ in 0..100 {
            pacer.learn(Duration::from_millis(5));
        }
        assert_eq!(pacer.margin(), Pacer::MAX_MARGIN);
        for _ in 0..200 {
            pacer.learn(Duration::ZERO);
        }
        assert_eq!(pacer.margin(), Pacer::MIN_MARGIN);
    }
}
