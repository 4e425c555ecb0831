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

/// The one mapping of client errors to Python exceptions. Network failures keep their
/// OSError subclass (ConnectionRefusedError, ...) as paho's `connect()` raises them.
impl From<crate::client::ClientError> for PyErr {
    fn from(error: crate::client::ClientError) -> PyErr {
        use crate::client::ClientError;
        use pyo3::exceptions::{PyOSError, PyTimeoutError, PyValueError};
        match error {
            ClientError::Io(e) => e.into(),
            ClientError::ConnectTimeout(_) => PyTimeoutError::new_err(error.to_string()),
            // paho's connect() lets socket.gaierror through for an unknown host.
            ClientError::UnknownHost(_) => Python::attach(|py| {
                let message = error.to_string();
                let gaierror = py
                    .import("socket")
                    .and_then(|m| m.getattr("gaierror"))
                    .ok()
                    .and_then(|t| t.cast_into::<pyo3::types::PyType>().ok());
                match gaierror {
                    Some(gaierror) => PyErr::from_type(gaierror, (-2, message)),
                    None => PyOSError::new_err(message),
                }
            }),
            ClientError::NotConnected => MQTTError::new_err(error.to_string()),
            ClientError::QueueFull | ClientError::PacketIdsExhausted => {
                MQTTError::new_err(error.to_string())
            }
            ClientError::Encode(_) | ClientError::Topic(_) => {
                PyValueError::new_err(error.to_string())
            }
        }
    }
}
