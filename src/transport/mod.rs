//! The byte streams both sides use: TCP, TLS (rustls), WebSocket and Unix sockets.

#![forbid(unsafe_code)]

pub mod tls;
pub mod websocket;

#[cfg(test)]
mod test_pki;
