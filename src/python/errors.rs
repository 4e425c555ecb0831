//! The Python exception hierarchy (declared in `_core.pyi`) and the one place where
//! Rust errors become Python exceptions.

use pyo3::create_exception;
use pyo3::exceptions::{PyConnectionError, PyException};
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

create_exception!(
    ferromqtt._core,
    ProxyError,
    PyConnectionError,
    "A SOCKS or HTTP proxy could not be reached or refused the tunnel to the broker."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MQTTError", py.get_type::<MQTTError>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("ProxyError", py.get_type::<ProxyError>())?;
    Ok(())
}

/// The one mapping of client errors to Python exceptions. Network failures keep their
/// OSError subclass (ConnectionRefusedError, ...) as paho's `connect()` raises them.
impl From<crate::client::ClientError> for PyErr {
    fn from(error: crate::client::ClientError) -> PyErr {
        use crate::client::ClientError;
        use crate::transport::TransportError;
        use pyo3::exceptions::{PyTimeoutError, PyValueError};
        match error {
            ClientError::Io(e) => e.into(),
            ClientError::ConnectTimeout(_) => PyTimeoutError::new_err(error.to_string()),
            // paho's connect() lets socket.gaierror through for an unknown host.
            ClientError::UnknownHost(_) => {
                python_exception("socket", "gaierror", (-2, error.to_string()))
            }
            // paho raises ssl.SSLError (an OSError) for TLS failures and its own
            // WebsocketConnectionError (a ConnectionError) for a refused upgrade.
            ClientError::Transport(TransportError::Tls(_)) => {
                python_exception("ssl", "SSLError", (1, error.to_string()))
            }
            ClientError::Transport(TransportError::WebSocket(_)) => python_exception(
                "ferromqtt.client",
                "WebsocketConnectionError",
                (error.to_string(),),
            ),
            // PySocks' errors, which paho lets through, are OSErrors too.
            ClientError::Transport(TransportError::Proxy(_)) => {
                ProxyError::new_err(error.to_string())
            }
            ClientError::Transport(TransportError::Io(e)) => e.into(),
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

/// An instance of the Python exception `module.name` (an OSError if it cannot be found).
fn python_exception<A>(module: &str, name: &str, args: A) -> PyErr
where
    A: for<'py> pyo3::IntoPyObject<'py> + Send + Sync + 'static + std::fmt::Debug,
{
    Python::attach(|py| {
        let kind = py
            .import(module)
            .and_then(|m| m.getattr(name))
            .ok()
            .and_then(|t| t.cast_into::<pyo3::types::PyType>().ok());
        match kind {
            Some(kind) => PyErr::from_type(kind, args),
            None => pyo3::exceptions::PyOSError::new_err(format!("{args:?}")),
        }
    })
}
