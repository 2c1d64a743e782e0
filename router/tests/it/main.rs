//! Integration tests of the `router` binary: each test starts the real process on a free
//! loopback port, talks HTTP/1.1 to it, and stops it (the guard kills it on drop).

mod backpressure;
mod decide;
mod delay;
mod lifecycle;
mod malformed;
mod metrics;
mod nats;
mod sticky;
mod support;
mod timeouts;
