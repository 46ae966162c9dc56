//! Indexer figures, written to `target/ciro-bench/indexer.md` (or `$CIRO_BENCH_OUT`).
//!
//! - Ingest: events/s from an empty database to the chain head on a real devnet, against a
//!   baseline measured in the same run: the same fetcher reading the same ranges and
//!   decoding them, storing nothing.
//! - Queries: latency of `GET /v1/workers?capability=` under an open-loop load at a fixed
//!   rate (each request's latency counts from when it was due, so a stall is not hidden),
//!   against `GET /health` (no database) at the same rate.
//!
//! Run: `cargo bench -p ciro-indexer --bench indexer [--profile dev]`. `CIRO_BENCH_EVENTS`
//! (default 10000), `CIRO_BENCH_RATE` (2000) and `CIRO_BENCH_SECS` (10) change the sizes.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ciro_bindings::units::{capability, ONE};
use ciro_indexer::api::{router, AppState};
use ciro_indexer::config::Config;
use ciro_indexer::engine::{Engine, Step};
use ciro_indexer::fetch::Fetcher;
use ciro_indexer::metrics::{Metrics, Status};
use ciro_indexer::processors::INDEXED;
use ciro_indexer::Store;
use support::*;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fetcher(suite: &Suite) -> (Fetcher, u64) {
    let contracts = INDEXED
        .iter()
        .map(|c| (*c, suite.deployment.address(*c).unwrap()))
        .collect();
    (
        Fetcher::new(suite.chain.rpc().clone(), contracts, 1000, 8),
        suite.deployment.first_block(),
    )
}

/// Fetches and decodes every range to `head`; returns (events, seconds).
async fn fetch_only(suite: &Suite, head: u64, range: u64) -> (u64, f64) {
    let (f, first) = fetcher(suite);
    let started = Instant::now();
    let mut events = 0;
    let mut from = first;
    while from <= head {
        let to = head.min(from + range - 1);
        events += f.batch(from, to).await.unwrap().events.len() as u64;
        from = to + 1;
    }
    (events, started.elapsed().as_secs_f64())
}

/// Indexes from an empty database to `head`; returns (events, seconds).
async fn ingest(suite: &Suite, database: &str, range: u64) -> (u64, f64) {
    let store = Store::connect(database).await.unwrap();
    let (f, first) = fetcher(suite);
    let config = Config {
        range_blocks: range,
        ..Config::default()
    };
    let engine = Engine::new(
        store.clone(),
        f,
        config,
        first,
        Metrics::new(),
        Status::shared(),
    );
    let started = Instant::now();
    let mut events = 0;
    loop {
        match engine.step().await.unwrap() {
            Step::Indexed { events: n, .. } => events += n,
            Step::CaughtUp => break,
            Step::Reorg { .. } => panic!("no reorg expected"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    (events, secs)
}

/// The median of three runs of `run`, by time.
async fn median<F, Fut>(mut run: F) -> (u64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = (u64, f64)>,
{
    let mut runs = Vec::new();
    for i in 0..3 {
        runs.push(run(i).await);
    }
    runs.sort_by(|a, b| a.1.total_cmp(&b.1));
    runs[1]
}

/// Adds `n` workers cloned from the indexed one, with spread scores, each offering `wasm`
/// and one of eight other capabilities, through plain SQL on the indexer's own tables.
async fn seed_workers(database: &str, n: u64) {
    let store = Store::connect(database).await.unwrap();
    let pool = store.pool();
    let mut tx = pool.begin().await.unwrap();
    for i in 0..n {
        let address = format!("{:#066x}", 0x1000_0000u64 + i);
        let score = ((i * 7919) % 1_000_000) as i64;
        let caps = ["wasm".to_owned(), format!("gpu:{}", i % 8)];
        sqlx::query(
            "INSERT INTO workers (address, status, stake, locked, pending_unstake, unlock_at, \
             capabilities, jobs_assigned, jobs_completed, jobs_failed, disputes_won, disputes_lost, \
             slashes, total_earned, total_slashed, score_success, score_failure, score_at, score_ppm, \
             slashed_since_stake, first_block, last_block, updated_at) \
             VALUES ($1, 'active', $2, '0', '0', NULL, $3, 3, 2, 1, 0, 0, 0, '0', '0', 2.0, 3.0, 1, $4, 0, 1, 1, 1)",
        )
        .bind(&address)
        .bind((150 * ONE).to_string())
        .bind(serde_json::to_string(&caps).unwrap())
        .bind(score)
        .execute(&mut *tx)
        .await
        .unwrap();
        for c in &caps {
            sqlx::query(
                "INSERT INTO worker_capabilities (capability, worker, score_ppm, status) VALUES ($1, $2, $3, 'active')",
            )
            .bind(c)
            .bind(&address)
            .bind(score)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
    store.close().await;
}

struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    sent: usize,
    errors: usize,
    achieved_rate: f64,
}

/// Open-loop load: one request every 1/rate s for `secs`, latency measured from when each
/// request was due.
async fn load(url: String, rate: u64, secs: u64) -> Latency {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    // Warm the connection pool and the server.
    for _ in 0..200 {
        client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let total = (rate * secs) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due).await;
        let client = client.clone();
        let url = url.clone();
        tasks.spawn(async move {
            let ok = match client.get(&url).send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            (due.elapsed(), ok)
        });
    }
    let mut lat = Vec::with_capacity(total);
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (d, ok) = r.unwrap();
        if !ok {
            errors += 1;
        }
        lat.push(d.as_secs_f64() * 1e3);
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Latency {
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: *lat.last().unwrap(),
        sent: total,
        errors,
        achieved_rate: total as f64 / elapsed,
    }
}

/// Serves the API over `database` on its own runtime (its own threads), so the load
/// generator does not share a scheduler with the server.
fn serve(
    database: String,
) -> (
    std::net::SocketAddr,
    std::thread::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let store = Store::connect(&database).await.unwrap();
            // A healthy, synced indexer: /health answers 200.
            let status = Status::shared();
            let cursor = store.cursor().await.unwrap().map(|c| c.number);
            status.ok(cursor, cursor.unwrap_or(0));
            let app = router(AppState {
                store,
                metrics: Metrics::new(),
                status,
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
    });
    (addr_rx.recv().unwrap(), handle, stop_tx)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let target_events = env("CIRO_BENCH_EVENTS", 10_000);
    let rate = env("CIRO_BENCH_RATE", 2_000);
    let secs = env("CIRO_BENCH_SECS", 10);
    let per_tx = env("CIRO_BENCH_PER_TX", 250);
    let range = 200;

    let started = Instant::now();
    let suite = deploy_suite().await;
    suite.stake_worker().await;
    // Fill the chain: multicalls of `register`, one CapabilitiesRegistered event per call,
    // plus a few whole jobs.
    let caps = vec![capability("wasm").unwrap()];
    let register = suite.staking(&suite.worker).register_getcall(&caps);
    let mut sent = 0;
    while sent < target_events {
        let n = per_tx.min(target_events - sent);
        suite
            .send(&suite.worker, vec![register.clone(); n as usize])
            .await;
        sent += n;
    }
    for _ in 0..5 {
        let job = suite.assigned_job(3600).await;
        suite.submit(job).await;
        let accept = suite.escrow(&suite.client).accept_getcall(&job);
        suite.send(&suite.client, vec![accept]).await;
    }
    let head = head(&suite).await;
    let fill_secs = started.elapsed().as_secs_f64();
    eprintln!("chain filled to block {head} in {fill_secs:.0} s");

    let dir = tempfile::tempdir().unwrap();
    let fetch = median(|_| fetch_only(&suite, head, range)).await;
    let sqlite = median(|i| {
        let db = dir
            .path()
            .join(format!("ingest-{i}.db"))
            .display()
            .to_string();
        let suite = &suite;
        async move { ingest(suite, &db, range).await }
    })
    .await;
    let mut pg_urls = Vec::new();
    for _ in 0..3 {
        pg_urls.push(postgres("bench").await);
    }
    let postgres_run = median(|i| {
        let db = pg_urls[i].clone();
        let suite = &suite;
        async move { ingest(suite, &db, range).await }
    })
    .await;
    assert_eq!(fetch.0, sqlite.0, "ingest stored every fetched event");
    assert_eq!(fetch.0, postgres_run.0, "ingest stored every fetched event");

    // Queries, on 1,000 more workers than the chain has.
    let mut queries = Vec::new();
    for (label, db) in [
        (
            "SQLite",
            dir.path().join("ingest-0.db").display().to_string(),
        ),
        ("PostgreSQL", pg_urls[0].clone()),
    ] {
        seed_workers(&db, 1000).await;
        let (addr, handle, stop) = serve(db);
        let health = load(format!("http://{addr}/health"), rate, secs).await;
        let workers = load(
            format!("http://{addr}/v1/workers?capability=wasm&limit=20"),
            rate,
            secs,
        )
        .await;
        let filtered = load(
            format!("http://{addr}/v1/workers?capability=gpu:3&min_score=0.5&limit=20"),
            rate,
            secs,
        )
        .await;
        let _ = stop.send(());
        handle.join().unwrap();
        queries.push((label, health, workers, filtered));
    }

    let rate_of = |(events, secs): (u64, f64)| events as f64 / secs;
    let mut out = String::new();
    out += "# Indexer figures\n\n";
    out += &format!(
        "Build: {} (dev builds compile sqlx, SQLite and the indexer at opt-level 2). Devnet in process, same machine. Chain: {head} blocks, {} indexed events ({} `CapabilitiesRegistered` in multicalls of {per_tx}, the rest from staking and 5 whole jobs); filled in {fill_secs:.0} s. Each figure is the median of 3 runs.\n\n",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        fetch.0,
        sent,
    );
    out += "## Ingest (empty database to head, ranges of 200 blocks)\n\n";
    out +=
        "| run | events | seconds | events/s | time vs fetch-only |\n|---|---:|---:|---:|---:|\n";
    for (label, r) in [
        ("fetch and decode only (baseline)", fetch),
        ("ingest into SQLite (file, WAL)", sqlite),
        ("ingest into PostgreSQL (local)", postgres_run),
    ] {
        out += &format!(
            "| {label} | {} | {:.2} | {:.0} | {:.2}x |\n",
            r.0,
            r.1,
            rate_of(r),
            r.1 / fetch.1
        );
    }
    out += &format!(
        "\n## Queries ({rate} req/s open loop for {secs} s; 1,002 workers, 1,001 offering `wasm`)\n\n"
    );
    out += "| backend | route | p50 ms | p99 ms | max ms | p99 vs /health | sent | errors | achieved req/s |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (label, health, workers, filtered) in &queries {
        for (route, l) in [
            ("/health (baseline)", health),
            ("/v1/workers?capability=wasm&limit=20", workers),
            (
                "/v1/workers?capability=gpu:3&min_score=0.5&limit=20",
                filtered,
            ),
        ] {
            out += &format!(
                "| {label} | `{route}` | {:.2} | {:.2} | {:.1} | {:.1}x | {} | {} | {:.0} |\n",
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                l.p99_ms / health.p99_ms,
                l.sent,
                l.errors,
                l.achieved_rate
            );
        }
    }
    write_figures("indexer", &out);
}
