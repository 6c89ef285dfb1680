//! The one error type of every host call and of [`crate::Action::run`].

use crate::wit;
use std::fmt;

/// Why a call failed. `Transient` asks the engine to retry the step; the rest are final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input or the arguments are wrong; the message names what.
    InvalidInput(String),
    /// What was asked for does not exist.
    NotFound(String),
    /// The action lacks a capability; the message names it.
    Denied(String),
    /// The change clashes with the current state.
    Conflict(String),
    /// A passing failure; retrying may succeed.
    Transient(String),
    /// A final failure.
    Failed(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, msg) = match self {
            Error::InvalidInput(m) => ("invalid input", m),
            Error::NotFound(m) => ("not found", m),
            Error::Denied(m) => ("denied", m),
            Error::Conflict(m) => ("conflict", m),
            Error::Transient(m) => ("transient", m),
            Error::Failed(m) => ("failed", m),
        };
        write!(f, "{kind}: {msg}")
    }
}

impl std::error::Error for Error {}

impl From<wit::Error> for Error {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::InvalidInput(m) => Error::InvalidInput(m),
            wit::Error::NotFound(m) => Error::NotFound(m),
            wit::Error::Denied(m) => Error::Denied(m),
            wit::Error::Conflict(m) => Error::Conflict(m),
            wit::Error::Transient(m) => Error::Transient(m),
            wit::Error::Failed(m) => Error::Failed(m),
        }
    }
}

impl From<Error> for wit::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidInput(m) => wit::Error::InvalidInput(m),
            Error::NotFound(m) => wit::Error::NotFound(m),
            Error::Denied(m) => wit::Error::Denied(m),
            Error::Conflict(m) => wit::Error::Conflict(m),
            Error::Transient(m) => wit::Error::Transient(m),
            Error::Failed(m) => wit::Error::Failed(m),
        }
    }
}

impl From<serde_json::Error> for Error {
    /// A JSON document from the host did not have the expected shape.
    fn from(e: serde_json::Error) -> Self {
        Error::Failed(format!("unexpected JSON from the host: {e}"))
    }
}
