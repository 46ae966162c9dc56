//! The node's Prometheus metrics, served at `/metrics`.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Gossip received, by kind and verdict (accept, ignore, reject).
    pub gossip: IntCounterVec,
    /// Requests received, by kind and outcome.
    pub requests: IntCounterVec,
    /// Strikes given, by reason.
    pub penalties: IntCounterVec,
    pub bans: IntCounter,
    /// Jobs this node submitted, by final status.
    pub jobs: IntCounterVec,
    /// Jobs this node ran, by outcome.
    pub executions: IntCounterVec,
    pub execution_seconds: Histogram,
    pub verification_failures: IntCounter,
    pub reassignments: IntCounter,
    /// Reputation updates from peers that the chain confirmed.
    pub reputation_updates: IntCounter,
    pub peers: IntGauge,
    /// How late each tick of the event loop ran: a busy or stalled loop shows here.
    pub loop_lag_seconds: Histogram,
    /// Settlement steps that failed and were tried again, by step.
    pub settlement_retries: IntCounterVec,
    /// Settlement steps stuck now: past their retry limit, or waiting on a chain clock that
    /// does not move, and not through yet.
    pub settlements_stuck: IntGauge,
}

/// When the node's event loop last ticked, for `/health` to tell a stalled loop from a
/// live one: the gateway answers from its own task even when the loop is stuck.
pub struct Heartbeat {
    started: Instant,
    last_ms: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Heartbeat {
    /// The loop is alive now.
    pub fn beat(&self) {
        self.last_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long since the loop last ticked.
    pub fn silence(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help).namespace("ciro_node"), labels)
        .expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::with_opts(Opts::new(name, help).namespace("ciro_node")).expect("valid");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let execution_seconds = Histogram::with_opts(
            HistogramOpts::new("execution_seconds", "Wall-clock time of job runs")
                .namespace("ciro_node")
                .buckets(vec![0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]),
        )
        .expect("valid");
        registry
            .register(Box::new(execution_seconds.clone()))
            .expect("unique");
        let peers = IntGauge::with_opts(
            Opts::new("connected_peers", "Peers with an open connection").namespace("ciro_node"),
        )
        .expect("valid");
        registry.register(Box::new(peers.clone())).expect("unique");
        let loop_lag_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "loop_lag_seconds",
                "How late the event loop's ticks ran: time it spent on other work",
            )
            .namespace("ciro_node")
            .buckets(vec![0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 5.0]),
        )
        .expect("valid");
        registry
            .register(Box::new(loop_lag_seconds.clone()))
            .expect("unique");
        let settlements_stuck = IntGauge::with_opts(
            Opts::new(
                "settlements_stuck",
                "Settlement steps past their retry limit or waiting on a chain clock that does not move",
            )
            .namespace("ciro_node"),
        )
        .expect("valid");
        registry
            .register(Box::new(settlements_stuck.clone()))
            .expect("unique");
        Self {
            gossip: counter_vec(
                &registry,
                "gossip_messages_total",
                "Gossip received, by kind and verdict",
                &["kind", "verdict"],
            ),
            requests: counter_vec(
                &registry,
                "requests_total",
                "Requests received, by kind and outcome",
                &["kind", "outcome"],
            ),
            penalties: counter_vec(
                &registry,
                "penalties_total",
                "Strikes given to peers, by reason",
                &["reason"],
            ),
            bans: counter(&registry, "bans_total", "Peers banned"),
            jobs: counter_vec(
                &registry,
                "jobs_total",
                "Jobs submitted here that finished, by status",
                &["status"],
            ),
            executions: counter_vec(
                &registry,
                "executions_total",
                "Jobs run here, by outcome",
                &["outcome"],
            ),
            execution_seconds,
            verification_failures: counter(
                &registry,
                "verification_failures_total",
                "Workers whose results disagreed or broke their commit",
            ),
            reassignments: counter(
                &registry,
                "reassignments_total",
                "Workers replaced after dropping, timing out or refusing",
            ),
            reputation_updates: counter(
                &registry,
                "reputation_updates_total",
                "Reputation updates heard over gossip and confirmed on chain",
            ),
            peers,
            loop_lag_seconds,
            settlement_retries: counter_vec(
                &registry,
                "settlement_retries_total",
                "Settlement steps that failed and were tried again, by step",
                &["step"],
            ),
            settlements_stuck,
            registry,
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}
