//! What settling on chain costs: the same jobs through the same three-worker network, off
//! chain (the baseline), then settling on an in-process devnet one escrow job per worker
//! (one transaction per step), first with each node sending one transaction at a time and
//! then with several in flight (the pipelined queue), then paid from the client's deposit
//! with acceptances the workers settle in batches of at most 1, 10 and 100, all in one run.
//! Then the chain's capacity for batched settlement alone: one `settle_batch` of 100
//! acceptances. Each run reports the time from the off-chain agreement on a job's result to
//! its payment on chain.
//!
//! `cargo bench -p ciro-e2e --bench settlement` (add `--profile dev` to skip the release
//! build); `CIRO_BENCH_JOBS` sets the number of jobs (default 24). Figures go to
//! `target/ciro-bench/settlement.md`.

use std::{
    collections::HashMap,
    fmt::Write as _,
    time::{Duration, Instant},
};

use ciro::up::{sample_job, wait_for_advertised, LocalNetwork, UpSettings};
use ciro_bindings::units::{capability, ONE};
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

/// For each job, the time from its agreed result off chain to its payment on chain.
fn agreement_to_payment(times: &Times) -> Vec<Duration> {
    let mut all: Vec<Duration> = times
        .settled
        .iter()
        .map(|(job, at)| at.duration_since(times.completed[job]))
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

/// One run of the jobs through a local network that settles on chain.
struct Run {
    name: String,
    times: Times,
    wall: Duration,
    /// Transactions (devnet mines one block per transaction).
    txs: u64,
    /// Batches the workers sent, and the acceptances in them.
    batches: usize,
    entries: usize,
    /// STRK spent on fees, per job: by the client, by its workers.
    client_fee: f64,
    worker_fee: f64,
}

async fn on_chain(
    name: &str,
    jobs: usize,
    batch: Option<usize>,
    pipelined: bool,
) -> (Run, LocalNetwork, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let net = LocalNetwork::start(
        &UpSettings {
            workers: WORKERS,
            dir: dir.path().to_path_buf(),
            indexer_http: "127.0.0.1:0".parse().unwrap(),
            client_http: "127.0.0.1:0".parse().unwrap(),
            deposit: batch.map(|_| 10 * ONE),
            batch_size: batch.unwrap_or(1),
            batch_wait: Duration::from_secs(2),
            // One block per transaction, so blocks count transactions.
            blocks: ciro_devnet::Blocks::PerTransaction,
            pipelined,
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
    let mut batch_events: Vec<_> = net
        .workers
        .iter()
        .map(|w| w.node.shared.subscribe())
        .collect();

    let (times, wall) = drive(&net.client, jobs, true).await;

    let block_after = net.chain.rpc().block_number().await.unwrap();
    let mut strk_spent = Vec::new();
    for (who, before) in payers.iter().zip(&strk_before) {
        strk_spent.push(before - strk(*who).await);
    }
    let (mut batches, mut entries) = (0, 0);
    for events in &mut batch_events {
        while let Ok(event) = events.try_recv() {
            if let NodeEvent::BatchSettled { jobs, .. } = event {
                batches += 1;
                entries += jobs.len();
            }
        }
    }
    let run = Run {
        name: name.to_owned(),
        times,
        wall,
        txs: block_after - block_before,
        batches,
        entries,
        client_fee: strk_spent[0] as f64 / 1e18 / jobs as f64,
        worker_fee: strk_spent[1..].iter().sum::<u128>() as f64 / 1e18 / jobs as f64,
    };
    (run, net, dir)
}

/// The chain alone: one `settle_batch` of `entries` acceptances from the client to the
/// workers, timed. Returns the milliseconds it took.
async fn batch_capacity(net: &LocalNetwork, entries: usize) -> f64 {
    use ciro_bindings::{acceptance::Acceptance, ops::Session};
    use starknet::{core::types::Felt, signers::SigningKey};
    let client = net.devnet.account(1);
    let key = SigningKey::from_secret_scalar(client.private_key);
    let paying = Session::new(
        net.chain.clone(),
        net.deployment.clone(),
        net.chain.account(client.address, key.clone()),
    );
    paying.deposit(entries as u128 * ONE, true).await.unwrap();
    let fee_bps = paying.fee_bps().await.unwrap();
    let mut batch = Vec::new();
    for i in 0..entries {
        let worker = net.workers[i * WORKERS / entries].account;
        let acceptance = Acceptance {
            worker,
            spec_hash: Felt::from(i as u64 + 1),
            capability: capability("wasm").unwrap(),
            amount: ONE,
            fee_bps,
            commitment: Felt::from(0xc0u64 + i as u64),
            nonce: Felt::from(1_000_000 + i as u64),
        };
        batch.push(paying.sign_acceptance(acceptance, &key).unwrap());
    }
    let t = Instant::now();
    paying.settle_batch(&batch).await.unwrap();
    t.elapsed().as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let jobs: usize = std::env::var("CIRO_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);

    let (base, base_wall) = off_chain(jobs).await;
    let base_rate = jobs as f64 / base_wall.as_secs_f64();
    let base_done = latencies(&base, &base.completed);

    let mut runs = Vec::new();
    for (name, pipelined) in [
        (
            "one escrow job per worker, one transaction at a time",
            false,
        ),
        ("one escrow job per worker, pipelined", true),
    ] {
        let (run, net, dir) = on_chain(name, jobs, None, pipelined).await;
        runs.push(run);
        net.stop().await.unwrap();
        drop(dir);
    }
    let mut capacity = None;
    for size in [1, 10, 100] {
        let (run, net, dir) = on_chain(
            &format!("deposit, batches of ≤ {size}"),
            jobs,
            Some(size),
            true,
        )
        .await;
        runs.push(run);
        if size == 100 {
            capacity = Some(batch_capacity(&net, 100).await);
        }
        net.stop().await.unwrap();
        drop(dir);
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Settlement on chain vs off chain\n\n{jobs} jobs submitted at once, {REDUNDANCY} workers each, {WORKERS} worker nodes and a client on loopback TCP; \
         the chain is starknet-devnet 0.10.1 in the same process (one block per transaction), build profile `{}`. \
         Batched runs: each worker sends a batch when it holds the batch size in acceptances or the oldest has waited 2 s.\n",
        if cfg!(debug_assertions) { "dev" } else { "release" }
    );
    let _ = writeln!(
        out,
        "| run | jobs/s (all paid) | vs off chain | agreed p50 | paid p50 | paid p90 | agreed → paid p50 | agreed → paid p95 | txs per job | acceptances per batch | fee per job (STRK, client + workers) |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| off chain (baseline) | {base_rate:.2} | 1.00× | {} | | | | | | | |",
        ms(pct(&base_done, 0.5))
    );
    let escrow_fee = runs[0].client_fee + runs[0].worker_fee;
    for run in &runs {
        let rate = jobs as f64 / run.wall.as_secs_f64();
        let done = latencies(&run.times, &run.times.completed);
        let paid = latencies(&run.times, &run.times.settled);
        let lag = agreement_to_payment(&run.times);
        let fee = run.client_fee + run.worker_fee;
        let per_batch = if run.batches == 0 {
            String::new()
        } else {
            format!("{:.1}", run.entries as f64 / run.batches as f64)
        };
        let _ = writeln!(
            out,
            "| {} | {rate:.2} | {:.2}× | {} | {} | {} | {} | {} | {:.2} | {per_batch} | {fee:.4} ({:.1}× less) |",
            run.name,
            rate / base_rate,
            ms(pct(&done, 0.5)),
            ms(pct(&paid, 0.5)),
            ms(pct(&paid, 0.9)),
            ms(pct(&lag, 0.5)),
            ms(pct(&lag, 0.95)),
            run.txs as f64 / jobs as f64,
            escrow_fee / fee.max(1e-12),
        );
    }
    if let Some(millis) = capacity {
        let escrow_rate = jobs as f64 / runs[0].wall.as_secs_f64();
        let _ = writeln!(
            out,
            "\nThe chain's capacity for batched settlement: one `settle_batch` of 100 acceptances ({} jobs at k = {REDUNDANCY}) took {millis:.0} ms, \
             {:.1} jobs/s, against {escrow_rate:.2} jobs/s settled one escrow job per worker above.",
            100 / REDUNDANCY as usize,
            (100 / REDUNDANCY as usize) as f64 / (millis / 1e3)
        );
    }
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
}
