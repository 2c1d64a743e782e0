//! Integration tests of the load generator against in-test hyper servers on 127.0.0.1:0.
//! Every run is bounded to a few seconds; timing assertions use generous bands.

mod cli;
mod closed;
mod errors;
mod kinds;
mod nats;
mod open;
mod support;
mod targets;
