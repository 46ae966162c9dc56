//! The HTTP gateway every node serves, for clients that keep using REST:
//! - `POST /v1/jobs`: submit a module, an input and requirements → `201 {"job_id"}`;
//! - `GET /v1/jobs/{id}`: status, bids, assignments, result and verification;
//! - `GET /v1/jobs`: the jobs submitted through this node, newest first;
//! - `GET /v1/peers`, `GET /health`, `GET /metrics` (Prometheus).
//!
//! Bad input is a 4xx with `{"error", "field"}`; the node itself never sees it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::{
    node::{JobRequest, Shared, SubmitError},
    protocol::{Hash, Limits, MAX_BLOB_BYTES},
};

/// A job as `POST /v1/jobs` takes it. The module is base64 of a binary module, or
/// WebAssembly text in `module_wat`; the input is base64.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    #[serde(default)]
    pub module: Option<String>,
    #[serde(default)]
    pub module_wat: Option<String>,
    #[serde(default)]
    pub input: String,
    #[serde(default = "default_capability")]
    pub capability: String,
    #[serde(default = "default_redundancy")]
    pub redundancy: u8,
    /// A decimal string, so rewards above 2^53 survive JSON.
    #[serde(default)]
    pub reward: Option<String>,
    #[serde(default)]
    pub fuel: Option<u64>,
    #[serde(default)]
    pub memory_bytes: Option<u32>,
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    #[serde(default = "default_deadline")]
    pub deadline_secs: u64,
}

fn default_capability() -> String {
    "wasm".into()
}
fn default_redundancy() -> u8 {
    1
}
fn default_deadline() -> u64 {
    120
}

/// A 4xx or 5xx with a JSON body naming the field at fault.
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<&'static str>,
}

impl ApiError {
    fn bad(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            field: Some(field),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.message, "field": self.field})),
        )
            .into_response()
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Module(m) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: m.to_string(),
                field: Some("module"),
            },
            SubmitError::Invalid { field, message } => Self::bad(field, message),
            SubmitError::Busy | SubmitError::Stopped => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: e.to_string(),
                field: None,
            },
        }
    }
}

fn decode(field: &'static str, text: &str) -> Result<Vec<u8>, ApiError> {
    if text.len() > MAX_BLOB_BYTES / 3 * 4 + 4 {
        return Err(ApiError::bad(field, "larger than 8 MiB"));
    }
    STANDARD
        .decode(text)
        .map_err(|e| ApiError::bad(field, format!("not base64: {e}")))
}

impl SubmitBody {
    pub fn into_request(self) -> Result<JobRequest, ApiError> {
        let module = match (self.module, self.module_wat) {
            (Some(b64), None) => decode("module", &b64)?,
            (None, Some(text)) => wat::parse_str(&text)
                .map_err(|e| ApiError::bad("module_wat", format!("not WebAssembly text: {e}")))?,
            _ => {
                return Err(ApiError::bad(
                    "module",
                    "give exactly one of module (base64) and module_wat",
                ))
            }
        };
        let input = decode("input", &self.input)?;
        let reward = match self.reward {
            None => 0,
            Some(text) => text
                .parse::<u128>()
                .map_err(|_| ApiError::bad("reward", "a decimal integer string"))?,
        };
        let defaults = Limits::default();
        Ok(JobRequest {
            module,
            input,
            capability: self.capability,
            redundancy: self.redundancy,
            reward,
            limits: Limits {
                fuel: self.fuel.unwrap_or(defaults.fuel),
                memory_bytes: self.memory_bytes.unwrap_or(defaults.memory_bytes),
                timeout_ms: self.timeout_ms.unwrap_or(defaults.timeout_ms),
            },
            deadline: Duration::from_secs(self.deadline_secs),
        })
    }
}

#[derive(Serialize)]
struct Submitted {
    job_id: Hash,
}

async fn submit(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<SubmitBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError {
        status: e.status(),
        message: e.body_text(),
        field: Some("body"),
    })?;
    // Decoding base64 and compiling WebAssembly text are input-sized work: off the
    // runtime's async threads.
    let request = tokio::task::spawn_blocking(move || body.into_request())
        .await
        .map_err(|_| ApiError::from(SubmitError::Stopped))??;
    let job_id = shared.submit(request).await?;
    Ok((StatusCode::CREATED, Json(Submitted { job_id })))
}

async fn job(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let hash = Hash::parse(&id).map_err(|e| ApiError::bad("id", e.to_string()))?;
    match shared.job(&hash).await {
        Some(job) => Ok(Json(job).into_response()),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("no job {id} was submitted through this node"),
            field: None,
        }),
    }
}

async fn jobs(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({ "jobs": shared.jobs().await })).into_response()
}

async fn peers(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({ "peer_id": shared.peer_id, "peers": shared.peers().await })).into_response()
}

/// The event loop counts as stalled once it has not ticked for this long.
pub const STALLED_AFTER: Duration = Duration::from_secs(1);

/// `200 {"status": "ok"}`, or `503 {"status": "stalled"}` while the node's event loop is
/// stuck; `loop_lag_ms` says how long since it last ticked.
async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let silence = shared.heartbeat.silence();
    let (status, word) = if silence > STALLED_AFTER {
        (StatusCode::SERVICE_UNAVAILABLE, "stalled")
    } else {
        (StatusCode::OK, "ok")
    };
    let body = json!({
        "peer_id": shared.peer_id,
        "status": word,
        "loop_lag_ms": silence.as_millis() as u64,
    });
    (status, Json(body)).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such route".into(),
        field: None,
    }
}

/// A running gateway. Dropping it stops it.
pub struct Gateway {
    /// Where it listens.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    stop: CancellationToken,
}

impl Gateway {
    /// Stops taking connections and lets requests in flight finish, for up to a second.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut self.task).await;
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves a node's HTTP API at `addr` (port 0 picks one; [`Gateway::addr`] says which).
pub async fn serve(shared: Arc<Shared>, addr: SocketAddr) -> anyhow::Result<Gateway> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("gateway on {addr}: {e}"))?;
    let addr = listener.local_addr()?;
    let app = router(shared);
    let stop = CancellationToken::new();
    let stopped = stop.clone().cancelled_owned();
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!("gateway stopped: {e}");
        }
    });
    Ok(Gateway { addr, task, stop })
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/jobs", get(jobs).post(submit))
        .route("/v1/jobs/{id}", get(job))
        .route("/v1/peers", get(peers))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            2 * MAX_BLOB_BYTES + 64 * 1024,
        ))
        .with_state(shared)
}
