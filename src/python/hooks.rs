//! `PyHooks`: the broker's [`Hooks`] answered by a Python object, the `_Hooks` dispatcher
//! of `ferromqtt.broker`. The dispatcher calls the user's callables, logs their failures
//! (logger `ferromqtt`, with traceback) and hands back plain values; this side only
//! converts. Each call attaches to Python on the hook thread the broker runs it on, and
//! holds no Rust lock meanwhile.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::broker::auth::Access;
use crate::broker::hooks::close_reason_name;
use crate::broker::session::CloseReason;
use crate::broker::{HookClient, HookMessage, HookSet, Hooks, MessageVerdict};
use crate::protocol::properties::PropertyContext;
use crate::protocol::{PacketType, QoS, ReasonCode, TopicName};
use crate::python::events::{properties_from_py, properties_to_py};

/// The hook names `BrokerCore.set_hooks_installed` takes, in bit order.
pub const HOOK_NAMES: [&str; 5] = [
    "authenticate",
    "authorize",
    "on_message",
    "on_client_connected",
    "on_client_disconnected",
];

pub struct PyHooks {
    dispatcher: Py<PyAny>,
    /// One bit per entry of `HOOK_NAMES`; atomic so the broker reads it without Python.
    installed: AtomicU8,
}

impl PyHooks {
    pub fn new(dispatcher: Py<PyAny>) -> PyHooks {
        PyHooks {
            dispatcher,
            installed: AtomicU8::new(0),
        }
    }

    pub fn dispatcher(&self) -> &Py<PyAny> {
        &self.dispatcher
    }

    /// Sets which hooks are installed; `Err(name)` for an unknown name.
    pub fn set_installed(&self, names: &[String]) -> Result<(), String> {
        let mut bits = 0u8;
        for name in names {
            let index = HOOK_NAMES
                .iter()
                .position(|known| known == name)
                .ok_or_else(|| name.clone())?;
            bits |= 1 << index;
        }
        self.installed.store(bits, Ordering::Relaxed);
        Ok(())
    }

    /// Calls `dispatcher.<method>(*args)` and extracts `T`; a failure (which the
    /// dispatcher should have caught) is logged and gives `None`.
    fn call<'py, T, A>(&self, py: Python<'py>, method: &str, args: A) -> Option<T>
    where
        A: pyo3::call::PyCallArgs<'py>,
        T: for<'a> FromPyObject<'a, 'py>,
    {
        let result = self
            .dispatcher
            .bind(py)
            .call_method1(method, args)
            .and_then(|value| value.extract::<T>().map_err(Into::into));
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                log::error!("Broker hook {method} failed: {error}");
                None
            }
        }
    }
}

/// (client_id, username | None, (host, port) | None) as the dispatcher takes them.
type ClientArgs = (String, Option<String>, Option<(String, u16)>);

fn client_args(client: &HookClient) -> ClientArgs {
    (
        client.client_id.to_string(),
        client.username.as_deref().map(str::to_owned),
        client.address.map(|a| (a.ip().to_string(), a.port())),
    )
}

/// `on_message`'s answer: None (drop), an int (refuse with that reason), or
/// (topic, payload, qos, retain, properties bytes | None).
type MessageAnswer = Option<(String, Vec<u8>, u8, bool, Option<Vec<u8>>)>;

impl Hooks for PyHooks {
    fn installed(&self) -> HookSet {
        let bits = self.installed.load(Ordering::Relaxed);
        let has = |index: usize| bits & (1 << index) != 0;
        HookSet {
            authenticate: has(0),
            authorize: has(1),
            on_message: has(2),
            on_client_connected: has(3),
            on_client_disconnected: has(4),
        }
    }

    fn authenticate(&self, client: &HookClient, password: Option<&[u8]>) -> Result<(), ReasonCode> {
        let code = Python::attach(|py| {
            let (client_id, username, address) = client_args(client);
            let password = password.map(|p| PyBytes::new(py, p));
            self.call::<u8, _>(py, "authenticate", (client_id, username, password, address))
        });
        match code {
            Some(0) => Ok(()),
            Some(code) => Err(ReasonCode::from_u8(code).unwrap_or(ReasonCode::NotAuthorized)),
            None => Err(ReasonCode::NotAuthorized),
        }
    }

    fn authorize(&self, client: &HookClient, access: Access, topic: &str) -> bool {
        let action = match access {
            Access::Write => "publish",
            Access::Subscribe => "subscribe",
            Access::Read => "receive",
        };
        Python::attach(|py| {
            let (client_id, username, _) = client_args(client);
            self.call::<bool, _>(py, "authorize", (client_id, username, action, topic))
                .unwrap_or(false)
        })
    }

    fn on_message(&self, client: &HookClient, message: HookMessage) -> MessageVerdict {
        let answer = Python::attach(|py| {
            let (client_id, username, _) = client_args(client);
            let payload = PyBytes::new(py, &message.payload);
            let properties = properties_to_py(py, &message.properties, client.version);
            let args = (
                client_id,
                username,
                message.topic.as_str(),
                payload,
                message.qos as u8,
                message.retain,
                properties,
            );
            let answer = self
                .dispatcher
                .bind(py)
                .call_method1("on_message", args)
                .and_then(|value| {
                    if let Ok(reason) = value.extract::<u8>() {
                        return Ok(Err(reason));
                    }
                    Ok(Ok(value.extract::<MessageAnswer>()?))
                });
            match answer {
                Ok(answer) => answer,
                Err(error) => {
                    log::error!("Broker hook on_message failed: {error}");
                    Err(ReasonCode::UnspecifiedError.as_u8())
                }
            }
        });
        let answer = match answer {
            Ok(answer) => answer,
            Err(reason) => {
                return MessageVerdict::Refuse(
                    ReasonCode::from_u8(reason).unwrap_or(ReasonCode::UnspecifiedError),
                )
            }
        };
        let Some((topic, payload, qos, retain, properties)) = answer else {
            return MessageVerdict::Drop;
        };
        // The dispatcher checked these; a bad value here still refuses rather than routes.
        let topic = TopicName::new(topic);
        let qos = QoS::from_u8(qos);
        let properties = properties_from_py(
            properties.as_deref(),
            PropertyContext::Packet(PacketType::Publish),
        );
        match (topic, qos, properties) {
            (Ok(topic), Some(qos), Ok(properties)) => MessageVerdict::Route(HookMessage {
                topic,
                payload: payload.into(),
                qos,
                retain,
                properties,
            }),
            _ => {
                log::error!("Broker hook on_message returned an invalid message; dropped.");
                MessageVerdict::Refuse(ReasonCode::UnspecifiedError)
            }
        }
    }

    fn batch(&self, calls: &mut dyn FnMut()) {
        // The calls inside attach again, which costs nothing while attached here.
        Python::attach(|_| calls());
    }

    fn run_worker(&self, work: &mut (dyn FnMut() + Send)) {
        // One Python thread state for the thread's whole life: attached once, detached
        // while it waits, so each hook call only takes the GIL instead of creating and
        // destroying a thread state (the bulk of a call's cost without this).
        Python::attach(|py| py.detach(work));
    }

    fn on_client_connected(&self, client: &HookClient) {
        Python::attach(|py| {
            let _ = self.call::<Py<PyAny>, _>(py, "on_client_connected", client_args(client));
        });
    }

    fn on_client_disconnected(&self, client: &HookClient, reason: &CloseReason) {
        Python::attach(|py| {
            let (client_id, username, address) = client_args(client);
            let args = (client_id, username, address, close_reason_name(reason));
            let _ = self.call::<Py<PyAny>, _>(py, "on_client_disconnected", args);
        });
    }
}
