//! The routing-decision service: a client asks which provider should serve a task for a
//! tenant under a policy, and gets a decision. HTTP/JSON front end over a pure decision core.

pub mod config;
pub mod conn;
pub mod error;
pub mod metrics;
pub mod nats;
pub mod policy;
pub mod routing;
pub mod server;
pub mod service;
pub mod sticky;
pub mod wire;

pub use config::Config;
pub use policy::PolicySet;
pub use service::AppState;
