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
}
