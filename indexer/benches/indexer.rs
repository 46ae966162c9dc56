//! Indexer figures, written to `target/ciro-bench/indexer.md` (or `$CIRO_BENCH_OUT`).
//!
//! - Ingest: events/s from an empty database to the chain head on a real devnet, against a
//!   baseline measured in the same run: the same fetcher reading the same ranges and
//!   decoding them, storing nothing.
//! - Queries: latency of `GET /v1/workers?capability=` (plain, with `min_score`, with a
//!   cursor half way down) under an open-loop load at a fixed rate (each request's latency
//!   counts from when it was due, so a stall is not hidden), against `GET /health` (no
//!   database) and against the same query answered from the database, at the same rate,
//!   at 1,000 and 100,000 workers on both backends; the server's memory.
//!
//! Run: `cargo bench -p ciro-indexer --bench indexer [--profile dev]`. `CIRO_BENCH_EVENTS`
//! (default 10000), `CIRO_BENCH_RATE` (2000), `CIRO_BENCH_SECS` (10) and
//! `CIRO_BENCH_WORKERS` (`1000,100000`) change the sizes.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use ciro_bindings::units::{capability, ONE};
use ciro_indexer::api::error::ApiError;
use ciro_indexer::api::{params, router, AppState, WorkerPage};
use ciro_indexer::config::Config;
use ciro_indexer::engine::{Engine, Step};
use ciro_indexer::fetch::Fetcher;
use ciro_indexer::metrics::{Metrics, Status};
use ciro_indexer::model::{Worker, WorkerStatus};
use ciro_indexer::processors::INDEXED;
use ciro_indexer::score::ScoreState;
use ciro_indexer::store::{WorkerFilter, WorkerView};
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

/// Adds workers `from..to` with spread scores, each offering `wasm` and one of eight
/// `gpu:<n>`, through the store's row writer ([`Store::import_workers`]): not through the
/// chain, which would take hours at 100,000.
async fn import_workers(database: &str, from: u64, to: u64) -> f64 {
    let started = Instant::now();
    let store = Store::connect(database).await.unwrap();
    let mut batch = Vec::new();
    for i in from..to {
        // Scores spread over 0.05..0.95, from decayed sums S + F = 20:
        // (S + 1) / (S + F + 2) = p when S = 22p - 1.
        let p = 0.05 + 0.9 * ((i * 7919) % 1_000_003) as f64 / 1_000_003.0;
        let (success, failure) = (22.0 * p - 1.0, 21.0 - 22.0 * p);
        let mut w = Worker {
            address: format!("{:#066x}", 0x1000_0000u64 + i),
            status: WorkerStatus::Active,
            stake: 150 * ONE,
            capabilities: vec!["wasm".to_owned(), format!("gpu:{}", i % 8)],
            jobs_assigned: 3,
            jobs_completed: 2,
            jobs_failed: 1,
            score_state: ScoreState {
                success,
                failure,
                at: Some(1),
            },
            first_block: 1,
            last_block: 1,
            updated_at: 1,
            ..Worker::default()
        };
        w.refresh();
        batch.push(w);
    }
    store.import_workers(&batch).await.unwrap();
    store.close().await;
    started.elapsed().as_secs_f64()
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
        .timeout(Duration::from_secs(30))
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

/// The server: the indexer's API over `database`, with `/baseline/v1/workers`, the same
/// query answered from the database as the API did before the view (the previous handler,
/// `Store::workers`), for a before/after in one run. Runs in a child process (this binary
/// again, `CIRO_BENCH_SERVE=<database>`), so its memory is its own and the load generator
/// does not share its scheduler. Prints `addr=<address>` and serves until stdin closes.
async fn serve_child(database: String) {
    async fn from_database(
        State(store): State<Store>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Result<Json<WorkerPage>, ApiError> {
        let filter = params::worker_filter(&q)?;
        let page = store.workers(&filter).await?;
        Ok(Json(WorkerPage {
            items: page.items,
            next_cursor: page.next,
        }))
    }
    let store = Store::connect(&database).await.unwrap();
    // A healthy, synced indexer: /health answers 200. Its engine would report a step
    // every poll (1 s); so does this.
    let status = Status::shared();
    let cursor = store.cursor().await.unwrap().map(|c| c.number);
    status.ok(cursor, cursor.unwrap_or(0));
    {
        let status = status.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                status.ok(cursor, cursor.unwrap_or(0));
            }
        });
    }
    let baseline = Router::new()
        .route("/baseline/v1/workers", get(from_database))
        .with_state(store.clone());
    let app = router(AppState {
        store,
        metrics: Metrics::new(),
        status,
    })
    .merge(baseline);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("addr={}", listener.local_addr().unwrap());
    // Stdin closes when the bench drops the child's handle.
    let (closed_tx, closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        let _ = closed_tx.send(());
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = closed.await;
        })
        .await
        .unwrap();
}

/// The server process, and its address.
struct Server {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Server {
    fn start(database: &str) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .env("CIRO_BENCH_SERVE", database)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("addr=")
            .unwrap_or_else(|| panic!("server said {line:?}"))
            .parse()
            .unwrap();
        Self { child, addr }
    }

    /// (resident, peak resident) memory in MiB, from /proc.
    fn memory_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        self.child.wait().unwrap();
    }
}

/// A cursor about half way down `/v1/workers?capability=wasm`, walked page by page.
async fn middle_cursor(addr: std::net::SocketAddr, workers: u64) -> String {
    let http = reqwest::Client::new();
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    while seen < workers / 2 {
        let mut url = format!("http://{addr}/v1/workers?capability=wasm&limit=500");
        if let Some(c) = &cursor {
            url += &format!("&cursor={c}");
        }
        let page: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
        seen += page["items"].as_array().unwrap().len() as u64;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    cursor.expect("more than one page")
}

/// One request's own cost, in process and one at a time (no HTTP, no queueing): the
/// capability query from the database and from the view, in microseconds, the median of
/// 200.
async fn service_times(database: &str) -> (f64, f64) {
    let store = Store::connect(database).await.unwrap();
    let f = WorkerFilter {
        capability: Some("wasm".into()),
        limit: 20,
        ..WorkerFilter::default()
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut db, mut view) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let started = Instant::now();
        let a = store.workers(&f).await.unwrap();
        db.push(started.elapsed().as_secs_f64() * 1e6);
        let started = Instant::now();
        let b = store.view().page(&f);
        view.push(started.elapsed().as_secs_f64() * 1e6);
        assert_eq!(a, b, "the view answers what the database does");
    }
    store.close().await;
    (median(db), median(view))
}

/// What a worker view of `n` workers costs to move forward by one block that changed one
/// worker: (build from scratch ms, advance ms), each the median of 5.
fn view_costs(n: u64) -> (f64, f64) {
    let workers: Vec<Worker> = (0..n)
        .map(|i| {
            let mut w = Worker {
                address: format!("{:#066x}", 0x1000_0000u64 + i),
                capabilities: vec!["wasm".to_owned(), format!("gpu:{}", i % 8)],
                stake: ONE,
                ..Worker::default()
            };
            w.score_ppm = ((i * 7919) % 1_000_001) as i64;
            w
        })
        .collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut builds = Vec::new();
    let mut view = WorkerView::default();
    for _ in 0..5 {
        let started = Instant::now();
        view = WorkerView::build(None, 0, workers.clone());
        builds.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let mut advances = Vec::new();
    for k in 0..5u64 {
        let mut changed = workers[(k * 997) as usize % workers.len()].clone();
        changed.score_ppm = 999_999 - k as i64;
        let started = Instant::now();
        let next = view.advance(None, vec![changed]);
        advances.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(next.len(), view.len());
    }
    (median(builds), median(advances))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    if let Ok(database) = std::env::var("CIRO_BENCH_SERVE") {
        return serve_child(database).await;
    }
    let sizes: Vec<u64> = std::env::var("CIRO_BENCH_WORKERS")
        .unwrap_or_else(|_| "1000,100000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("CIRO_BENCH_WORKERS: numbers"))
        .collect();
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

    // Queries, at 1,000 and then 100,000 more workers than the chain has, on the
    // databases the first ingest run built.
    let databases = [
        (
            "SQLite",
            dir.path().join("ingest-0.db").display().to_string(),
        ),
        ("PostgreSQL", pg_urls[0].clone()),
    ];
    let mut queries = Vec::new();
    let mut fills = Vec::new();
    let mut done = 0;
    for &size in &sizes {
        for (label, db) in &databases {
            let fill = import_workers(db, done, size).await;
            fills.push((*label, size, fill, service_times(db).await));
            let server = Server::start(db);
            let addr = server.addr;
            let cursor = middle_cursor(addr, size).await;
            let mut rows = Vec::new();
            let routes = [
                ("/health".to_owned(), "`/health` (baseline)"),
                (
                    "/baseline/v1/workers?capability=wasm&limit=20".to_owned(),
                    "`capability=wasm&limit=20` from the database (before)",
                ),
                (
                    "/v1/workers?capability=wasm&limit=20".to_owned(),
                    "`capability=wasm&limit=20`",
                ),
                (
                    "/v1/workers?capability=gpu:3&min_score=0.5&limit=20".to_owned(),
                    "`capability=gpu:3&min_score=0.5&limit=20`",
                ),
                (
                    format!("/v1/workers?capability=wasm&limit=20&cursor={cursor}"),
                    "`capability=wasm&limit=20&cursor=<half way>`",
                ),
            ];
            // Three rounds over the view's routes and /health, interleaved, so a passing
            // disturbance of the machine lands on different routes in different rounds;
            // each route's row is its run with the median p99. The database path comes
            // last, once: it falls behind at this rate, and the thousands of connections
            // its backlog opens would disturb whatever ran next.
            let (before, routes): (Vec<_>, Vec<_>) = routes
                .into_iter()
                .partition(|(path, _)| path.starts_with("/baseline"));
            let mut runs: Vec<Vec<Latency>> = routes.iter().map(|_| Vec::new()).collect();
            for round in 0..3 {
                for ((path, name), runs) in routes.iter().zip(&mut runs) {
                    let l = load(format!("http://{addr}{path}"), rate, secs).await;
                    // Let the run's connections close before the next one starts.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    eprintln!(
                        "{label} {size} round {round}: {name}: p50 {:.2} ms, p99 {:.2} ms, {} errors",
                        l.p50_ms, l.p99_ms, l.errors
                    );
                    runs.push(l);
                }
            }
            for ((_, name), mut runs) in routes.into_iter().zip(runs) {
                runs.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
                rows.push((name, runs.swap_remove(1)));
            }
            let memory = server.memory_mib();
            for (path, name) in before {
                let l = load(format!("http://{addr}{path}"), rate, secs).await;
                eprintln!(
                    "{label} {size}: {name}: p50 {:.2} ms, p99 {:.2} ms, {} errors",
                    l.p50_ms, l.p99_ms, l.errors
                );
                rows.push((name, l));
            }
            server.stop();
            queries.push((*label, size, memory, rows));
        }
        done = size;
    }
    let views: Vec<(u64, (f64, f64))> = sizes.iter().map(|&n| (n, view_costs(n))).collect();

    let rate_of = |(events, secs): (u64, f64)| events as f64 / secs;
    let mut out = String::new();
    out += "# Indexer figures\n\n";
    out += &format!(
        "Build: {} (dev builds compile sqlx, SQLite, the indexer and the HTTP stack, tokio, hyper, axum and reqwest, at opt-level 2). Devnet in process, same machine. Chain: {head} blocks, {} indexed events ({} `CapabilitiesRegistered` in multicalls of {per_tx}, the rest from staking and 5 whole jobs); filled in {fill_secs:.0} s. Each figure is the median of 3 runs.\n\n",
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
        "\n## Queries ({rate} req/s open loop for {secs} s, each latency counted from when the request was due; of 3 interleaved runs per route, the one with the median p99; the database path once, last)\n\n\
         The API answers `/v1/workers` from the worker view in memory (one block's workers, swapped after each committed batch). \
         The `(before)` row is the same query answered from the database, as the API did before the view, served by the same process in the same run. \
         Workers beyond the chain's 2 were written through the store's row writer (`Store::import_workers`), not through the chain; each offers `wasm` and one of `gpu:0`..`gpu:7`, with scores spread over 0.05..0.95. \
         Memory is the server process's resident set after the view's routes were loaded (peak in brackets), before the database path ran.\n\n"
    );
    out += "| backend | workers | route | p50 ms | p99 ms | max ms | p99 vs /health | sent | errors | achieved req/s |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (label, size, _, rows) in &queries {
        let health = rows[0].1.p99_ms;
        for (name, l) in rows {
            out += &format!(
                "| {label} | {} | {name} | {:.2} | {:.2} | {:.1} | {:.1}x | {} | {} | {:.0} |\n",
                size + 2,
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                l.p99_ms / health,
                l.sent,
                l.errors,
                l.achieved_rate
            );
        }
    }
    out += "\n## One request's own cost, memory and fill\n\nThe capability query (`wasm`, 20 rows) in process, one at a time, without HTTP: from the database (`Store::workers`: SQL, the driver, row decoding) and from the view; the median of 200.\n\n| backend | workers | database µs | view µs | server RSS MiB (peak) | fill through the store s |\n|---|---:|---:|---:|---:|---:|\n";
    for ((label, size, (rss, peak), _), (_, _, fill, (db_us, view_us))) in
        queries.iter().zip(&fills)
    {
        out += &format!(
            "| {label} | {} | {db_us:.0} | {view_us:.1} | {rss:.0} ({peak:.0}) | {fill:.1} |\n",
            size + 2
        );
    }
    out += "\n## The view's own cost (in process, median of 5)\n\n| workers | build from scratch ms | advance by a block that changed one worker ms |\n|---:|---:|---:|\n";
    for (n, (build, advance)) in &views {
        out += &format!("| {n} | {build:.1} | {advance:.2} |\n");
    }
    write_figures("indexer", &out);
}
