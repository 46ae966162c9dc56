//! The API's one error type: a status code and a JSON body naming the bad field. Internal
//! failures are logged in full and answered with a generic 500 that leaks no detail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::{ToResponse, ToSchema};

use crate::error::IndexerError;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
    /// The query parameter or path segment at fault, for a 400.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The documented 500: what every route that reads the database may answer.
#[derive(ToResponse)]
#[response(description = "Internal error; the indexer's log has the details")]
pub struct InternalError(#[allow(dead_code)] ErrorBody);

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// 400: `field` is wrong.
    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                error: message.into(),
                field: Some(field.to_owned()),
            },
        }
    }

    /// 405: the route exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            body: ErrorBody {
                error: "method not allowed; every route is GET (see /openapi.json)".into(),
                field: None,
            },
        }
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            body: ErrorBody {
                error: message.into(),
                field: None,
            },
        }
    }
}

impl From<IndexerError> for ApiError {
    fn from(e: IndexerError) -> Self {
        tracing::error!(error = %e, "request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: ErrorBody {
                error: "internal error; the indexer's log has the details".into(),
                field: None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
