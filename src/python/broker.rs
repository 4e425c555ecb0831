//! `BrokerCore`: the broker as Python sees it. Options arrive as a JSON object (built by
//! `ferromqtt.broker.Broker` from keyword arguments or a TOML file) and are checked by the
//! same serde types the command line uses, so a wrong name or value names itself.

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::{PyTraverseError, PyVisit};

use crate::broker::router::observe::ClientSnapshot;
use crate::broker::{Broker, BrokerConfig, BrokerError};
use crate::python::hooks::PyHooks;
use crate::python::runtime;
use std::sync::Arc;

#[pyclass(module = "ferromqtt._core", name = "BrokerCore")]
pub struct BrokerCore {
    config: BrokerConfig,
    // std Mutex, not tokio: held only to swap the running broker in or out, never across
    // an .await (start/stop run their futures after releasing it).
    running: std::sync::Mutex<Option<std::sync::Arc<Broker>>>,
    /// The Python dispatcher of `Broker`'s hook callables, shared with the running broker
    /// (which sees changes to the installed set at once).
    hooks: Option<Arc<PyHooks>>,
}

fn config_from_json(options_json: &str) -> PyResult<BrokerConfig> {
    let deserializer = &mut serde_json::Deserializer::from_str(options_json);
    let config: BrokerConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        PyValueError::new_err(format!("invalid broker option {path}: {}", e.inner()))
    })?;
    config
        .validate()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(config)
}

/// A connected client as Python sees it: (client_id, (host, port) | None, protocol level,
/// username | None).
type ClientTuple = (String, Option<(String, u16)>, u8, Option<String>);

fn client_tuple(client: ClientSnapshot) -> ClientTuple {
    let address = client.address.map(|a| (a.ip().to_string(), a.port()));
    (
        client.client_id,
        address,
        client.protocol_version,
        client.username,
    )
}

/// A routed message: (timestamp, client_id | None, topic, qos, retain, payload length).
type TrafficTuple = (f64, Option<String>, String, u8, bool, usize);

#[pymethods]
impl BrokerCore {
    #[new]
    #[pyo3(signature = (options_json, hooks=None))]
    fn new(options_json: &str, hooks: Option<Py<PyAny>>) -> PyResult<Self> {
        Ok(BrokerCore {
            config: config_from_json(options_json)?,
            running: Default::default(),
            hooks: hooks.map(|dispatcher| Arc::new(PyHooks::new(dispatcher))),
        })
    }

    /// The dispatcher is reachable from Python's garbage collector, so a hook that refers
    /// back to its `Broker` does not keep an unreachable broker alive (and running).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(hooks) = &self.hooks {
            visit.call(hooks.dispatcher())?;
        }
        Ok(())
    }

    /// Names the hooks the dispatcher answers for (the others are never asked); takes
    /// effect at once, also while running. `ValueError` for an unknown name.
    fn set_hooks_installed(&self, names: Vec<String>) -> PyResult<()> {
        let Some(hooks) = &self.hooks else {
            return Err(PyRuntimeError::new_err(
                "this broker was made without hooks",
            ));
        };
        hooks
            .set_installed(&names)
            .map_err(|name| PyValueError::new_err(format!("unknown broker hook {name:?}")))
    }

    /// Parses a TOML configuration file into the JSON options `BrokerCore` takes.
    #[staticmethod]
    fn options_from_toml_file(path: &str) -> PyResult<String> {
        let config = BrokerConfig::from_toml_file(std::path::Path::new(path))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        serde_json::to_string(&config).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Reads a TOML file or a `mosquitto.conf` into (JSON options, warnings naming the
    /// lines of ignored directives).
    #[staticmethod]
    fn options_from_config_file(path: &str) -> PyResult<(String, Vec<String>)> {
        let (config, warnings) = BrokerConfig::from_file(std::path::Path::new(path))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let json =
            serde_json::to_string(&config).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok((json, warnings))
    }

    /// Binds every listener and starts serving; returns once bound.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.is_some() {
            return Err(PyRuntimeError::new_err("broker is already running"));
        }
        let config = self.config.clone();
        let hooks = self.hooks.clone();
        let broker = py
            .detach(|| {
                runtime::handle().block_on(async move {
                    match hooks {
                        Some(hooks) => Broker::start_with_hooks(config, hooks).await,
                        None => Broker::start(config).await,
                    }
                })
            })
            .map_err(|e| match &e {
                // errno kept, so callers can tell EADDRINUSE from the rest.
                BrokerError::Bind { source, .. } => {
                    PyOSError::new_err((source.raw_os_error().unwrap_or(0), e.to_string()))
                }
                _ => PyOSError::new_err(e.to_string()),
            })?;
        *running = Some(std::sync::Arc::new(broker));
        Ok(())
    }

    /// Stops the broker and returns when every task has ended. Does nothing if stopped.
    fn stop(&self, py: Python<'_>) {
        let broker = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(broker) = broker {
            py.detach(|| runtime::handle().block_on(broker.stop()));
        }
    }

    fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// The bound addresses as (host, port) pairs, in listener order.
    fn addresses(&self) -> Vec<(String, u16)> {
        match self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(broker) => broker
                .local_addrs()
                .iter()
                .map(|a| (a.ip().to_string(), a.port()))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Re-reads the TLS listeners' certificate, key and CA files (new connections use
    /// them); `OSError` naming the file if one fails (that listener keeps its old files).
    fn reload_tls(&self, py: Python<'_>) -> PyResult<()> {
        let broker = self.running_broker()?;
        py.detach(|| broker.reload_tls())
            .map_err(|e| PyOSError::new_err(e.to_string()))
    }

    /// Re-reads the password, ACL and TLS files (as SIGHUP does); `OSError` naming the
    /// file if one fails (what failed keeps its previous state).
    fn reload(&self, py: Python<'_>) -> PyResult<()> {
        let broker = self.running_broker()?;
        py.detach(|| broker.reload())
            .map_err(|e| PyOSError::new_err(e.to_string()))
    }

    /// The `$SYS` figures as a JSON object.
    fn stats_json(&self) -> PyResult<String> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let broker = running
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("broker is not running"))?;
        serde_json::to_string(&broker.stats()).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }
    // -- observation (`broker::router::observe`): each a snapshot from the router --

    /// The connected clients, by client id.
    fn clients(&self, py: Python<'_>) -> PyResult<Vec<ClientTuple>> {
        let broker = self.running_broker()?;
        let clients = py.detach(|| runtime::handle().block_on(broker.clients()));
        Ok(clients.into_iter().map(client_tuple).collect())
    }

    /// Every subscription as (client_id, filter, qos), by client id then filter.
    fn subscriptions(&self, py: Python<'_>) -> PyResult<Vec<(String, String, u8)>> {
        let broker = self.running_broker()?;
        let found = py.detach(|| runtime::handle().block_on(broker.subscriptions()));
        Ok(found
            .into_iter()
            .map(|s| (s.client_id, s.filter, s.qos))
            .collect())
    }

    /// The retained messages as (topic, payload), by topic.
    fn retained<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Bound<'py, PyBytes>)>> {
        let broker = self.running_broker()?;
        let retained = py.detach(|| runtime::handle().block_on(broker.retained()));
        Ok(retained
            .into_iter()
            .map(|(topic, payload)| (topic, PyBytes::new(py, &payload)))
            .collect())
    }

    /// The last `n` routed messages as (timestamp, client_id | None, topic, qos, retain,
    /// payload length), oldest first.
    fn traffic(&self, py: Python<'_>, n: usize) -> PyResult<Vec<TrafficTuple>> {
        let broker = self.running_broker()?;
        let records = py.detach(|| runtime::handle().block_on(broker.traffic(n)));
        Ok(records
            .into_iter()
            .map(|r| {
                let client_id = r.client_id.map(|c| c.to_string());
                (
                    r.timestamp,
                    client_id,
                    r.topic,
                    r.qos,
                    r.retain,
                    r.payload_len,
                )
            })
            .collect())
    }

    /// Waits until a client with this id is connected and returns it (as `clients()`
    /// does); raises TimeoutError after `timeout` seconds.
    fn wait_for_client(
        &self,
        py: Python<'_>,
        client_id: &str,
        timeout: f64,
    ) -> PyResult<ClientTuple> {
        let broker = self.running_broker()?;
        let limit = std::time::Duration::try_from_secs_f64(timeout.max(0.0))
            .map_err(|e| PyValueError::new_err(format!("invalid timeout {timeout}: {e}")))?;
        let found = py.detach(|| {
            runtime::handle().block_on(async {
                tokio::time::timeout(limit, broker.wait_for_client(client_id)).await
            })
        });
        match found {
            Ok(Some(client)) => Ok(client_tuple(client)),
            Ok(None) => Err(PyRuntimeError::new_err("broker stopped")),
            Err(_) => Err(PyTimeoutError::new_err(format!(
                "client {client_id:?} did not connect within {timeout} s"
            ))),
        }
    }
}

impl BrokerCore {
    fn running_broker(&self) -> PyResult<std::sync::Arc<Broker>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| PyRuntimeError::new_err("broker is not running"))
    }
}

impl Drop for BrokerCore {
    fn drop(&mut self) {
        // Dropping the last reference cancels the broker's tasks without waiting.
        let _ = self.running.get_mut().map(Option::take);
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BrokerCore>()
}
