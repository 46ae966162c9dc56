//! What settling on chain costs: the same jobs through the same three-worker network, once
//! off chain (the baseline) and once settling on an in-process devnet, in one run.
//!
//! `cargo bench -p ciro-e2e --bench settlement` (add `--profile dev` to skip the release
//! build); `CIRO_BENCH_JOBS` sets the number of jobs (6: one wave, within the workers' 12
//! slots). Figures go to `target/ciro-bench/settlement.md`.

use std::{
    collections::HashMap,
    fmt::Write as _,
    time::{Duration, Instant},
};

use ciro::up::{sample_job, wait_for_advertised, LocalNetwork, UpSettings};
use ciro_bindings::units::ONE;
use ciro_node::{
    job::JobStatus, node::NodeEvent, protocol::JobId, JobRequest, Node, NodeConfig, NodeHandle,
};
use starknet::providers::Provider as _;

const WORKERS: usize = 3;
const REDUNDANCY: u8 = 2;

fn request(i: usize) -> JobRequest {
    sample_job(i, REDUNDANCY, ONE, Duration::from_secs(120))
}

/// When each job completed off chain and, when the client settles, on chain.
#[derive(Default)]
struct Times {
    submitted: HashMap<JobId, Instant>,
    completed: HashMap<JobId, Instant>,
    settled: HashMap<JobId, Instant>,
}

/// Submits `jobs` jobs at once through `client` and waits until each is done: completed off
/// chain, and settled on chain too when `on_chain`.
async fn drive(client: &NodeHandle, jobs: usize, on_chain: bool) -> (Times, Duration) {
    let mut events = client.shared.subscribe();
    let mut times = Times::default();
    let started = Instant::now();
    for i in 0..jobs {
        let id = client.shared.submit(request(i)).await.expect("submitted");
        times.submitted.insert(id, Instant::now());
    }
    let done = |t: &Times| t.completed.len() == jobs && (!on_chain || t.settled.len() == jobs);
    while !done(&times) {
        match tokio::time::timeout(Duration::from_secs(300), events.recv()).await {
            Ok(Ok(NodeEvent::Settled { job, status, at })) => {
                if status != JobStatus::Completed {
                    let record = client.shared.job(&job).await;
                    panic!(
                        "job {job} failed: {:?}",
                        record.map(|r| (r.error, r.assignments))
                    );
                }
                times.completed.insert(job, at);
            }
            Ok(Ok(NodeEvent::SettledOnChain { job, slots })) => {
                assert!(
                    slots
                        .iter()
                        .all(|s| s.state == "completed" || s.worker.is_none()),
                    "{slots:?}"
                );
                times.settled.insert(job, Instant::now());
            }
            Ok(_) => {}
            Err(_) => panic!("jobs stalled"),
        }
    }
    (times, started.elapsed())
}

fn latencies(times: &Times, end: &HashMap<JobId, Instant>) -> Vec<Duration> {
    let mut all: Vec<Duration> = end
        .iter()
        .map(|(job, at)| at.duration_since(times.submitted[job]))
        .collect();
    all.sort();
    all
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

async fn off_chain(jobs: usize) -> (Times, Duration) {
    let listen = || vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    let client = Node::start(NodeConfig {
        listen: listen(),
        ..NodeConfig::default()
    })
    .await
    .unwrap();
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        workers.push(
            Node::start(NodeConfig {
                listen: listen(),
                bootstrap: client.addrs(),
                capabilities: vec!["wasm".into()],
                ..NodeConfig::default()
            })
            .await
            .unwrap(),
        );
    }
    let peers: Vec<_> = workers.iter().map(|w| w.peer_id()).collect();
    wait_for_advertised(&client, &peers, Duration::from_secs(30))
        .await
        .unwrap();
    drive(&client, jobs, false).await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let jobs: usize = std::env::var("CIRO_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);

    let (base, base_wall) = off_chain(jobs).await;

    let dir = tempfile::tempdir().unwrap();
    let net = LocalNetwork::start(
        &UpSettings {
            workers: WORKERS,
            dir: dir.path().to_path_buf(),
            indexer_http: "127.0.0.1:0".parse().unwrap(),
            client_http: "127.0.0.1:0".parse().unwrap(),
            ..UpSettings::default()
        },
        |_| {},
    )
    .await
    .unwrap();
    net.wait_for_workers(Duration::from_secs(30)).await.unwrap();
    let fee_token = ciro_bindings::contracts::token::CiroTokenReader::new(
        starknet::core::types::Felt::from_hex(ciro_devnet::STRK_FEE_TOKEN).unwrap(),
        net.chain.rpc(),
    );
    let strk = |who| {
        let reader = &fee_token;
        async move {
            let b = reader
                .balance_of(&cainome::cairo_serde::ContractAddress(who))
                .call()
                .await
                .unwrap();
            ciro_bindings::units::from_u256(&b).unwrap()
        }
    };
    let mut payers = vec![net.client_account];
    payers.extend(net.workers.iter().map(|w| w.account));
    let mut strk_before = Vec::new();
    for who in &payers {
        strk_before.push(strk(*who).await);
    }
    let block_before = net.chain.rpc().block_number().await.unwrap();

    let (chain, chain_wall) = drive(&net.client, jobs, true).await;

    let block_after = net.chain.rpc().block_number().await.unwrap();
    let mut strk_spent = Vec::new();
    for (who, before) in payers.iter().zip(&strk_before) {
        strk_spent.push(before - strk(*who).await);
    }
    let client_fee = strk_spent[0] as f64 / 1e18 / jobs as f64;
    let worker_fee = strk_spent[1..].iter().sum::<u128>() as f64 / 1e18 / jobs as f64;
    let txs = block_after - block_before; // devnet mines one block per transaction

    let base_done = latencies(&base, &base.completed);
    let chain_done = latencies(&chain, &chain.completed);
    let chain_settled = latencies(&chain, &chain.settled);
    let base_rate = jobs as f64 / base_wall.as_secs_f64();
    let settled_rate = jobs as f64 / chain_wall.as_secs_f64();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Settlement on chain vs off chain\n\n{jobs} jobs submitted at once, {REDUNDANCY} workers each, {WORKERS} worker nodes and a client on loopback TCP; \
         the chain is starknet-devnet 0.10.1 in the same process (one block per transaction), build profile `{}`.\n",
        if cfg!(debug_assertions) { "dev" } else { "release" }
    );
    let _ = writeln!(
        out,
        "| measure | off chain (baseline) | settling on chain | ratio |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    let row = |out: &mut String, name: &str, a: Duration, b: Duration| {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {:.1}× |",
            ms(a),
            ms(b),
            b.as_secs_f64() / a.as_secs_f64().max(1e-9)
        );
    };
    for (name, p, end) in [
        ("result agreed", 0.5, &chain_done),
        ("result agreed", 0.9, &chain_done),
        ("paid on chain", 0.5, &chain_settled),
        ("paid on chain", 0.9, &chain_settled),
    ] {
        row(
            &mut out,
            &format!("{name}, p{:.0}", p * 100.0),
            pct(&base_done, p),
            pct(end, p),
        );
    }
    let _ = writeln!(
        out,
        "| jobs/s (all done) | {base_rate:.2} | {settled_rate:.2} | {:.2}× |",
        settled_rate / base_rate
    );
    let _ = writeln!(
        out,
        "\nOn chain: {txs} transactions for {jobs} jobs ({:.1} a job: the client's create, {REDUNDANCY} assigns and {REDUNDANCY} accepts, each worker's submit); \
         fees per job {client_fee:.4} STRK for the client and {worker_fee:.4} STRK for its workers together.",
        txs as f64 / jobs as f64
    );
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::var_os("CIRO_BENCH_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace.join("target/ciro-bench/settlement.md"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &out).unwrap();
    print!("{out}");
    println!("\nwritten to {}", path.display());
    net.stop().await.unwrap();
}
