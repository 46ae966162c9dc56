//! Prometheus metrics and the engine's live status, shared by the engine (writer) and the
//! HTTP API (reader). Nothing here blocks.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Every metric the indexer exports, registered in its own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Events stored.
    pub events: IntCounter,
    /// Blocks indexed.
    pub blocks: IntCounter,
    /// Reorgs handled.
    pub reorgs: IntCounter,
    /// Failed steps, by kind (`rpc`, `db`, `other`).
    pub errors: IntCounterVec,
    /// The cursor.
    pub cursor: IntGauge,
    /// The chain head, as last seen.
    pub head: IntGauge,
    /// Seconds per committed batch (fetch and store).
    pub batch_seconds: Histogram,
    /// HTTP requests by route and status.
    pub http_requests: IntCounterVec,
    /// HTTP latency by route.
    pub http_seconds: HistogramVec,
    /// Answers by where they came from: `hit` (the response cache of the current view) or
    /// `miss` (built by the handler).
    pub http_cache: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers the metrics.
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("ciro_indexer".into()), None).expect("a valid prefix");
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let events = counter("events_total", "Events stored");
        let blocks = counter("blocks_total", "Blocks indexed");
        let reorgs = counter("reorgs_total", "Reorgs handled");
        let errors = IntCounterVec::new(Opts::new("errors_total", "Failed steps"), &["kind"])
            .expect("valid metric");
        registry
            .register(Box::new(errors.clone()))
            .expect("unique metric");
        let cursor = gauge("cursor_block", "Highest indexed block");
        let head = gauge("chain_head_block", "Newest accepted block seen");
        let batch_seconds = Histogram::with_opts(HistogramOpts::new(
            "batch_seconds",
            "Seconds to fetch and store one batch",
        ))
        .expect("valid metric");
        registry
            .register(Box::new(batch_seconds.clone()))
            .expect("unique metric");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests"),
            &["route", "status"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_requests.clone()))
            .expect("unique metric");
        let http_seconds = HistogramVec::new(
            HistogramOpts::new("http_request_seconds", "HTTP latency").buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_seconds.clone()))
            .expect("unique metric");
        let http_cache = IntCounterVec::new(
            Opts::new(
                "http_cache_total",
                "GET answers served from the response cache (hit) or built (miss)",
            ),
            &["result"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_cache.clone()))
            .expect("unique metric");
        Self {
            registry,
            events,
            blocks,
            reorgs,
            errors,
            cursor,
            head,
            batch_seconds,
            http_requests,
            http_seconds,
            http_cache,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

/// What the engine is doing, for `/health`.
#[derive(Debug, Default)]
pub struct Status {
    /// The cursor, or -1 before the first block.
    pub cursor: AtomicI64,
    /// The chain head, or -1 before it was seen.
    pub head: AtomicI64,
    /// Unix seconds of the last successful step (0: none yet).
    pub last_ok: AtomicU64,
    /// The last error, cleared by a successful step.
    pub last_error: Mutex<Option<String>>,
    /// Unix seconds when the indexer started.
    pub started: AtomicU64,
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Status {
    /// A fresh status shared between engine and API.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self {
            cursor: AtomicI64::new(-1),
            head: AtomicI64::new(-1),
            started: AtomicU64::new(now()),
            ..Self::default()
        })
    }

    /// Records a successful step.
    pub fn ok(&self, cursor: Option<u64>, head: u64) {
        self.cursor
            .store(cursor.map_or(-1, |c| c as i64), Ordering::Relaxed);
        self.head.store(head as i64, Ordering::Relaxed);
        self.last_ok.store(now(), Ordering::Relaxed);
        *self.last_error.lock().expect("not poisoned") = None;
    }

    /// Records a failed step.
    pub fn failed(&self, error: String) {
        *self.last_error.lock().expect("not poisoned") = Some(error);
    }
}
