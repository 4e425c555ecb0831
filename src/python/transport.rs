//! Where and how a client connects, as the paho-style and asyncio clients both pass it:
//! transport name, WebSocket path and headers, TLS and proxy tuples become one
//! `ConnectOptions` here, so the two clients cannot drift apart.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::client::{ClientError, ConnectOptions};
use crate::transport::tls::{client_config, ServerVerification, TlsClientSettings, TlsVersion};
use crate::transport::{ProxyKind, ProxySettings, TransportError, WsClientSettings};

/// (ca_certs, certfile, keyfile, verification, tls_version, alpn_protocols, ciphers,
/// keyfile_password). verification: 0 full, 1 no host name check, 2 none (CERT_NONE);
/// tls_version: 0 TLS 1.2 and 1.3, 1 TLS 1.2 only, 2 TLS 1.3 only.
pub type TlsArgs = (
    Option<String>,
    Option<String>,
    Option<String>,
    u8,
    u8,
    Vec<String>,
    Option<String>,
    Option<String>,
);

/// (proxy_type, host, port, remote_dns, username, password); proxy_type is PySocks'
/// constant: 1 SOCKS4, 2 SOCKS5, 3 HTTP.
pub type ProxyArgs = (u8, String, u16, bool, Option<String>, Option<String>);

const PROXY_SOCKS4: u8 = 1;
const PROXY_SOCKS5: u8 = 2;
const PROXY_HTTP: u8 = 3;

fn tls_config(args: TlsArgs) -> PyResult<Arc<rustls::ClientConfig>> {
    let (ca_file, cert_file, key_file, verification, version, alpn, ciphers, key_password) = args;
    let settings = TlsClientSettings {
        ca_file: ca_file.map(Into::into),
        cert_file: cert_file.map(Into::into),
        key_file: key_file.map(Into::into),
        verification: match verification {
            0 => ServerVerification::Full,
            1 => ServerVerification::SkipHostname,
            _ => ServerVerification::None,
        },
        min_version: match version {
            0 => TlsVersion::Tls12,
            1 => TlsVersion::Tls12Only,
            2 => TlsVersion::Tls13,
            other => {
                return Err(PyValueError::new_err(format!(
                    "tls_version code must be 0, 1 or 2, not {other}"
                )))
            }
        },
        alpn_protocols: alpn.into_iter().map(String::into_bytes).collect(),
        ciphers,
        key_password,
    };
    client_config(&settings).map_err(|e| ClientError::from(TransportError::Tls(e)).into())
}

fn proxy_settings(args: ProxyArgs) -> PyResult<ProxySettings> {
    let (kind, host, port, remote_dns, username, password) = args;
    let kind = match kind {
        PROXY_SOCKS4 => ProxyKind::Socks4,
        PROXY_SOCKS5 => ProxyKind::Socks5,
        PROXY_HTTP => ProxyKind::Http,
        other => {
            return Err(PyValueError::new_err(format!(
                "proxy_type must be 1 (SOCKS4), 2 (SOCKS5) or 3 (HTTP), not {other}"
            )))
        }
    };
    Ok(ProxySettings {
        kind,
        host,
        port,
        remote_dns,
        username,
        password,
    })
}

fn proxy_type(kind: ProxyKind) -> u8 {
    match kind {
        ProxyKind::Socks4 => PROXY_SOCKS4,
        ProxyKind::Socks5 => PROXY_SOCKS5,
        ProxyKind::Http => PROXY_HTTP,
    }
}

/// paho's `bind_address`/`bind_port`: the local end to bind, `None` when neither is given
/// (an empty address with a port binds every IPv4 address).
pub fn local_bind(bind_address: &str, bind_port: u16) -> Option<(String, u16)> {
    if bind_address.is_empty() && bind_port == 0 {
        return None;
    }
    let address = if bind_address.is_empty() {
        "0.0.0.0"
    } else {
        bind_address
    };
    Some((address.to_owned(), bind_port))
}

/// The connection target of `transport` ("tcp", "unix": `host` is the socket path,
/// "websockets"), with TLS and a proxy when given.
#[allow(clippy::too_many_arguments)]
pub fn connect_target(
    host: String,
    port: u16,
    transport: &str,
    ws_path: &str,
    ws_headers: Option<Vec<(String, String)>>,
    tls: Option<TlsArgs>,
    proxy: Option<ProxyArgs>,
) -> PyResult<ConnectOptions> {
    let mut target = match transport {
        "tcp" => ConnectOptions::tcp(host, port),
        "unix" => ConnectOptions::unix(host),
        "websockets" => {
            let mut options = ConnectOptions::tcp(host, port);
            options.websocket = Some(WsClientSettings {
                path: ws_path.to_owned(),
                headers: ws_headers.unwrap_or_default(),
                ..WsClientSettings::default()
            });
            options
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "transport must be \"websockets\", \"tcp\" or \"unix\", not {other}"
            )))
        }
    };
    if let Some(tls) = tls {
        target.tls = Some(tls_config(tls)?);
    }
    if let Some(proxy) = proxy {
        target.proxy = Some(proxy_settings(proxy)?);
    }
    Ok(target)
}

/// Builds the TLS settings of `tls` without connecting: bad cipher names, a wrong key
/// password or unreadable files raise here (ssl.SSLError, as at connect time).
#[pyfunction]
fn check_tls(tls: TlsArgs) -> PyResult<()> {
    tls_config(tls).map(|_| ())
}

/// mosquitto_pub's `--proxy` URL (`socks5h://user:password@host:port`, also socks5,
/// socks4a, socks4, http) as the proxy tuple `connect` takes.
#[pyfunction]
fn parse_proxy_url(url: &str) -> PyResult<ProxyArgs> {
    let proxy = ProxySettings::from_url(url).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((
        proxy_type(proxy.kind),
        proxy.host,
        proxy.port,
        proxy.remote_dns,
        proxy.username,
        proxy.password,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_proxy_url, m)?)?;
    m.add_function(wrap_pyfunction!(check_tls, m)?)?;
    Ok(())
}
