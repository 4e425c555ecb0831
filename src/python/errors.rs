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
            // A server certificate that failed verification is the subclass Python's ssl
            // raises for it, with OpenSSL's verify code and message.
            ClientError::Transport(TransportError::Tls(ref tls)) => match tls.handshake_cause() {
                Some(rustls::Error::InvalidCertificate(cause)) => {
                    let (code, message) = openssl_verify_error(cause);
                    let text = format!("certificate verify failed: {message} ({error})");
                    certificate_verification_error(text, code, message)
                }
                _ => python_exception("ssl", "SSLError", (1, error.to_string())),
            },
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

/// OpenSSL's `X509_V_ERR_*` code and Python's `verify_message` for a certificate rustls
/// refused, so that code written for paho's `ssl.SSLCertVerificationError` reads the same.
fn openssl_verify_error(error: &rustls::CertificateError) -> (i64, String) {
    use rustls::pki_types::ServerName;
    use rustls::CertificateError as E;
    let text = |message: &str| message.to_owned();
    match error {
        E::Expired | E::ExpiredContext { .. } => (10, text("certificate has expired")),
        E::NotValidYet | E::NotValidYetContext { .. } => (9, text("certificate is not yet valid")),
        // Python's wording for X509_V_ERR_HOSTNAME_MISMATCH / X509_V_ERR_IP_ADDRESS_MISMATCH.
        E::NotValidForNameContext { expected, .. } => match expected {
            ServerName::IpAddress(address) => (
                64,
                format!(
                    "IP address mismatch, certificate is not valid for '{}'.",
                    std::net::IpAddr::from(*address)
                ),
            ),
            name => (
                62,
                format!(
                    "Hostname mismatch, certificate is not valid for '{}'.",
                    name.to_str()
                ),
            ),
        },
        E::NotValidForName => (62, text("Hostname mismatch")),
        E::UnknownIssuer => (20, text("unable to get local issuer certificate")),
        E::BadSignature => (7, text("certificate signature failure")),
        E::Revoked => (23, text("certificate revoked")),
        E::InvalidPurpose | E::InvalidPurposeContext { .. } => {
            (26, text("unsupported certificate purpose"))
        }
        _ => (1, text("unspecified certificate verification error")),
    }
}

/// `ssl.SSLCertVerificationError` with the attributes Python's own carries.
fn certificate_verification_error(message: String, code: i64, verify_message: String) -> PyErr {
    Python::attach(|py| {
        let made = py
            .import("ssl")
            .and_then(|ssl| ssl.getattr("SSLCertVerificationError"))
            .and_then(|kind| kind.call1((1, message)))
            .and_then(|error| {
                error.setattr("library", "SSL")?;
                error.setattr("reason", "CERTIFICATE_VERIFY_FAILED")?;
                error.setattr("verify_code", code)?;
                error.setattr("verify_message", verify_message)?;
                Ok(error)
            });
        match made {
            Ok(error) => PyErr::from_value(error),
            Err(error) => error,
        }
    })
}
