//! [`PageError`]: a failed request as an HTTP status and a page that says why.
//!
//! | cause | status |
//! |---|---|
//! | a bad query parameter, an invalid search (`StorageError::is_invalid_input`) | 400 |
//! | a missing or wrong token | 401 |
//! | a host name other than loopback without a token | 403 |
//! | an unknown page, a session or message that does not exist | 404 |
//! | a method other than GET or HEAD | 405 |
//! | the store closed, unreachable or busy (`is_transient`, `is_connection_error`, `is_closed`) | 503 |
//! | any other store failure | 500 (logged without content) |

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use hotplex_storage_core::StorageError;

use super::pages;

/// A request that cannot be answered: the status and a message for the person reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageError {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// What went wrong, in one or two sentences (escaped when rendered).
    pub(crate) message: String,
}

impl PageError {
    /// An error with `status` and `message`.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A 400 for a bad request.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 404.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<StorageError> for PageError {
    fn from(error: StorageError) -> Self {
        if error.is_invalid_input() {
            return Self::bad_request(error.to_string());
        }
        if error.is_not_found() {
            return Self::not_found(error.to_string());
        }
        let status = if error.is_closed() || error.is_transient() || error.is_connection_error() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        // Store errors name the operation and entity, never message content or passwords.
        tracing::warn!(status = status.as_u16(), error = %error, "viewer: store call failed");
        Self::new(
            status,
            format!("The store could not answer: {error}. Try again; the server log has details."),
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = pages::error_page(self.status, &self.message);
        (self.status, Html(page.into_string())).into_response()
    }
}
