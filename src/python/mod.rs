//! The PyO3 boundary and nothing else: conversions, exceptions, the process-wide tokio
//! runtime and GIL handling. Everything below `ferromqtt._core` is registered here.

use pyo3::prelude::*;

mod topic;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    topic::register(m)?;
    Ok(())
}
