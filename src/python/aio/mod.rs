//! `AsyncClientCore`: the client as `ferromqtt.aio` sees it. Its methods return asyncio
//! awaitables (`awaitable.rs`: pyo3-async-runtimes over the process-wide runtime). One
//! dispatcher task per client (`dispatch.rs`) takes the connection's events and completes
//! the waiting awaitables; inbound messages go into a bounded buffer that Python drains in
//! batches. When Python stops draining, the dispatcher waits, the event channel fills, the
//! connection task stops reading and TCP pushes back on the server: memory stays bounded,
//! no thread per client.

mod awaitable;
mod dispatch;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use pyo3::create_exception;
use pyo3::exceptions::{PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use tokio::sync::{oneshot, Notify};

use super::errors::MQTTError;
use super::events::{properties_from_py, qos_from, subscriptions_from_py, PropertyContext};
use super::runtime;
use super::transport::{connect_target, local_bind, ProxyArgs, TlsArgs};
use crate::client::{ClientError, ClientHandle, CloseReason, ConnectParams, Limits};
use crate::protocol::{
    Connect, Disconnect, PacketType, Properties, ProtocolVersion, Publish, QoS, ReasonCode,
    TopicFilter, TopicName, Will,
};
use awaitable::awaitable;
use dispatch::{close, dispatch, property_bytes, Blocked, Inbound, Shared, State, Waiters};

create_exception!(
    ferromqtt._core,
    ConnectionClosedError,
    MQTTError,
    "The connection ended before the awaited operation completed."
);

/// Messages buffered for Python when the caller gives no bound.
const DEFAULT_BUFFER: usize = 1000;

// The same causes as EV_DISCONNECTED (events.rs) carries.
const CAUSE_REQUESTED: u8 = 0;
const CAUSE_SERVER: u8 = 1;
const CAUSE_KEEPALIVE: u8 = 2;
const CAUSE_LOST: u8 = 3;
const CAUSE_PROTOCOL: u8 = 4;
const CAUSE_REFUSED: u8 = 5;

/// (topic, payload, qos, retain, properties) of a will, as aio.py passes it.
type WillArgs = (String, Vec<u8>, u8, bool, Option<Vec<u8>>);

/// Why an awaited operation did not complete.
enum WaitError {
    Closed,
    TimedOut,
    Client(ClientError),
}

impl From<WaitError> for PyErr {
    fn from(error: WaitError) -> PyErr {
        match error {
            WaitError::Closed => ConnectionClosedError::new_err(
                "the connection ended before the operation completed",
            ),
            WaitError::TimedOut => PyTimeoutError::new_err("Operation timed out"),
            WaitError::Client(e) => e.into(),
        }
    }
}

async fn within<F: Future>(timeout: Option<Duration>, fut: F) -> Result<F::Output, WaitError> {
    match timeout {
        None => Ok(fut.await),
        Some(limit) => tokio::time::timeout(limit, fut)
            .await
            .map_err(|_| WaitError::TimedOut),
    }
}

fn timeout_from(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_infinite() && s > 0.0 => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(_) => Err(PyValueError::new_err(
            "timeout must be a non-negative number",
        )),
    }
}

fn topic_name(topic: &str) -> PyResult<TopicName> {
    TopicName::new(topic).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Removes a publish waiter when its awaitable ends early (cancelled or timed out).
struct PublishGuard {
    shared: Arc<Shared>,
    packet_id: Option<u16>,
}

impl Drop for PublishGuard {
    fn drop(&mut self) {
        if let Some(packet_id) = self.packet_id {
            let mut state = self.shared.lock();
            if state
                .waiters
                .publishes
                .get(&packet_id)
                .is_some_and(|done| done.is_closed())
            {
                state.waiters.publishes.remove(&packet_id);
            }
        }
    }
}

// ---- the Python class ------------------------------------------------------------------

/// The Rust half of `ferromqtt.aio.Client`: one MQTT session whose operations are awaited.
#[pyclass(frozen, module = "ferromqtt._core")]
pub struct AsyncClientCore {
    handle: Arc<ClientHandle>,
    shared: Arc<Shared>,
    dispatcher: tokio::task::AbortHandle,
}

impl Drop for AsyncClientCore {
    fn drop(&mut self) {
        self.dispatcher.abort();
    }
}

impl AsyncClientCore {
    fn version(&self) -> ProtocolVersion {
        self.shared.lock().version
    }

    fn properties(&self, data: Option<&[u8]>, packet: PacketType) -> PyResult<Properties> {
        if !self.version().is_v5() {
            return Ok(Properties::new());
        }
        properties_from_py(data, PropertyContext::Packet(packet))
    }
}

#[pymethods]
impl AsyncClientCore {
    #[new]
    #[pyo3(signature = (protocol=4, max_inflight=20, max_queued_outgoing=0, max_buffered=None))]
    fn new(
        protocol: u8,
        max_inflight: u16,
        max_queued_outgoing: usize,
        max_buffered: Option<usize>,
    ) -> PyResult<Self> {
        let version = ProtocolVersion::from_level(protocol)
            .ok_or_else(|| PyValueError::new_err(format!("unsupported protocol {protocol}")))?;
        let limits = Limits {
            max_inflight,
            max_queued: max_queued_outgoing,
        };
        let runtime = runtime::handle();
        let (handle, events) = ClientHandle::new(version, limits, runtime.clone())?;
        let handle = Arc::new(handle);
        let capacity = match max_buffered {
            None | Some(0) => DEFAULT_BUFFER,
            Some(n) => n,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                version,
                waiters: Waiters::default(),
                messages: VecDeque::new(),
                capacity,
                blocked: VecDeque::new(),
                connection: 0,
                open: false,
                close_reason: None,
                high_water: 0,
                discarding: false,
            }),
            messages_ready: Notify::new(),
            room: Notify::new(),
            channel_len: AtomicUsize::new(0),
        });
        let task = runtime.spawn(dispatch(events, shared.clone(), Arc::downgrade(&handle)));
        Ok(AsyncClientCore {
            handle,
            shared,
            dispatcher: task.abort_handle(),
        })
    }

    /// Opens the connection (TCP, Unix or WebSocket, TLS and a proxy as given: see
    /// `ClientCore.connect`), sends CONNECT and waits for the CONNACK. The awaitable gives
    /// (session_present, rc_v3, reason_code, properties), refused or not.
    #[pyo3(signature = (host, port, keepalive, client_id, clean_start, timeout,
        bind_address="", bind_port=0, username=None, password=None, will=None,
        properties=None, transport="tcp", ws_path="/mqtt", ws_headers=None, tls=None,
        proxy=None))]
    #[allow(clippy::too_many_arguments)]
    fn connect<'py>(
        &self,
        py: Python<'py>,
        host: String,
        port: u16,
        keepalive: u16,
        client_id: String,
        clean_start: bool,
        timeout: Option<f64>,
        bind_address: &str,
        bind_port: u16,
        username: Option<String>,
        password: Option<Vec<u8>>,
        will: Option<WillArgs>,
        properties: Option<Vec<u8>>,
        transport: &str,
        ws_path: &str,
        ws_headers: Option<Vec<(String, String)>>,
        tls: Option<TlsArgs>,
        proxy: Option<ProxyArgs>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let version = self.version();
        let will = match will {
            None => None,
            Some((topic, payload, qos, retain, will_properties)) => Some(Will {
                topic: topic_name(&topic)?,
                payload: Bytes::from(payload),
                qos: qos_from(qos)?,
                retain,
                properties: if version.is_v5() {
                    properties_from_py(will_properties.as_deref(), PropertyContext::Will)?
                } else {
                    Properties::new()
                },
            }),
        };
        let connect = Connect {
            protocol_version: version,
            bridge: false,
            clean_start,
            keep_alive: keepalive,
            client_id,
            will,
            username,
            password: password.map(Bytes::from),
            properties: self.properties(properties.as_deref(), PacketType::Connect)?,
        };
        let bind = local_bind(bind_address, bind_port);
        let timeout = timeout_from(timeout)?;
        let params = ConnectParams {
            target: connect_target(host, port, transport, ws_path, ws_headers, tls, proxy)?,
            bind,
            // The whole wait is bounded below; TCP alone gets the same limit.
            connect_timeout: timeout.unwrap_or(Duration::from_secs(3600)),
            connect,
        };
        let handle = self.handle.clone();
        let shared = self.shared.clone();
        awaitable(py, async move {
            // Whatever was open goes first, so its end cannot be taken for this one's.
            handle.abort_connection();
            let (done, connack) = oneshot::channel();
            {
                let mut state = shared.lock();
                state.open = true;
                state.discarding = false;
                state.close_reason = None;
                state.connection += 1;
                state.waiters.connect = Some(done);
            }
            let outcome = within(timeout, async {
                handle
                    .connect_async(params)
                    .await
                    .map_err(WaitError::Client)?;
                connack.await.map_err(|_| WaitError::Closed)
            })
            .await
            .and_then(|result| result);
            match outcome {
                Ok(connack) => Ok((
                    connack.session_present,
                    connack.reason_code.to_connack_v3(),
                    connack.reason_code.as_u8(),
                    property_bytes(&connack.properties, version),
                )),
                Err(error) => {
                    // No connection: nothing of this attempt may linger.
                    handle.abort_connection();
                    if shared.lock().open {
                        close(&shared, CloseReason::ConnectionLost);
                    }
                    Err(error.into())
                }
            }
        })
    }

    /// Publishes now (in call order); the awaitable completes when the message is
    /// acknowledged (QoS 1 PUBACK, QoS 2 PUBCOMP) or written (QoS 0), giving
    /// (reason_code, properties). When the outgoing queue is full the message waits for
    /// room first.
    #[pyo3(signature = (topic, payload, qos=0, retain=false, properties=None, timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn publish<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        properties: Option<&[u8]>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let topic = if topic.is_empty() {
            TopicName::empty()
        } else {
            topic_name(topic)?
        };
        let publish = Publish {
            dup: false,
            qos: qos_from(qos)?,
            retain,
            topic,
            packet_id: 0,
            properties: self.properties(properties, PacketType::Publish)?,
            payload: Bytes::copy_from_slice(payload),
        };
        let timeout = timeout_from(timeout)?;
        let (done, outcome) = oneshot::channel();
        let mut guard = PublishGuard {
            shared: self.shared.clone(),
            packet_id: None,
        };
        {
            let mut state = self.shared.lock();
            if !state.open {
                return Err(ClientError::NotConnected.into());
            }
            if !state.blocked.is_empty() {
                state.blocked.push_back(Blocked { publish, done });
            } else {
                match self.handle.publish(publish.clone()) {
                    Ok((packet_id, open)) => {
                        if !open && publish.qos == QoS::AtMostOnce {
                            return Err(ClientError::NotConnected.into());
                        }
                        state.waiters.publishes.insert(packet_id, done);
                        guard.packet_id = Some(packet_id);
                    }
                    Err(ClientError::QueueFull | ClientError::PacketIdsExhausted) => {
                        state.blocked.push_back(Blocked { publish, done });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        awaitable(py, async move {
            let _guard = guard;
            let result = within(timeout, outcome).await?;
            match result {
                Ok(Ok(acked)) => Ok(acked),
                Ok(Err(e)) => Err(WaitError::Client(e).into()),
                Err(_) => Err(WaitError::Closed.into()),
            }
        })
    }

    /// SUBSCRIBE with (filter, qos, no_local, retain_as_published, retain_handling) items;
    /// the awaitable gives (reason codes as bytes, properties) from the SUBACK.
    #[pyo3(signature = (topics, properties=None, timeout=None))]
    fn subscribe<'py>(
        &self,
        py: Python<'py>,
        topics: Vec<(String, u8, bool, bool, u8)>,
        properties: Option<&[u8]>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let subscriptions = subscriptions_from_py(topics)?;
        if subscriptions.is_empty() {
            return Err(PyValueError::new_err("nothing to subscribe to"));
        }
        let properties = self.properties(properties, PacketType::Subscribe)?;
        let timeout = timeout_from(timeout)?;
        let (done, acked) = oneshot::channel();
        {
            let mut state = self.shared.lock();
            if !state.open {
                return Err(ClientError::NotConnected.into());
            }
            let packet_id = self.handle.subscribe(subscriptions, properties)?;
            state.waiters.subscribes.insert(packet_id, done);
        }
        awaitable(py, async move {
            within(timeout, acked)
                .await?
                .map_err(|_| WaitError::Closed.into())
        })
    }

    /// UNSUBSCRIBE; the awaitable gives (reason codes as bytes, properties) from the
    /// UNSUBACK (no codes for MQTT 3.x).
    #[pyo3(signature = (topics, properties=None, timeout=None))]
    fn unsubscribe<'py>(
        &self,
        py: Python<'py>,
        topics: Vec<String>,
        properties: Option<&[u8]>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filters = topics
            .into_iter()
            .map(TopicFilter::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        if filters.is_empty() {
            return Err(PyValueError::new_err("nothing to unsubscribe from"));
        }
        let properties = self.properties(properties, PacketType::Unsubscribe)?;
        let timeout = timeout_from(timeout)?;
        let (done, acked) = oneshot::channel();
        {
            let mut state = self.shared.lock();
            if !state.open {
                return Err(ClientError::NotConnected.into());
            }
            let packet_id = self.handle.unsubscribe(filters, properties)?;
            state.waiters.unsubscribes.insert(packet_id, done);
        }
        awaitable(py, async move {
            within(timeout, acked)
                .await?
                .map_err(|_| WaitError::Closed.into())
        })
    }

    /// Sends DISCONNECT; the awaitable completes once the connection has ended (at once
    /// when none is open). After `timeout` the connection is dropped instead.
    #[pyo3(signature = (reason_code=0, properties=None, timeout=None))]
    fn disconnect<'py>(
        &self,
        py: Python<'py>,
        reason_code: u8,
        properties: Option<&[u8]>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let reason_code = ReasonCode::from_u8(reason_code)
            .ok_or_else(|| PyValueError::new_err("invalid DISCONNECT reason code"))?;
        let disconnect = Disconnect {
            reason_code,
            properties: self.properties(properties, PacketType::Disconnect)?,
        };
        let timeout = timeout_from(timeout)?;
        let (done, closed) = oneshot::channel();
        let waiting = {
            let mut state = self.shared.lock();
            if state.open {
                state.waiters.closed.push(done);
                state.discarding = true;
                self.handle.disconnect(disconnect);
                true
            } else {
                false
            }
        };
        self.shared.room.notify_one();
        let handle = self.handle.clone();
        let shared = self.shared.clone();
        awaitable(py, async move {
            if waiting && within(timeout, closed).await.is_err() {
                handle.abort_connection();
                close(&shared, CloseReason::Requested);
            }
            Ok(())
        })
    }

    /// Drops the connection without DISCONNECT, as a crash would (the broker publishes
    /// the will); pending calls fail with ConnectionClosedError.
    fn abort(&self) {
        self.handle.abort_connection();
        if self.shared.lock().open {
            close(&self.shared, CloseReason::ConnectionLost);
        }
    }

    /// Resolves to True once messages are buffered, or to False when the buffer is empty
    /// and no connection is open. Takes nothing: a cancelled wait loses no message.
    fn wait_messages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shared = self.shared.clone();
        awaitable(py, async move {
            loop {
                let ready = shared.messages_ready.notified();
                tokio::pin!(ready);
                ready.as_mut().enable();
                {
                    let state = shared.lock();
                    if !state.messages.is_empty() {
                        return Ok(true);
                    }
                    if !state.open {
                        return Ok(false);
                    }
                }
                ready.await;
            }
        })
    }

    /// Takes up to `max` buffered messages as (mid, topic, payload, qos, retain, dup,
    /// properties) tuples and acknowledges the QoS 1/2 ones (PUBACK, PUBCOMP). Never
    /// waits: an empty list when nothing is buffered.
    #[pyo3(signature = (max=256))]
    fn take_messages<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyList>> {
        let (taken, current, version) = {
            let mut state = self.shared.lock();
            let n = max.min(state.messages.len());
            let taken: Vec<Inbound> = state.messages.drain(..n).collect();
            (taken, state.connection, state.version)
        };
        let list = PyList::empty(py);
        if taken.is_empty() {
            return Ok(list);
        }
        self.shared.room.notify_one();
        let mut acks = Vec::new();
        for inbound in taken {
            let p = inbound.publish;
            if p.qos != QoS::AtMostOnce && inbound.connection == current {
                acks.push((p.packet_id, p.qos));
            }
            let properties = property_bytes(&p.properties, version).map(|b| PyBytes::new(py, &b));
            let item = (
                p.packet_id,
                PyString::new(py, p.topic.as_str()),
                PyBytes::new(py, &p.payload),
                p.qos.as_u8(),
                p.retain,
                p.dup,
                properties,
            )
                .into_pyobject(py)?;
            list.append(item)?;
        }
        self.handle.ack(&acks);
        Ok(list)
    }

    /// Messages buffered for Python now.
    fn buffered(&self) -> usize {
        self.shared.lock().messages.len()
    }

    /// The buffer's bound.
    fn buffer_capacity(&self) -> usize {
        self.shared.lock().capacity
    }

    /// Most messages ever buffered at once.
    fn buffer_high_water(&self) -> usize {
        self.shared.lock().high_water
    }

    /// Events waiting in the connection's channel, as the dispatcher last saw it
    /// (bounded by the channel's capacity).
    fn channel_len(&self) -> usize {
        self.shared.channel_len.load(Ordering::Relaxed)
    }

    /// The channel's bound.
    #[staticmethod]
    fn channel_capacity() -> usize {
        crate::client::connection::EVENT_CAPACITY
    }

    /// Why the last connection ended: (cause, reason_code, properties, message) with a
    /// CAUSE_* constant, or None while one is open or none was.
    fn close_reason<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let (reason, version) = {
            let state = self.shared.lock();
            (state.close_reason.clone(), state.version)
        };
        let Some(reason) = reason else {
            return Ok(None);
        };
        let (cause, code, properties, message) = match reason {
            CloseReason::Requested => (CAUSE_REQUESTED, None, None, String::new()),
            CloseReason::ServerDisconnect(d) => (
                CAUSE_SERVER,
                Some(d.reason_code.as_u8()),
                property_bytes(&d.properties, version),
                String::new(),
            ),
            CloseReason::KeepAliveTimeout => (CAUSE_KEEPALIVE, None, None, String::new()),
            CloseReason::ConnectionLost => (CAUSE_LOST, None, None, String::new()),
            CloseReason::ProtocolError(m) => (CAUSE_PROTOCOL, None, None, m),
            CloseReason::Refused(code) => (CAUSE_REFUSED, Some(code.as_u8()), None, String::new()),
        };
        let properties = properties.map(|b| PyBytes::new(py, &b));
        Ok(Some((cause, code, properties, message).into_pyobject(py)?))
    }

    /// True from `connect` until the end of that connection has been dispatched.
    fn is_open(&self) -> bool {
        self.shared.lock().open
    }

    /// True between an accepted CONNACK and the end of the connection.
    fn is_connected(&self) -> bool {
        self.handle.is_connected()
    }

    /// Awaited publishes, subscribes and unsubscribes not yet answered.
    fn pending_calls(&self) -> usize {
        let state = self.shared.lock();
        let waiters = &state.waiters;
        waiters.publishes.len()
            + waiters.subscribes.len()
            + waiters.unsubscribes.len()
            + state.blocked.len()
    }

    /// Outgoing QoS>0 messages held by the session (in flight and queued).
    fn queued_len(&self) -> usize {
        self.handle.queued_len()
    }

    /// The client id the server assigned in its last CONNACK (MQTT 5).
    fn assigned_client_id(&self) -> Option<String> {
        self.handle.assigned_client_id()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<AsyncClientCore>()?;
    m.add(
        "ConnectionClosedError",
        py.get_type::<ConnectionClosedError>(),
    )?;
    Ok(())
}
