//! ferromqtt: an MQTT toolkit with a Rust core.
//!
//! `protocol` is the sans-IO codec shared by both sides; `broker` and `client` drive it
//! over tokio; `python` (feature `python`) is the PyO3 boundary and nothing else.

pub mod auth;
pub mod broker;
pub mod client;
pub mod protocol;
pub mod transport;

#[cfg(feature = "python")]
mod python;
