//! One HTTP connection's socket, watched: it closes a connection that has waited too long
//! for a request head (`--header-read-timeout`), and tells a slow head from an idle
//! keep-alive connection for the metrics.
//!
//! Why not hyper's own `http1::Builder::header_read_timeout` (with `TokioTimer`): in hyper
//! 1.12 it arms a new timer for every request (it allocates a sleep, registers it in tokio's
//! timer wheel while the head is not there yet, and drops it when the head is in) and makes
//! the connection try one more read after each response. Measured under callgrind (release
//! build, sequential keep-alive decisions), the router with it ran about 1,400 more
//! instructions per request (+6%) than with this watchdog, where the perf gate allows 2%;
//! this watchdog left the count where it was. It has one timer per connection, re-armed
//! every quarter of the timeout, and costs a request two atomic increments.
//!
//! Its semantics are hyper's, with a coarser clock: the wait for a head starts when the
//! connection is accepted and again when a response is ready, so it also bounds how long a
//! keep-alive connection may sit idle; a connection that has waited at least the timeout
//! (and at most 1.25 times it) is closed without an answer. Once a head is in, the request
//! is the handler's (the body has its own timeout).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Checks per timeout: the watchdog looks every `timeout / CHECKS`, and closes a connection
/// that waited for a head through `CHECKS` whole intervals, so after `timeout` to
/// `timeout * (CHECKS + 1) / CHECKS`.
const CHECKS: u32 = 4;

/// Whether a connection is between requests; shared by its socket and its service.
///
/// The count goes up by one when a request head has arrived (the service is called) and by
/// one when its response is ready (the service returns), so it is even exactly while the
/// connection waits for a head, and changes whenever a request came.
#[derive(Debug, Default)]
pub struct RequestPhase(AtomicU64);

impl RequestPhase {
    /// Marks a request head as arrived; the guard marks the response as ready when dropped
    /// (also when the request is abandoned).
    pub fn begin(self: &Arc<Self>) -> InRequest {
        self.0.fetch_add(1, Ordering::Relaxed);
        InRequest(self.clone())
    }

    fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A request between its head and its response (see [`RequestPhase::begin`]).
#[derive(Debug)]
pub struct InRequest(Arc<RequestPhase>);

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The counters a watched socket moves when it closes a connection.
#[derive(Debug, Clone)]
pub struct HeadTimeoutCounters {
    /// A request had begun (some of its bytes had arrived) but its head was not complete.
    pub header: Counter,
    /// No byte of a next request had arrived: a keep-alive connection expired.
    pub idle: Counter,
}

/// A connection's TCP stream with the head-read watchdog. hyper reads the socket whenever
/// it waits for a head, so the watchdog runs there: when a read finds no data it checks
/// (only once its timer has fired) whether the connection has been waiting for a head
/// through the whole timeout, and if so fails the read with `TimedOut`, which makes hyper
/// close the connection.
#[derive(Debug)]
pub struct WatchedStream {
    inner: TcpStream,
    phase: Arc<RequestPhase>,
    counters: HeadTimeoutCounters,
    /// `timeout / CHECKS`.
    interval: Duration,
    /// Armed at the first read that finds no data, then re-armed at each check; it wakes
    /// the connection's task, whose next read runs the check.
    timer: Option<Pin<Box<Sleep>>>,
    /// The phase count at the last check, and for how many checks in a row it stood still
    /// at an even value (a head was awaited all along).
    seen: u64,
    still: u32,
    /// Set by a read that returned bytes, cleared by a write: something of a request has
    /// arrived since the last response. It tells a slow head from an idle connection. (A
    /// pipelined request read before the previous response was written can make a slow
    /// head count as idle; no client of this API pipelines.)
    request_started: bool,
    /// The connection was closed by the watchdog; every later read fails too.
    expired: bool,
}

impl WatchedStream {
    pub fn new(
        inner: TcpStream,
        phase: Arc<RequestPhase>,
        timeout: Duration,
        counters: HeadTimeoutCounters,
    ) -> Self {
        Self {
            inner,
            phase,
            counters,
            interval: (timeout / CHECKS).max(Duration::from_millis(1)),
            timer: None,
            seen: 0,
            still: 0,
            request_started: false,
            expired: false,
        }
    }

    /// Runs after a read found no data. `Err` when the connection has waited too long.
    fn watch(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let timer = match &mut self.timer {
            None => {
                self.seen = self.phase.count();
                self.timer
                    .insert(Box::pin(tokio::time::sleep(self.interval)))
            }
            // Still armed: it wakes this task when it fires. (Only the connection's task
            // polls this socket, so the waker the timer holds is still the right one.)
            Some(timer) if !timer.is_elapsed() => return Ok(()),
            Some(timer) => {
                let count = self.phase.count();
                // Unchanged and even: no request came, and none is in progress.
                if count == self.seen && count.is_multiple_of(2) {
                    self.still += 1;
                } else {
                    self.seen = count;
                    self.still = 0;
                }
                if self.still >= CHECKS {
                    self.expired = true;
                    let counter = if self.request_started {
                        &self.counters.header
                    } else {
                        &self.counters.idle
                    };
                    counter.inc();
                    return Err(timed_out());
                }
                timer.as_mut().reset(Instant::now() + self.interval);
                timer
            }
        };
        // Registers this task's waker with the (re-)armed timer.
        let _ = timer.as_mut().poll(cx);
        Ok(())
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "no complete request head within --header-read-timeout",
    )
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.expired {
            return Poll::Ready(Err(timed_out()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        match polled {
            Poll::Pending => {
                if let Err(err) = self.watch(cx) {
                    return Poll::Ready(Err(err));
                }
            }
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.request_started = true,
            Poll::Ready(_) => {}
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.request_started = false;
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.request_started = false;
        }
        polled
    }

    // Delegated so hyper keeps writing head and body in one vectored write.
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
