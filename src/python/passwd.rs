//! `ferromqtt passwd`'s file operations: Mosquitto password files read, changed and
//! written by `crate::auth::PasswordFile`, so the hashes are the ones `mosquitto_passwd`
//! makes. Hashing and file IO run detached from the interpreter.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use std::path::PathBuf;

use crate::auth::{PasswordFile, PasswordFileError};

fn to_py(error: PasswordFileError) -> PyErr {
    match error {
        PasswordFileError::Read { .. } | PasswordFileError::Write { .. } => {
            PyOSError::new_err(error.to_string())
        }
        other => PyValueError::new_err(other.to_string()),
    }
}

/// Sets `username`'s password in the file at `path` (a new, empty file first when `create`).
#[pyfunction]
#[pyo3(signature = (path, username, password, create = false))]
fn passwd_update(
    py: Python<'_>,
    path: PathBuf,
    username: &str,
    password: &str,
    create: bool,
) -> PyResult<()> {
    py.detach(|| {
        let mut file = if create {
            PasswordFile::new()
        } else {
            PasswordFile::load(&path)?
        };
        file.set_password(username, password.as_bytes())?;
        file.save(&path)
    })
    .map_err(to_py)
}

/// Removes `username` from the file at `path`; returns whether it was there.
#[pyfunction]
fn passwd_delete(py: Python<'_>, path: PathBuf, username: &str) -> PyResult<bool> {
    py.detach(|| {
        let mut file = PasswordFile::load(&path)?;
        let removed = file.remove(username);
        if removed {
            file.save(&path)?;
        }
        Ok(removed)
    })
    .map_err(to_py)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(passwd_update, m)?)?;
    m.add_function(wrap_pyfunction!(passwd_delete, m)?)?;
    Ok(())
}
