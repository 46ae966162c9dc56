//! The HTTP API (axum): workers, jobs, disputes, governance, stats, health, metrics and the
//! OpenAPI spec. Every route is declared in [`router`] and handled in this file; it only reads.

pub mod cache;
pub mod error;
pub mod params;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use self::cache::Indexed;
use self::error::{ApiError, ErrorBody, InternalError};
use crate::metrics::{now, Metrics, Status};
use crate::model::{Dispute, Job, JobState, ScorePoint, Worker, WorkerStatus};
use crate::processors::governance::{
    ContractGovernance, Governance, GovernanceChange, PendingUpgrade,
};
use crate::score::{Outcome, FORMULA};
use crate::store::{JobFilter, Stats, Store, StoredEvent};

/// Events listed with a worker, newest first.
pub const WORKER_EVENTS: u32 = 100;
/// Events listed with a job or a dispute.
pub const ENTITY_EVENTS: u32 = 500;
/// Governance changes listed by `/v1/governance`, newest first.
pub const GOVERNANCE_CHANGES: usize = 200;
/// Seconds without a successful step after which `/health` answers 503.
pub const STALLED_AFTER_SECS: u64 = 60;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The metrics.
    pub metrics: Metrics,
    /// The engine's status.
    pub status: Arc<Status>,
}

/// Every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/workers", get(list_workers))
        .route("/v1/workers/{address}", get(get_worker))
        .route("/v1/jobs", get(list_jobs))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/disputes/{id}", get(get_dispute))
        .route("/v1/governance", get(governance))
        .route("/v1/stats", get(stats))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { ApiError::not_found("no such route; see /openapi.json") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn_with_state(
            cache::Caching::new(state.store.clone(), state.metrics.clone()),
            cache::conditional,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts and times every request by matched route.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .http_seconds
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .http_requests
        .with_label_values(&[&route, response.status().as_str()])
        .inc();
    response
}

/// A worker with its score's provenance.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerDetail {
    /// The worker.
    #[serde(flatten)]
    pub worker: Worker,
    /// How the score is computed.
    pub score_formula: &'static str,
    /// Each step of the score, oldest first, with the event behind it.
    pub score_history: Vec<ScorePoint>,
    /// The worker's latest events, newest first (at most 100).
    pub events: Vec<StoredEvent>,
    /// How many events name the worker.
    pub events_total: u64,
}

/// A page of workers.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerPage {
    /// Best score first, then by address.
    pub items: Vec<Worker>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A job with its state history.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetail {
    /// The job.
    #[serde(flatten)]
    pub job: Job,
    /// Its events, newest first: each state change with its transaction and block time.
    pub history: Vec<StoredEvent>,
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    /// Newest first.
    pub items: Vec<Job>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A dispute with its events.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisputeDetail {
    /// The dispute.
    #[serde(flatten)]
    pub dispute: Dispute,
    /// Its events, newest first: opening, each vote, resolution.
    pub history: Vec<StoredEvent>,
}

/// `/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `starting` (no step done yet) or `stalled` (no successful step for 60 s, or
    /// none at all 60 s after start).
    pub status: String,
    /// The highest indexed block.
    pub cursor: Option<u64>,
    /// The newest accepted block the indexer has seen.
    pub head: Option<u64>,
    /// Blocks behind the head.
    pub lag_blocks: Option<u64>,
    /// Seconds since the last successful step.
    pub seconds_since_progress: Option<u64>,
    /// The last error, if the last step failed.
    pub last_error: Option<String>,
}

/// `GET /v1/workers` query.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkerQuery {
    /// Only workers that registered this capability (e.g. `wasm`, `gpu:h100`).
    #[param(min_length = 1, max_length = 66)]
    pub capability: Option<String>,
    /// Only workers scoring at least this, from 0 to 1.
    #[param(minimum = 0.0, maximum = 1.0)]
    pub min_score: Option<f64>,
    /// Only workers in this status.
    #[param(value_type = Option<WorkerStatus>, inline)]
    pub status: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: `<score in ppm>_<address>`.
    #[param(pattern = r"^(0|[1-9][0-9]{0,5}|1000000)_0x0[0-7][0-9a-f]{62}$")]
    pub cursor: Option<String>,
}

/// `GET /v1/jobs` query.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Only this client's jobs (address: `0x` hex).
    #[param(pattern = r"^0x([0-9a-fA-F]{1,62}|[0-7][0-9a-fA-F]{62}|0[0-7][0-9a-fA-F]{62})$")]
    pub client: Option<String>,
    /// Only jobs assigned to this worker (address: `0x` hex).
    #[param(pattern = r"^0x([0-9a-fA-F]{1,62}|[0-7][0-9a-fA-F]{62}|0[0-7][0-9a-fA-F]{62})$")]
    pub worker: Option<String>,
    /// Only jobs in this state.
    #[param(value_type = Option<JobState>, inline)]
    pub state: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: the last job id seen.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 9_223_372_036_854_775_807_isize)]
    pub cursor: Option<String>,
}

/// One worker, its score and the events it was computed from.
#[utoipa::path(get, path = "/v1/workers/{address}",
    params(("address" = String, Path, description = "The worker's address: `0x` hex", pattern = r"^0x([0-9a-fA-F]{1,62}|[0-7][0-9a-fA-F]{62}|0[0-7][0-9a-fA-F]{62})$")),
    responses(
        (status = 200, body = WorkerDetail, headers(("ETag" = String, description = "SHA-256 of the body; send it back as If-None-Match"), ("X-Indexed-Block" = u64, description = "The indexed block the answer reflects"), ("X-Indexed-Block-Hash" = String, description = "That block's hash"))),
        (status = 304, description = "If-None-Match named the current ETag: the answer is unchanged"),
        (status = 400, body = ErrorBody, description = "Bad address"),
        (status = 404, body = ErrorBody, description = "No such worker"),
        (status = 500, response = InternalError)))]
async fn get_worker(
    State(s): State<AppState>,
    address: Result<Path<String>, PathRejection>,
) -> Result<Indexed<Json<WorkerDetail>>, ApiError> {
    let Path(address) = address.map_err(|e| ApiError::bad("address", e.body_text()))?;
    let address = params::address("address", &address)?;
    let mut read = s.store.read().await?;
    let worker = read
        .worker(&address)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no worker {address} has been indexed")))?;
    let score_history = read.score_history(&address).await?;
    let (events, events_total) = read.worker_events(&address, WORKER_EVENTS).await?;
    Ok(Indexed(
        read.block,
        Json(WorkerDetail {
            worker,
            score_formula: FORMULA,
            score_history,
            events,
            events_total,
        }),
    ))
}

/// Workers, best score first, with keyset pagination.
#[utoipa::path(get, path = "/v1/workers", params(WorkerQuery),
    responses((status = 200, body = WorkerPage, headers(("ETag" = String, description = "SHA-256 of the body; send it back as If-None-Match"), ("X-Indexed-Block" = u64, description = "The indexed block the answer reflects"), ("X-Indexed-Block-Hash" = String, description = "That block's hash"))),
        (status = 304, description = "If-None-Match named the current ETag: the answer is unchanged"), (status = 400, body = ErrorBody)))]
async fn list_workers(
    State(s): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Indexed<Json<WorkerPage>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    params::only(
        &q,
        &["capability", "min_score", "status", "limit", "cursor"],
    )?;
    let filter = params::worker_filter(&q)?;
    // From the view: one block's workers, in memory, never the database.
    let view = s.store.view();
    let page = view.page(&filter);
    Ok(Indexed(
        view.block.clone(),
        Json(WorkerPage {
            items: page.items,
            next_cursor: page.next,
        }),
    ))
}

/// One job and its state history.
#[utoipa::path(get, path = "/v1/jobs/{id}",
    params(("id" = u64, Path, description = "The escrow's job id", minimum = 0, maximum = 9_223_372_036_854_775_807_isize)),
    responses(
        (status = 200, body = JobDetail, headers(("ETag" = String, description = "SHA-256 of the body; send it back as If-None-Match"), ("X-Indexed-Block" = u64, description = "The indexed block the answer reflects"), ("X-Indexed-Block-Hash" = String, description = "That block's hash"))),
        (status = 304, description = "If-None-Match named the current ETag: the answer is unchanged"),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 500, response = InternalError)))]
async fn get_job(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Indexed<Json<JobDetail>>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad("id", e.body_text()))?;
    let id = params::id("id", &id)?;
    let mut read = s.store.read().await?;
    let job = read
        .job(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no job {id} has been indexed")))?;
    let (history, _) = read.job_events(id, ENTITY_EVENTS).await?;
    Ok(Indexed(read.block, Json(JobDetail { job, history })))
}

/// Jobs, newest first, with keyset pagination.
#[utoipa::path(get, path = "/v1/jobs", params(JobQuery),
    responses((status = 200, body = JobPage, headers(("ETag" = String, description = "SHA-256 of the body; send it back as If-None-Match"), ("X-Indexed-Block" = u64, description = "The indexed block the answer reflects"), ("X-Indexed-Block-Hash" = String, description = "That block's hash"))),
        (status = 304, description = "If-None-Match named the current ETag: the answer is unchanged"), (status = 400, body = ErrorBody),
        (status = 500, response = InternalError)))]
async fn list_jobs(
    State(s): State<AppState>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Indexed<Json<JobPage>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad("query", e.body_text()))?;
    params::only(&q, &["client", "worker", "state", "limit", "cursor"])?;
    let filter = JobFilter {
        client: q
            .get("client")
            .map(|c| params::address("client", c))
            .transpose()?,
        worker: q
            .get("worker")
            .map(|w| params::address("worker", w))
            .transpose()?,
        state: params::state(&q)?,
        before: params::job_cursor(&q)?,
        limit: params::limit(&q)?,
    };
    let mut read = s.store.read().await?;
    let page = read.jobs(&filter).await?;
    Ok(Indexed(
        read.block,
        Json(JobPage {
            items: page.items,
            next_cursor: page.next,
        }),
    ))
}

/// One dispute, its votes and ruling.
#[utoipa::path(get, path = "/v1/disputes/{id}",
    params(("id" = u64, Path, description = "The dispute id", minimum = 0, maximum = 9_223_372_036_854_775_807_isize)),
    responses(
        (status = 200, body = DisputeDetail, headers(("ETag" = String, description = "SHA-256 of the body; send it back as If-None-Match"), ("X-Indexed-Block" = u64, description = "The indexed block the answer reflects"), ("X-Indexed-Block-Hash" = String, description = "That block's hash"))),
        (status = 304, description = "If-None-Match named the current ETag: the answer is unchanged"),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 500, response = InternalError)))]
async fn get_dispute(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Indexed<Json<DisputeDetail>>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad("id", e.body_text()))?;
    let id = params::id("id", &id)?;
    let mut read = s.store.read().await?;
    let dispute = read
        .dispute(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no dispute {id} has been indexed")))?;
    let (history, _) = read.dispute_events(id, ENTITY_EVENTS).await?;
    Ok(Indexed(
        read.block,
        Json(DisputeDetail { dispute, history }),
    ))
}

/// Who can change what on each contract, and what is about to change: pending upgrades
/// with the time they can run, roles and their holders, pause, the end of the setup, and
/// the latest governance events. A staker who disagrees with a pending upgrade has until
/// its `ready_at` to leave.
#[utoipa::path(get, path = "/v1/governance", responses((status = 200, body = Governance, headers(("ETag" = String, description = "SHA-256 of the body; send it back as If-None-Match"), ("X-Indexed-Block" = u64, description = "The indexed block the answer reflects"), ("X-Indexed-Block-Hash" = String, description = "That block's hash"))),
        (status = 304, description = "If-None-Match named the current ETag: the answer is unchanged"),
        (status = 500, response = InternalError)))]
async fn governance(State(s): State<AppState>) -> Result<Indexed<Json<Governance>>, ApiError> {
    let mut read = s.store.read().await?;
    let governance = read.governance(GOVERNANCE_CHANGES).await?;
    Ok(Indexed(read.block, Json(governance)))
}

/// Totals: workers, stake, jobs, disputes, capabilities, the cursor.
#[utoipa::path(get, path = "/v1/stats", responses((status = 200, body = Stats, headers(("ETag" = String, description = "SHA-256 of the body; send it back as If-None-Match"), ("X-Indexed-Block" = u64, description = "The indexed block the answer reflects"), ("X-Indexed-Block-Hash" = String, description = "That block's hash"))),
        (status = 304, description = "If-None-Match named the current ETag: the answer is unchanged"),
        (status = 500, response = InternalError)))]
async fn stats(State(s): State<AppState>) -> Result<Indexed<Json<Stats>>, ApiError> {
    let mut read = s.store.read().await?;
    let stats = read.stats().await?;
    Ok(Indexed(read.block, Json(stats)))
}

/// Whether the indexer keeps up: the cursor, the head, and the lag between them.
#[utoipa::path(get, path = "/health", responses(
    (status = 200, body = Health, description = "Indexing"),
    (status = 503, body = Health, description = "No successful step for 60 s")))]
async fn health(State(s): State<AppState>) -> (StatusCode, Json<Health>) {
    let cursor = u64::try_from(s.status.cursor.load(Ordering::Relaxed)).ok();
    let head = u64::try_from(s.status.head.load(Ordering::Relaxed)).ok();
    let last_ok = s.status.last_ok.load(Ordering::Relaxed);
    let since = (last_ok > 0).then(|| now().saturating_sub(last_ok));
    let up = now().saturating_sub(s.status.started.load(Ordering::Relaxed));
    let (code, status) = match since {
        None if up > STALLED_AFTER_SECS => (StatusCode::SERVICE_UNAVAILABLE, "stalled"),
        None => (StatusCode::OK, "starting"),
        Some(secs) if secs > STALLED_AFTER_SECS => (StatusCode::SERVICE_UNAVAILABLE, "stalled"),
        Some(_) => (StatusCode::OK, "ok"),
    };
    let last_error = s.status.last_error.lock().expect("not poisoned").clone();
    (
        code,
        Json(Health {
            status: status.into(),
            cursor,
            head,
            lag_blocks: head.map(|h| h.saturating_sub(cursor.unwrap_or(0))),
            seconds_since_progress: since,
            last_error,
        }),
    )
}

/// Prometheus metrics, text format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

/// This API's OpenAPI 3 description.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3 JSON")))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The OpenAPI description of every route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "CIRO Network indexer",
        description = "Workers, jobs, disputes and governance of the CIRO contracts, indexed from Starknet events. Amounts are decimal strings of base units (18 decimals). Scores: see `score_formula`."
    ),
    paths(
        get_worker,
        list_workers,
        get_job,
        list_jobs,
        get_dispute,
        governance,
        stats,
        health,
        metrics,
        openapi
    ),
    components(
        schemas(
            WorkerDetail,
            WorkerPage,
            JobDetail,
            JobPage,
            DisputeDetail,
            Health,
            Stats,
            ErrorBody,
            Worker,
            Job,
            Dispute,
            ScorePoint,
            StoredEvent,
            Outcome,
            Governance,
            ContractGovernance,
            GovernanceChange,
            PendingUpgrade
        ),
        responses(InternalError)
    )
)]
pub struct ApiDoc;
