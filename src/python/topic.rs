//! Topic helpers for Python: paho's `topic_matches_sub` and validation of names/filters.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::protocol::topic::{self, TopicFilter, TopicName};

/// Whether `topic` matches the subscription filter `sub` (paho semantics: no validation).
#[pyfunction]
fn topic_matches_sub(sub: &str, topic: &str) -> bool {
    topic::matches(sub, topic)
}

/// Raises ValueError unless `topic` is a valid topic name.
#[pyfunction]
fn validate_topic_name(topic: &str) -> PyResult<()> {
    TopicName::new(topic)
        .map(|_| ())
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Raises ValueError unless `filter` is a valid topic filter.
#[pyfunction]
fn validate_topic_filter(filter: &str) -> PyResult<()> {
    TopicFilter::new(filter)
        .map(|_| ())
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(topic_matches_sub, m)?)?;
    m.add_function(wrap_pyfunction!(validate_topic_name, m)?)?;
    m.add_function(wrap_pyfunction!(validate_topic_filter, m)?)?;
    Ok(())
}
