//! Networks of real nodes in one process, for the tests and the benchmark: the memory
//! transport for scale, loopback TCP, QUIC and WebSocket where the transport is the point.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use ciro_node::{
    job::{ClientJob, JobStatus},
    protocol::{Hash, Limits},
    sandbox::workloads,
    JobRequest, Node, NodeConfig, NodeHandle,
};
use libp2p::{Multiaddr, PeerId};

pub fn memory() -> Multiaddr {
    "/memory/0".parse().unwrap()
}

/// A node listening on `listen`, joining through `bootstrap`, working for `capabilities`.
pub fn config(listen: Multiaddr, bootstrap: &[Multiaddr], capabilities: &[&str]) -> NodeConfig {
    NodeConfig {
        listen: vec![listen],
        bootstrap: bootstrap.to_vec(),
        capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        ..NodeConfig::default()
    }
}

pub async fn start(config: NodeConfig) -> NodeHandle {
    Node::start(config).await.expect("node starts")
}

/// A bootstrap node and `workers` workers for `wasm`, all on the memory transport.
pub async fn network(workers: usize) -> (NodeHandle, Vec<NodeHandle>) {
    let boot = start(config(memory(), &[], &[])).await;
    let addrs = boot.addrs();
    let mut nodes = Vec::new();
    for _ in 0..workers {
        nodes.push(start(config(memory(), &addrs, &["wasm"])).await);
    }
    (boot, nodes)
}

/// A matrix-multiply job: `n × n`, seeded.
pub fn matmul(n: u32, seed: u32, redundancy: u8) -> JobRequest {
    JobRequest {
        module: workloads::compile(workloads::MATMUL),
        input: [n.to_le_bytes(), seed.to_le_bytes()].concat(),
        capability: "wasm".into(),
        redundancy,
        reward: 100,
        limits: Limits::default(),
        deadline: Duration::from_secs(60),
    }
}

/// A hash-chain job of `rounds` rounds: long enough to kill a worker in the middle.
pub fn hash_chain(rounds: u32, redundancy: u8) -> JobRequest {
    JobRequest {
        module: workloads::compile(workloads::HASH_CHAIN),
        input: [rounds.to_le_bytes().to_vec(), 7u64.to_le_bytes().to_vec()].concat(),
        capability: "wasm".into(),
        redundancy,
        reward: 100,
        limits: Limits {
            fuel: Limits::MAX_FUEL,
            ..Limits::default()
        },
        deadline: Duration::from_secs(60),
    }
}

/// What the job's module computes on its input, run here in a sandbox of our own.
pub fn expected(request: &JobRequest) -> Vec<u8> {
    ciro_node::sandbox::Sandbox::new()
        .unwrap()
        .run(&request.module, &request.input, &request.limits)
        .unwrap()
        .output
}

/// Polls `check` until it gives a value, or panics naming `what` after `limit`.
pub async fn eventually<T, Fut: std::future::Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Fut,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if started.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the job is settled one way or the other.
pub async fn settled(client: &NodeHandle, id: &Hash) -> ClientJob {
    eventually("the job to settle", Duration::from_secs(60), || async {
        client.shared.job(id).await.filter(|j| !j.is_open())
    })
    .await
}

/// Waits until the client can find `count` workers for `capability`.
pub async fn discover(client: &NodeHandle, capability: &str, count: usize) -> Vec<PeerId> {
    let started = Instant::now();
    loop {
        let found = client.shared.find_workers(capability, count).await;
        if found.len() >= count {
            return found;
        }
        if started.elapsed() > Duration::from_secs(30) {
            panic!("found only {} of {count} workers", found.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn assert_completed(job: &ClientJob, expected: &[u8]) {
    assert_eq!(
        job.status,
        JobStatus::Completed,
        "job failed: {:?}\n{job:#?}",
        job.error
    );
    let result = job.result.as_ref().expect("a completed job has a result");
    assert_eq!(
        result.outcome,
        ciro_node::job::Outcome::Output(expected.to_vec())
    );
    assert_eq!(result.hash, Hash::of(expected));
    assert!(result.agreeing.len() >= job.redundancy as usize);
}

/// A metric's value from a node's Prometheus text, 0 when absent.
pub fn metric(node: &NodeHandle, name_and_labels: &str) -> f64 {
    node.shared
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}
