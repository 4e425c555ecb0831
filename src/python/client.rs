//! `ClientCore`: the Rust client as `ferromqtt.client.Client` sees it. Arguments arrive
//! already checked and converted by client.py (paho's rules live there); here they become
//! packets. Waiting happens with the GIL released, in slices so Ctrl-C gets through, and
//! events cross to Python in batches of tuples (see `events.rs`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use super::events::{
    event_to_py, properties_from_py, properties_to_py, qos_from, subscriptions_from_py,
    PropertyContext,
};
use super::runtime;
use super::transport::{connect_target, local_bind, ProxyArgs, TlsArgs};
use crate::client::{
    ClientError, ClientHandle, ConnectParams, Event, EventReceiver, Limits, Qos0Status,
};
use crate::protocol::{
    Connect, Disconnect, PacketType, ProtocolVersion, Publish, QoS, ReasonCode, TopicFilter,
    TopicName, Will,
};

/// paho's MQTTErrorCode values the core returns.
const MQTT_ERR_SUCCESS: i32 = 0;
const MQTT_ERR_NO_CONN: i32 = 4;
const MQTT_ERR_QUEUE_SIZE: i32 = 15;
const MQTT_ERR_PAYLOAD_SIZE: i32 = 9;

/// (topic, payload, qos, retain, properties) of a will, as client.py passes it.
type WillArgs = (String, Vec<u8>, u8, bool, Option<Vec<u8>>);

/// Longest single wait without checking for signals (Ctrl-C).
const SIGNAL_SLICE: Duration = Duration::from_millis(100);

fn protocol_version(level: u8) -> PyResult<ProtocolVersion> {
    ProtocolVersion::from_level(level)
        .ok_or_else(|| PyValueError::new_err(format!("unsupported protocol version {level}")))
}

/// The Rust half of a paho-compatible client: one session, any number of connections.
#[pyclass(frozen, module = "ferromqtt._core")]
pub struct ClientCore {
    handle: ClientHandle,
    // std Mutex: held by the one thread running the loop while it waits detached;
    // no runtime thread ever takes it.
    events: Mutex<EventReceiver>,
    version: Mutex<ProtocolVersion>,
}

#[pymethods]
impl ClientCore {
    #[new]
    #[pyo3(signature = (protocol=4, max_inflight=20, max_queued=0))]
    fn new(protocol: u8, max_inflight: u16, max_queued: usize) -> PyResult<Self> {
        let version = protocol_version(protocol)?;
        let limits = Limits {
            max_inflight,
            max_queued,
        };
        let (handle, events) = ClientHandle::new(version, limits, runtime::handle())?;
        Ok(ClientCore {
            handle,
            events: Mutex::new(events),
            version: Mutex::new(version),
        })
    }

    /// Opens the TCP connection and sends CONNECT; does not wait for CONNACK.
    #[pyo3(signature = (host, port, keepalive, client_id, clean_start, connect_timeout,
        bind_address="", bind_port=0, username=None, password=None, will=None,
        properties=None, protocol=4, bridge=false, transport="tcp", ws_path="/mqtt",
        ws_headers=None, tls=None, proxy=None))]
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &self,
        py: Python<'_>,
        host: String,
        port: u16,
        keepalive: u16,
        client_id: String,
        clean_start: bool,
        connect_timeout: f64,
        bind_address: &str,
        bind_port: u16,
        username: Option<String>,
        password: Option<Vec<u8>>,
        will: Option<WillArgs>,
        properties: Option<Vec<u8>>,
        protocol: u8,
        bridge: bool,
        transport: &str,
        ws_path: &str,
        ws_headers: Option<Vec<(String, String)>>,
        tls: Option<TlsArgs>,
        proxy: Option<ProxyArgs>,
    ) -> PyResult<()> {
        let version = protocol_version(protocol)?;
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) = version;
        let will = match will {
            None => None,
            Some((topic, payload, qos, retain, will_properties)) => Some(Will {
                topic: TopicName::new(topic).map_err(|e| PyValueError::new_err(e.to_string()))?,
                payload: Bytes::from(payload),
                qos: qos_from(qos)?,
                retain,
                properties: properties_from_py(will_properties.as_deref(), PropertyContext::Will)?,
            }),
        };
        let connect = Connect {
            protocol_version: version,
            bridge,
            clean_start,
            keep_alive: keepalive,
            client_id,
            will,
            username,
            password: password.map(Bytes::from),
            properties: properties_from_py(
                properties.as_deref(),
                PropertyContext::Packet(PacketType::Connect),
            )?,
        };
        let bind = local_bind(bind_address, bind_port);
        if !(connect_timeout > 0.0 && connect_timeout.is_finite()) {
            return Err(PyValueError::new_err("connect_timeout must be positive"));
        }
        let target = connect_target(host, port, transport, ws_path, ws_headers, tls, proxy)?;
        let params = ConnectParams {
            target,
            bind,
            connect_timeout: Duration::from_secs_f64(connect_timeout),
            connect,
        };
        py.detach(|| self.handle.connect(params))
            .map_err(PyErr::from)
    }

    /// Publishes. Returns (rc, mid): rc 0 when handed to an open connection, 4 when QoS 0
    /// was dropped or QoS>0 queued while disconnected, 15 when the queue is full.
    ///
    /// `register` and then `register_also`, each a (dict, value), get `dict[mid] = value`
    /// before this returns when rc is 0 (or 4 for QoS>0): the GIL is held from the
    /// hand-over to the connection until then, so the loop thread cannot see the message
    /// complete before the caller's bookkeeping of it exists.
    #[pyo3(signature = (topic, payload, qos=0, retain=false, properties=None, register=None,
        register_also=None))]
    #[allow(clippy::too_many_arguments)]
    fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        properties: Option<&[u8]>,
        register: Option<(Bound<'_, PyDict>, Bound<'_, PyAny>)>,
        register_also: Option<(Bound<'_, PyDict>, Bound<'_, PyAny>)>,
    ) -> PyResult<(i32, u16)> {
        let publish = publish_from_py(topic, payload, qos_from(qos)?, retain, properties)?;
        let (rc, mid, _) = publish_outcome(self.handle.publish_with(publish, true))?;
        // QoS 0 without a connection is dropped: nothing to keep track of.
        if rc == MQTT_ERR_SUCCESS || (rc == MQTT_ERR_NO_CONN && qos > 0) {
            for (dict, value) in register.into_iter().chain(register_also) {
                dict.set_item(mid, value)?;
            }
        }
        Ok((rc, mid))
    }

    /// Publishes at QoS 0 with no "published" event: returns (rc, mid, number), where
    /// `number` (rc 0 only) is what `qos0_status` and `wait_qos0` take.
    #[pyo3(signature = (topic, payload, retain=false, properties=None))]
    fn publish_unreported(
        &self,
        topic: &str,
        payload: &[u8],
        retain: bool,
        properties: Option<&[u8]>,
    ) -> PyResult<(i32, u16, Option<u64>)> {
        let publish = publish_from_py(topic, payload, QoS::AtMostOnce, retain, properties)?;
        publish_outcome(self.handle.publish_with(publish, false))
    }

    /// 0 while a message of `publish_unreported` is unwritten, 1 once written, 2 when
    /// dropped with its connection.
    fn qos0_status(&self, number: u64) -> u8 {
        qos0_code(self.handle.qos0_status(number))
    }

    /// Waits with the GIL released up to `timeout` seconds (None: forever) for a message of
    /// `publish_unreported` to be written or dropped; returns `qos0_status`. Ctrl-C raises
    /// KeyboardInterrupt.
    #[pyo3(signature = (number, timeout=None))]
    fn wait_qos0(&self, py: Python<'_>, number: u64, timeout: Option<f64>) -> PyResult<u8> {
        // Infinite, or past what the clock holds: no deadline. NaN or negative: now.
        let deadline = timeout.and_then(|t| {
            let t = if t.is_nan() { 0.0 } else { t.max(0.0) };
            Duration::try_from_secs_f64(t)
                .ok()
                .and_then(|wait| Instant::now().checked_add(wait))
        });
        loop {
            let slice = signal_slice(deadline);
            let status = py.detach(|| self.handle.wait_qos0(number, slice));
            if status != Qos0Status::Pending || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(qos0_code(status));
            }
            py.check_signals()?;
        }
    }

    /// SUBSCRIBE with (filter, qos, no_local, retain_as_published, retain_handling) items.
    /// Returns (rc, mid), (4, None) when no connection is open.
    #[pyo3(signature = (topics, properties=None))]
    fn subscribe(
        &self,
        topics: Vec<(String, u8, bool, bool, u8)>,
        properties: Option<&[u8]>,
    ) -> PyResult<(i32, Option<u16>)> {
        let subscriptions = subscriptions_from_py(topics)?;
        let properties =
            properties_from_py(properties, PropertyContext::Packet(PacketType::Subscribe))?;
        match self.handle.subscribe(subscriptions, properties) {
            Ok(mid) => Ok((MQTT_ERR_SUCCESS, Some(mid))),
            Err(ClientError::NotConnected) => Ok((MQTT_ERR_NO_CONN, None)),
            Err(e) => Err(e.into()),
        }
    }

    #[pyo3(signature = (topics, properties=None))]
    fn unsubscribe(
        &self,
        topics: Vec<String>,
        properties: Option<&[u8]>,
    ) -> PyResult<(i32, Option<u16>)> {
        let filters = topics
            .into_iter()
            .map(TopicFilter::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let properties =
            properties_from_py(properties, PropertyContext::Packet(PacketType::Unsubscribe))?;
        match self.handle.unsubscribe(filters, properties) {
            Ok(mid) => Ok((MQTT_ERR_SUCCESS, Some(mid))),
            Err(ClientError::NotConnected) => Ok((MQTT_ERR_NO_CONN, None)),
            Err(e) => Err(e.into()),
        }
    }

    /// Acknowledges delivered messages: a list of (mid, qos); QoS 1 PUBACK, QoS 2 PUBCOMP.
    fn ack(&self, acks: Vec<(u16, u8)>) -> PyResult<()> {
        let acks = acks
            .into_iter()
            .map(|(mid, qos)| Ok((mid, qos_from(qos)?)))
            .collect::<PyResult<Vec<_>>>()?;
        self.handle.ack(&acks);
        Ok(())
    }

    /// Sends DISCONNECT and closes the connection; False when none was open.
    #[pyo3(signature = (reason_code=0, properties=None))]
    fn disconnect(&self, reason_code: u8, properties: Option<&[u8]>) -> PyResult<bool> {
        let reason_code = ReasonCode::from_u8(reason_code)
            .ok_or_else(|| PyValueError::new_err("invalid DISCONNECT reason code"))?;
        let disconnect = Disconnect {
            reason_code,
            properties: properties_from_py(
                properties,
                PropertyContext::Packet(PacketType::Disconnect),
            )?,
        };
        Ok(self.handle.disconnect(disconnect))
    }

    /// Drops the connection without DISCONNECT and without an event.
    fn abort(&self) {
        self.handle.abort_connection();
    }

    /// Waits up to `timeout` seconds (None: forever) for events and returns how many were
    /// taken (at most `max_events`) and their tuples; (0, []) on timeout. Ctrl-C raises
    /// KeyboardInterrupt. With `published` = (client, infos, out_messages), the facade and
    /// its dicts by mid: when the batch is taken and the client has no on_publish to call,
    /// a message reported published is settled here, without a tuple (both entries
    /// removed, the info's `_set_as_published()` called).
    #[pyo3(signature = (timeout=None, max_events=256, published=None))]
    fn next_events<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        max_events: usize,
        published: Option<(Bound<'py, PyAny>, Bound<'py, PyDict>, Bound<'py, PyDict>)>,
    ) -> PyResult<(usize, Bound<'py, PyList>)> {
        let deadline = match timeout {
            Some(t) if t.is_finite() && t > 0.0 => {
                Some(Instant::now() + Duration::from_secs_f64(t))
            }
            Some(_) => Some(Instant::now()),
            None => None,
        };
        let version = *self.version.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let wait = signal_slice(deadline);
            let batch = py.detach(|| {
                let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
                events.recv_batch(wait, max_events.max(1))
            });
            let Some(batch) = batch else {
                return Ok((0, PyList::empty(py)));
            };
            if !batch.is_empty() {
                let taken = batch.len();
                let list = PyList::empty(py);
                // Decided now, not when the wait began: on_publish may have been set since.
                let published = match published {
                    Some((client, infos, messages))
                        if client.getattr(pyo3::intern!(py, "_on_publish"))?.is_none() =>
                    {
                        Some((infos, messages))
                    }
                    _ => None,
                };
                for event in batch {
                    if let (Some((infos, messages)), Event::Published { packet_id, .. }) =
                        (&published, &event)
                    {
                        settle_published(infos, messages, *packet_id);
                        continue;
                    }
                    list.append(event_to_py(py, event, version)?)?;
                }
                return Ok((taken, list));
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok((0, PyList::empty(py)));
            }
        }
    }

    fn is_open(&self) -> bool {
        self.handle.is_open()
    }

    fn is_connected(&self) -> bool {
        self.handle.is_connected()
    }

    /// True while a connection task runs (also while it flushes a requested close).
    fn has_connection(&self) -> bool {
        self.handle.has_task()
    }

    fn set_limits(&self, max_inflight: u16, max_queued: usize) {
        self.handle.set_limits(Limits {
            max_inflight,
            max_queued,
        });
    }

    /// Whether log lines (paho's on_log) are produced as events.
    fn set_log_enabled(&self, enabled: bool) {
        self.handle.set_log_enabled(enabled);
    }

    /// A descriptor that is readable while events are queued (for external loops).
    fn fileno(&self) -> i32 {
        self.handle.readiness_fd()
    }

    fn assigned_client_id(&self) -> Option<String> {
        self.handle.assigned_client_id()
    }

    /// Removes every unacknowledged QoS>0 message: (mid, topic, payload, qos, retain, props).
    #[allow(clippy::type_complexity)]
    fn drop_out_messages<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<
        Vec<(
            u16,
            String,
            Bound<'py, PyBytes>,
            u8,
            bool,
            Option<Bound<'py, PyBytes>>,
        )>,
    > {
        let version = *self.version.lock().unwrap_or_else(|p| p.into_inner());
        self.handle
            .drop_out_messages()
            .into_iter()
            .map(|p| {
                Ok((
                    p.packet_id,
                    p.topic.to_string(),
                    PyBytes::new(py, &p.payload),
                    p.qos.as_u8(),
                    p.retain,
                    properties_to_py(py, &p.properties, version),
                ))
            })
            .collect()
    }

    /// QoS>0 messages held (in flight and waiting).
    fn queued_len(&self) -> usize {
        self.handle.queued_len()
    }

    /// Makes a `next_events` wait in another thread return early.
    fn interrupt(&self) {
        self.handle.interrupt();
    }

    /// How many connections this client has opened.
    fn connection_count(&self) -> u64 {
        self.handle.connection_count()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ClientCore>()?;
    super::events::register(m)?;
    Ok(())
}

/// The facade's bookkeeping for a message reported published, when no on_publish is to be
/// called: forget it by mid, mark its info (which wakes wait_for_publish()). Errors, which
/// only a broken info could raise, are reported as unraisable: the rest of the batch goes on.
fn settle_published(infos: &Bound<'_, PyDict>, messages: &Bound<'_, PyDict>, mid: u16) {
    let py = infos.py();
    let settle = || -> PyResult<()> {
        if messages.get_item(mid)?.is_some() {
            messages.del_item(mid)?;
        }
        if let Some(info) = infos.get_item(mid)? {
            infos.del_item(mid)?;
            if !info.is_none() {
                info.call_method0(pyo3::intern!(py, "_set_as_published"))?;
            }
        }
        Ok(())
    };
    if let Err(error) = settle() {
        error.write_unraisable(py, Some(infos.as_any()));
    }
}

/// How long one detached wait may last before signals are checked, given the deadline.
fn signal_slice(deadline: Option<Instant>) -> Duration {
    match deadline {
        Some(deadline) => deadline
            .saturating_duration_since(Instant::now())
            .min(SIGNAL_SLICE),
        None => SIGNAL_SLICE,
    }
}

/// The Publish a facade call describes.
fn publish_from_py(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    properties: Option<&[u8]>,
) -> PyResult<Publish> {
    let topic = if topic.is_empty() {
        TopicName::empty()
    } else {
        TopicName::new(topic).map_err(|e| PyValueError::new_err(e.to_string()))?
    };
    Ok(Publish {
        dup: false,
        qos,
        retain,
        topic,
        packet_id: 0,
        properties: properties_from_py(properties, PropertyContext::Packet(PacketType::Publish))?,
        payload: Bytes::copy_from_slice(payload),
    })
}

/// paho's (rc, mid) for the outcome of a publish, with the QoS 0 ledger number if any.
fn publish_outcome(
    outcome: Result<(u16, bool, Option<u64>), ClientError>,
) -> PyResult<(i32, u16, Option<u64>)> {
    match outcome {
        Ok((mid, true, number)) => Ok((MQTT_ERR_SUCCESS, mid, number)),
        Ok((mid, false, _)) => Ok((MQTT_ERR_NO_CONN, mid, None)),
        // paho reports a mid still in use as a full queue too.
        Err(ClientError::QueueFull | ClientError::PacketIdsExhausted) => {
            Ok((MQTT_ERR_QUEUE_SIZE, 0, None))
        }
        Err(ClientError::Encode(_)) => Ok((MQTT_ERR_PAYLOAD_SIZE, 0, None)),
        Err(e) => Err(e.into()),
    }
}

fn qos0_code(status: Qos0Status) -> u8 {
    match status {
        Qos0Status::Pending => 0,
        Qos0Status::Written => 1,
        Qos0Status::Dropped => 2,
    }
}
