//! Client events as Python tuples, and MQTT 5 properties as the bytes paho's
//! `Properties.pack()`/`unpack()` use (VBI length prefix), so client.py builds paho's
//! objects. Tuples are cheap to make and to unpack; the first item is one of the EV_*
//! constants registered here.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use pyo3::IntoPyObjectExt;

use crate::client::{CloseReason, Event};
pub use crate::protocol::properties::PropertyContext;
use crate::protocol::properties::{decode_properties, encode_properties};
use crate::protocol::{
    Properties, ProtocolVersion, QoS, RetainHandling, Subscription, SubscriptionOptions,
    TopicFilter,
};

const EV_CONNACK: u8 = 0;
const EV_MESSAGE: u8 = 1;
const EV_PUBLISHED: u8 = 2;
const EV_SUBACK: u8 = 3;
const EV_UNSUBACK: u8 = 4;
const EV_DISCONNECTED: u8 = 5;
const EV_LOG: u8 = 6;

// Causes carried by EV_DISCONNECTED.
const CAUSE_REQUESTED: u8 = 0;
const CAUSE_SERVER: u8 = 1;
const CAUSE_KEEPALIVE: u8 = 2;
const CAUSE_LOST: u8 = 3;
const CAUSE_PROTOCOL: u8 = 4;
const CAUSE_REFUSED: u8 = 5;

/// paho's LogLevel values.
fn paho_log_level(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 8,
        log::Level::Warn => 4,
        log::Level::Info => 1,
        log::Level::Debug | log::Level::Trace => 16,
    }
}

/// Properties from `Properties.pack()` bytes (None or empty: no properties).
/// A QoS from Python, as paho words the error.
pub fn qos_from(value: u8) -> PyResult<QoS> {
    QoS::from_u8(value).ok_or_else(|| PyValueError::new_err("Invalid QoS level."))
}

/// Subscriptions from the facades' `(filter, qos, no_local, retain_as_published,
/// retain_handling)` tuples.
pub fn subscriptions_from_py(
    topics: Vec<(String, u8, bool, bool, u8)>,
) -> PyResult<Vec<Subscription>> {
    let mut subscriptions = Vec::with_capacity(topics.len());
    for (filter, qos, no_local, retain_as_published, retain_handling) in topics {
        let retain_handling = match retain_handling {
            0 => RetainHandling::SendOnSubscribe,
            1 => RetainHandling::SendIfNewSubscription,
            2 => RetainHandling::DoNotSend,
            _ => return Err(PyValueError::new_err("Invalid retain handling")),
        };
        subscriptions.push(Subscription {
            filter: TopicFilter::new(filter).map_err(|e| PyValueError::new_err(e.to_string()))?,
            options: SubscriptionOptions {
                qos: qos_from(qos)?,
                no_local,
                retain_as_published,
                retain_handling,
            },
        });
    }
    Ok(subscriptions)
}

pub fn properties_from_py(data: Option<&[u8]>, context: PropertyContext) -> PyResult<Properties> {
    match data {
        None | Some([]) | Some([0]) => Ok(Properties::new()),
        Some(bytes) => {
            let mut buf = bytes::Bytes::copy_from_slice(bytes);
            decode_properties(&mut buf, context)
                .map_err(|e| PyValueError::new_err(format!("invalid properties: {e}")))
        }
    }
}

/// `Properties.unpack()` bytes for MQTT 5, None for 3.x.
pub fn properties_to_py<'py>(
    py: Python<'py>,
    properties: &Properties,
    version: ProtocolVersion,
) -> Option<Bound<'py, PyBytes>> {
    if !version.is_v5() {
        return None;
    }
    let mut out = bytes::BytesMut::new();
    if encode_properties(properties, &mut out).is_err() {
        out.clear();
        out.extend_from_slice(&[0]);
    }
    Some(PyBytes::new(py, &out))
}

pub fn event_to_py<'py>(
    py: Python<'py>,
    event: Event,
    version: ProtocolVersion,
) -> PyResult<Bound<'py, PyTuple>> {
    let tuple = match event {
        Event::Message(p) => (
            EV_MESSAGE,
            p.packet_id,
            PyBytes::new(py, p.topic.as_str().as_bytes()),
            PyBytes::new(py, &p.payload),
            p.qos.as_u8(),
            p.retain,
            p.dup,
            properties_to_py(py, &p.properties, version),
        )
            .into_pyobject(py)?,
        Event::Published {
            packet_id,
            reason_code,
            properties,
        } => (
            EV_PUBLISHED,
            packet_id,
            reason_code.as_u8(),
            properties_to_py(py, &properties, version),
        )
            .into_pyobject(py)?,
        Event::ConnAck(c) => (
            EV_CONNACK,
            c.session_present,
            c.reason_code.to_connack_v3(),
            c.reason_code.as_u8(),
            properties_to_py(py, &c.properties, version),
        )
            .into_pyobject(py)?,
        Event::SubAck(s) => (
            EV_SUBACK,
            s.packet_id,
            s.reason_codes.iter().map(|c| c.as_u8()).collect::<Vec<_>>(),
            properties_to_py(py, &s.properties, version),
        )
            .into_pyobject(py)?,
        Event::UnsubAck(u) => (
            EV_UNSUBACK,
            u.packet_id,
            u.reason_codes.iter().map(|c| c.as_u8()).collect::<Vec<_>>(),
            properties_to_py(py, &u.properties, version),
        )
            .into_pyobject(py)?,
        Event::Disconnected(reason) => {
            let (cause, code, properties, message) = match reason {
                CloseReason::Requested => (CAUSE_REQUESTED, None, None, String::new()),
                CloseReason::ServerDisconnect(d) => (
                    CAUSE_SERVER,
                    Some(d.reason_code.as_u8()),
                    properties_to_py(py, &d.properties, version),
                    String::new(),
                ),
                CloseReason::KeepAliveTimeout => (CAUSE_KEEPALIVE, None, None, String::new()),
                CloseReason::ConnectionLost => (CAUSE_LOST, None, None, String::new()),
                CloseReason::ProtocolError(m) => (CAUSE_PROTOCOL, None, None, m),
                CloseReason::Refused(code) => {
                    (CAUSE_REFUSED, Some(code.as_u8()), None, String::new())
                }
            };
            (EV_DISCONNECTED, cause, code, properties, message).into_pyobject(py)?
        }
        Event::Log(level, line) => (EV_LOG, paho_log_level(level), line).into_pyobject(py)?,
    };
    Ok(tuple)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (name, value) in [
        ("EV_CONNACK", EV_CONNACK),
        ("EV_MESSAGE", EV_MESSAGE),
        ("EV_PUBLISHED", EV_PUBLISHED),
        ("EV_SUBACK", EV_SUBACK),
        ("EV_UNSUBACK", EV_UNSUBACK),
        ("EV_DISCONNECTED", EV_DISCONNECTED),
        ("EV_LOG", EV_LOG),
        ("CAUSE_REQUESTED", CAUSE_REQUESTED),
        ("CAUSE_SERVER", CAUSE_SERVER),
        ("CAUSE_KEEPALIVE", CAUSE_KEEPALIVE),
        ("CAUSE_LOST", CAUSE_LOST),
        ("CAUSE_PROTOCOL", CAUSE_PROTOCOL),
        ("CAUSE_REFUSED", CAUSE_REFUSED),
    ] {
        m.add(name, value.into_py_any(py)?)?;
    }
    Ok(())
}
