//! The MQTT client core: a sans-IO session (`state`) driven by one tokio task per
//! connection (`connection`). Python reaches it through `src/python/client.rs`; the
//! application hears about everything through a bounded event channel.

#![forbid(unsafe_code)]

pub mod connection;
pub mod events;
pub mod ledger;
pub mod state;

pub use crate::transport::{ConnectOptions, Endpoint};
pub use connection::{ClientHandle, ConnectParams};
pub use events::{EventReceiver, Readiness};
pub use ledger::Qos0Status;
pub use state::{Action, ClientState, CloseReason, Event, Limits};

use crate::protocol::{EncodeError, TopicError};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the client is not connected")]
    NotConnected,
    #[error("the outgoing message queue is full")]
    QueueFull,
    #[error("all 65535 packet identifiers are in use")]
    PacketIdsExhausted,
    #[error("timed out connecting to {0}")]
    ConnectTimeout(String),
    #[error("cannot resolve host {0}")]
    UnknownHost(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("cannot encode the packet: {0}")]
    Encode(#[from] EncodeError),
    #[error("invalid topic: {0}")]
    Topic(#[from] TopicError),
    #[error(transparent)]
    Transport(crate::transport::TransportError),
}

impl From<crate::transport::TransportError> for ClientError {
    fn from(error: crate::transport::TransportError) -> ClientError {
        match error {
            // Keep plain socket errors as such: they become ConnectionRefusedError & co.
            crate::transport::TransportError::Io(e) => ClientError::Io(e),
            other => ClientError::Transport(other),
        }
    }
}
