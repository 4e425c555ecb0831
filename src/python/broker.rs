//! `BrokerCore`: the broker as Python sees it. Options arrive as a JSON object (built by
//! `ferromqtt.broker.Broker` from keyword arguments or a TOML file) and are checked by the
//! same serde types the command line uses, so a wrong name or value names itself.

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::broker::{Broker, BrokerConfig};
use crate::python::runtime;

#[pyclass(module = "ferromqtt._core", name = "BrokerCore")]
pub struct BrokerCore {
    config: BrokerConfig,
    // std Mutex, not tokio: held only to swap the running broker in or out, never across
    // an .await (start/stop run their futures after releasing it).
    running: std::sync::Mutex<Option<std::sync::Arc<Broker>>>,
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

#[pymethods]
impl BrokerCore {
    #[new]
    fn new(options_json: &str) -> PyResult<Self> {
        Ok(BrokerCore {
            config: config_from_json(options_json)?,
            running: Default::default(),
        })
    }

    /// Parses a TOML configuration file into the JSON options `BrokerCore` takes.
    #[staticmethod]
    fn options_from_toml_file(path: &str) -> PyResult<String> {
        let config = BrokerConfig::from_toml_file(std::path::Path::new(path))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        serde_json::to_string(&config).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Binds every listener and starts serving; returns once bound.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.is_some() {
            return Err(PyRuntimeError::new_err("broker is already running"));
        }
        let config = self.config.clone();
        let broker = py
            .detach(|| runtime::handle().block_on(Broker::start(config)))
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
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

    /// The `$SYS` figures as a JSON object.
    fn stats_json(&self) -> PyResult<String> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let broker = running
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("broker is not running"))?;
        serde_json::to_string(&broker.stats()).map_err(|e| PyRuntimeError::new_err(e.to_string()))
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
