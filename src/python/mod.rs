//! The PyO3 boundary and nothing else: conversions, exceptions, the process-wide tokio
//! runtime and GIL handling. Everything below `ferromqtt._core` is registered here.

use pyo3::prelude::*;

mod aio;
mod broker;
mod client;
pub mod errors;
mod events;
mod hooks;
mod passwd;
pub mod runtime;
mod topic;
mod transport;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Benchmarks refuse a debug build: it costs about twice the CPU per message.
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    m.add("build_profile", profile)?;
    // Rust `log` records reach Python's `logging` under the logger "ferromqtt" (targets
    // map to dotted children, e.g. "ferromqtt.broker.connection").
    let _ = pyo3_log::try_init();
    errors::register(m)?;
    topic::register(m)?;
    client::register(m)?;
    aio::register(m)?;
    broker::register(m)?;
    passwd::register(m)?;
    transport::register(m)?;
    Ok(())
}
