//! The Python exception hierarchy (declared in `_core.pyi`) and the one place where
//! Rust errors become Python exceptions.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    ferromqtt._core,
    MQTTError,
    PyException,
    "Base class of ferromqtt's errors."
);
create_exception!(
    ferromqtt._core,
    ProtocolError,
    MQTTError,
    "A peer broke the MQTT protocol."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MQTTError", py.get_type::<MQTTError>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    Ok(())
}
