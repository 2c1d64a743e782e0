//! Run-time settings of the service (the CLI maps onto these), and duration parsing.

use std::time::Duration;

/// Settings the service reads at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most decisions in progress at once; past it requests get 503 `overloaded`.
    pub max_inflight: usize,
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    pub sticky_ttl: Duration,
    /// Most sticky entries held at once.
    pub sticky_capacity: usize,
    /// Extra CPU work per decision (test-only slowdown knob; 0 = off).
    pub slowdown_iters: u64,
    /// Added latency per decision, no CPU (test-only delay knob; off by default).
    pub test_delay: TestDelay,
    /// How long shutdown waits for in-flight requests before giving up on them.
    pub shutdown_timeout: Duration,
    /// Longest wait for a request's head (request line and headers), counted from when the
    /// connection was accepted or its previous response was ready; then the connection is
    /// closed (after this to 1.25 times this, see `conn`). It also bounds how long a
    /// keep-alive connection may sit idle.
    pub header_read_timeout: Duration,
    /// Longest time from a request's head to the last byte of its body; past it the request
    /// gets 408 `request_timeout` and the connection is closed.
    pub body_read_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_inflight: 1024,
            max_body_bytes: 64 * 1024,
            sticky_ttl: Duration::from_secs(300),
            sticky_capacity: 100_000,
            slowdown_iters: 0,
            test_delay: TestDelay::OFF,
            shutdown_timeout: Duration::from_secs(10),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
        }
    }
}

/// The default of `--header-read-timeout`: hyper's default for its own header timeout, and in
/// the range of the common servers (Apache's `RequestReadTimeout header=20-40`, nginx's 60 s
/// `client_header_timeout`, the 10-30 s usually given to Go's `ReadHeaderTimeout`). A real
/// client sends its head in one round trip, so 30 s is lenient even on a poor mobile link,
/// and a connection that never finishes its head gives its socket back within half a minute.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The default of `--body-read-timeout`: bodies here are small JSON (64 KiB at most by
/// default), which a real client sends right after its head; 30 s allows a whole 64 KiB body
/// at about 2 KiB/s, far below any working link, and matches the header timeout (nginx gives
/// 60 s between reads, Apache 20 s with a minimum rate). A stalled body does not hold a
/// decision slot while it waits (see `server::BODY_SLOT_BUDGET`), so this bounds only the
/// socket and the buffered bytes it holds.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable of the test-only slowdown knob.
pub const SLOWDOWN_ENV: &str = "ROUTER_TEST_SLOWDOWN_ITERS";
/// The environment variables of the test-only delay knob: microseconds of added latency,
/// and which decisions get it (every N-th; 1 when unset).
pub const DELAY_US_ENV: &str = "ROUTER_TEST_DELAY_US";
pub const DELAY_EVERY_ENV: &str = "ROUTER_TEST_DELAY_EVERY";

/// The test-only delay knob: every `every`-th decision waits `us` microseconds (an async
/// sleep, no CPU) before its answer is sent, like a request to a slow dependency. It lets the
/// perf gate prove it catches a tail-latency regression that instruction counts cannot see.
///
/// "No CPU" is relative: a delayed decision still costs the runtime a timer and a wake-up,
/// about 5,800 instructions under callgrind (a decision is about 22,500). Delaying one
/// decision in 50 or fewer keeps the count per request within about 0.5%; delaying every
/// one adds about 25%.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestDelay {
    /// Microseconds added to a delayed decision; 0 = off.
    pub us: u64,
    /// Every `every`-th decision is delayed; at least 1 when `us > 0`, 0 when off.
    pub every: u64,
}

impl TestDelay {
    pub const OFF: TestDelay = TestDelay { us: 0, every: 0 };
    /// The largest accepted delay: more is surely a typo (and would outlast any benchmark).
    pub const MAX_US: u64 = 60_000_000;

    pub fn is_on(&self) -> bool {
        self.us > 0
    }

    /// Reads the knob from the values of `ROUTER_TEST_DELAY_US` and `ROUTER_TEST_DELAY_EVERY`
    /// (`None` = unset). The error names the variable and says what it expects.
    pub fn from_env(us: Option<&str>, every: Option<&str>) -> Result<TestDelay, String> {
        let whole = |name: &str, v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("{name}=`{v}`: expected a whole number"))
        };
        let us = match us {
            Some(v) => {
                let n = whole(DELAY_US_ENV, v)?;
                if n > Self::MAX_US {
                    return Err(format!(
                        "{DELAY_US_ENV}=`{v}`: at most {} microseconds (one minute)",
                        Self::MAX_US
                    ));
                }
                Some(n)
            }
            None => None,
        };
        let every = match every {
            Some(v) => {
                let n = whole(DELAY_EVERY_ENV, v)?;
                if n == 0 {
                    return Err(format!(
                        "{DELAY_EVERY_ENV}=`{v}`: must be at least 1 (1 delays every decision)"
                    ));
                }
                if us.is_none() {
                    return Err(format!(
                        "{DELAY_EVERY_ENV}=`{v}` is set but {DELAY_US_ENV} is not: set the delay too"
                    ));
                }
                Some(n)
            }
            None => None,
        };
        Ok(match us {
            Some(us) if us > 0 => TestDelay {
                us,
                every: every.unwrap_or(1),
            },
            _ => TestDelay::OFF,
        })
    }
}

/// Parses `250ms`, `30s`, `5m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}`: expected a number with a unit, like 30s or 250ms"))?;
    let scale = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use ms, s, m or h)"
            ));
        }
    };
    n.checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}`: too long"))
}

/// The longest read timeout accepted: a day is already far past any use, and the bound
/// keeps deadline arithmetic away from overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Parses a read timeout: a duration (see [`parse_duration`]) from 1 ms to [`MAX_TIMEOUT`].
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_millis(1) || d > MAX_TIMEOUT {
        return Err(format!("`{text}`: must be from 1ms to 24h"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration(&format!("{}h", u64::MAX)).is_err());
        assert_eq!(parse_timeout("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_timeout("24h"), Ok(MAX_TIMEOUT));
        for bad in ["0", "0ms", "25h", "5 parsecs"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_delay_from_env() {
        let on = |us, every| TestDelay { us, every };
        assert_eq!(TestDelay::from_env(None, None), Ok(TestDelay::OFF));
        assert_eq!(TestDelay::from_env(Some("0"), None), Ok(TestDelay::OFF));
        assert_eq!(
            TestDelay::from_env(Some("0"), Some("3")),
            Ok(TestDelay::OFF)
        );
        assert_eq!(TestDelay::from_env(Some("500"), None), Ok(on(500, 1)));
        assert_eq!(
            TestDelay::from_env(Some(" 500 "), Some("4")),
            Ok(on(500, 4))
        );
        for (us, every, names) in [
            (Some("fast"), None, DELAY_US_ENV),
            (Some("-5"), None, DELAY_US_ENV),
            (Some("1.5"), None, DELAY_US_ENV),
            (Some("60000001"), None, DELAY_US_ENV),
            (Some("500"), Some("0"), DELAY_EVERY_ENV),
            (Some("500"), Some("half"), DELAY_EVERY_ENV),
            (None, Some("2"), DELAY_EVERY_ENV),
        ] {
            let err = TestDelay::from_env(us, every).unwrap_err();
            assert!(err.contains(names), "{us:?} {every:?}: {err}");
        }
    }
}
