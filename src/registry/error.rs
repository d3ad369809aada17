//! Errors of the registry client.
//!
//! Every message names the registry and, for HTTP failures, the request
//! (method and path, never the query or any header) and the status; none
//! ever holds a password or token.

use std::path::PathBuf;

use reqwest::StatusCode;

use super::credentials::CredentialError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {registry}: {method} {path}: {source}")]
    Connect {
        registry: String,
        method: String,
        path: String,
        source: reqwest::Error,
    },
    #[error("registry {registry}: {method} {path}: {status}{detail}")]
    Status {
        registry: String,
        method: String,
        path: String,
        status: StatusCode,
        /// The registry's own error code and message, and a hint.
        detail: String,
    },
    #[error("registry {registry}: {what}")]
    Protocol { registry: String, what: String },
    #[error("registry {registry}: token service {realm}: {what}")]
    Token {
        registry: String,
        realm: String,
        what: String,
    },
    #[error("OCI layout {path}: {what}")]
    Layout { path: PathBuf, what: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CA certificate {path}: {what}")]
    CaCert { path: PathBuf, what: String },
    #[error("setting up the HTTP client: {0}")]
    Client(reqwest::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

impl RegistryError {
    /// Whether trying the same step again may succeed: connection failures,
    /// server errors and rate limiting.
    pub fn is_retryable(&self) -> bool {
        match self {
            RegistryError::Connect { .. } => true,
            RegistryError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            RegistryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}
