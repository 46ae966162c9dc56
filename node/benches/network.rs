//! The P2P network's figures against a minimal centralized HTTP coordinator (the seed's
//! "current architecture"), both driven with the same jobs in the same run:
//! announcement latency, discovery time, throughput, gossip overhead, memory per node and
//! CPU time per delivered message.
//!
//! `cargo bench -p ciro-node --bench network` writes `target/ciro-bench/network.md`.
//! Every node runs in this one process on libp2p's memory transport (real Noise, Yamux,
//! gossipsub, Kademlia and request-response; no sockets), the coordinator on loopback TCP.
//! `CIRO_BENCH_QUICK=1` runs smaller networks, for a quick look.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    collections::HashMap,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    extract::{Query, State},
    routing::{get, post},
    Json, Router,
};
use ciro_node::{
    network::{NetworkSettings, WireCounter},
    node::NodeEvent,
    protocol::{self, Gossip, Hash, JobAnnouncement, Limits},
    sandbox::{workloads, Sandbox},
    JobRequest, NodeConfig, NodeHandle,
};
use common::{memory, start};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

// ----- measurement helpers ---------------------------------------------------------

/// This process's CPU time (user + system).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// This process's resident memory.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split(' ').nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return f64::NAN;
    }
    values[((values.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn write_figures(text: &str) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ciro-bench/network.md");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    print!("{text}");
    println!("\nwritten to {}", path.display());
}

// ----- the centralized baseline ----------------------------------------------------

/// The coordinator: workers register, long-poll for announcements and work, and post
/// results; clients post jobs. All state in one process behind one lock.
#[derive(Default)]
struct Coordinator {
    announcements: Mutex<Vec<(u64, Vec<u8>)>>,
    announced: tokio::sync::Notify,
    queue: Mutex<std::collections::VecDeque<(u64, Vec<u8>)>>,
    queued: tokio::sync::Notify,
    done: AtomicUsize,
    workers: Mutex<Vec<(String, String)>>,
    next: AtomicU64,
}

#[derive(Deserialize)]
struct After {
    after: u64,
}

#[derive(Deserialize)]
struct Capability {
    capability: String,
}

fn coordinator_routes(state: Arc<Coordinator>) -> Router {
    async fn announce(State(c): State<Arc<Coordinator>>, body: axum::body::Bytes) -> Json<u64> {
        let seq = c.next.fetch_add(1, Ordering::SeqCst) + 1;
        c.announcements.lock().unwrap().push((seq, body.to_vec()));
        c.announced.notify_waiters();
        Json(seq)
    }
    async fn next(
        State(c): State<Arc<Coordinator>>,
        Query(q): Query<After>,
    ) -> Json<serde_json::Value> {
        loop {
            let waiting = c.announced.notified();
            let fresh: Vec<_> = c
                .announcements
                .lock()
                .unwrap()
                .iter()
                .filter(|(seq, _)| *seq > q.after)
                .map(|(seq, body)| json!({"seq": seq, "body": hex::encode(body)}))
                .collect();
            if !fresh.is_empty() {
                return Json(json!(fresh));
            }
            waiting.await;
        }
    }
    async fn submit(State(c): State<Arc<Coordinator>>, body: axum::body::Bytes) -> Json<u64> {
        let seq = c.next.fetch_add(1, Ordering::SeqCst) + 1;
        c.queue.lock().unwrap().push_back((seq, body.to_vec()));
        c.queued.notify_one();
        Json(seq)
    }
    async fn work(State(c): State<Arc<Coordinator>>) -> axum::body::Bytes {
        loop {
            let waiting = c.queued.notified();
            if let Some((seq, body)) = c.queue.lock().unwrap().pop_front() {
                return [seq.to_be_bytes().to_vec(), body].concat().into();
            }
            waiting.await;
        }
    }
    async fn result(State(c): State<Arc<Coordinator>>, _body: axum::body::Bytes) -> Json<bool> {
        c.done.fetch_add(1, Ordering::SeqCst);
        Json(true)
    }
    async fn register(
        State(c): State<Arc<Coordinator>>,
        Json(w): Json<(String, String)>,
    ) -> Json<bool> {
        c.workers.lock().unwrap().push(w);
        Json(true)
    }
    async fn workers(
        State(c): State<Arc<Coordinator>>,
        Query(q): Query<Capability>,
    ) -> Json<Vec<String>> {
        Json(
            c.workers
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, cap)| *cap == q.capability)
                .map(|(w, _)| w.clone())
                .collect(),
        )
    }
    Router::new()
        .route("/announce", post(announce))
        .route("/next", get(next))
        .route("/jobs", post(submit))
        .route("/work", get(work))
        .route("/result", post(result))
        .route("/register", post(register))
        .route("/workers", get(workers))
        .with_state(state)
}

/// A TCP listener whose connections count every byte the server reads or writes.
struct CountingListener {
    inner: tokio::net::TcpListener,
    bytes: Arc<AtomicU64>,
}

struct CountedTcp {
    inner: tokio::net::TcpStream,
    bytes: Arc<AtomicU64>,
}

impl AsyncRead for CountedTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.bytes.fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for CountedTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.bytes.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl axum::serve::Listener for CountingListener {
    type Io = CountedTcp;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CountedTcp, SocketAddr) {
        loop {
            if let Ok((inner, addr)) = self.inner.accept().await {
                let _ = inner.set_nodelay(true);
                return (
                    CountedTcp {
                        inner,
                        bytes: self.bytes.clone(),
                    },
                    addr,
                );
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

struct Served {
    url: String,
    state: Arc<Coordinator>,
    bytes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_coordinator() -> Served {
    let state = Arc::new(Coordinator::default());
    let bytes = Arc::new(AtomicU64::new(0));
    let listener = CountingListener {
        inner: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        bytes: bytes.clone(),
    };
    let url = format!(
        "http://{}",
        axum::serve::Listener::local_addr(&listener).unwrap()
    );
    let app = coordinator_routes(state.clone());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Served {
        url,
        state,
        bytes,
        task,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap()
}

// ----- announcement latency, overhead, memory and CPU ------------------------------

struct Spread {
    p50: f64,
    p99: f64,
    all_p50: f64,
    all_p99: f64,
    coverage: f64,
    bytes_per_announcement: f64,
    payload: usize,
    receivers: usize,
    memory_per_node: f64,
    cpu_per_delivery_us: f64,
}

impl Spread {
    fn overhead(&self) -> f64 {
        self.bytes_per_announcement / (self.payload as f64 * self.receivers as f64)
    }
}

const ANNOUNCEMENTS: usize = 20;
const SPACING: Duration = Duration::from_millis(250);

fn summarize(latencies: &HashMap<u64, Vec<f64>>, receivers: usize) -> (f64, f64, f64, f64, f64) {
    let mut all: Vec<f64> = latencies.values().flatten().copied().collect();
    let mut worst: Vec<f64> = latencies
        .values()
        .map(|l| l.iter().copied().fold(0.0, f64::max))
        .collect();
    let coverage = all.len() as f64 / (ANNOUNCEMENTS * receivers) as f64;
    (
        percentile(&mut all, 0.5),
        percentile(&mut all, 0.99),
        percentile(&mut worst, 0.5),
        percentile(&mut worst, 0.99),
        coverage,
    )
}

/// A job no worker bids for (its reward is below every worker's price), so the only
/// traffic it causes is its announcement.
fn quiet_job(n: u64) -> JobRequest {
    JobRequest {
        module: workloads::compile(workloads::HASH_CHAIN),
        input: n.to_le_bytes().to_vec(),
        capability: "wasm".into(),
        redundancy: 1,
        reward: 0,
        limits: Limits::default(),
        // Over before a bidless job is announced again (three 150 ms bid windows), so
        // each is announced once.
        deadline: Duration::from_millis(400),
    }
}

fn node_config(bootstrap: &[libp2p::Multiaddr], caps: &[&str], wire: &WireCounter) -> NodeConfig {
    NodeConfig {
        min_price: 1,
        network: NetworkSettings {
            wire: wire.clone(),
            ..NetworkSettings::default()
        },
        health_interval: Duration::from_secs(3600),
        ..common::config(memory(), bootstrap, caps)
    }
}

async fn p2p_announcements(nodes: usize) -> Spread {
    let wire = WireCounter::default();
    let rss_before = rss();
    let boot = start(node_config(&[], &[], &wire)).await;
    let mut workers = Vec::new();
    for _ in 0..nodes - 2 {
        workers.push(start(node_config(&boot.addrs(), &["wasm"], &wire)).await);
    }
    let client = start(node_config(&boot.addrs(), &[], &wire)).await;
    let receivers = workers.len();

    // Record when each worker hears each announcement.
    let heard: Arc<Mutex<Vec<(Hash, Instant)>>> = Arc::default();
    for w in &workers {
        let mut events = w.shared.subscribe();
        let heard = heard.clone();
        tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            while let Ok(event) = events.recv().await {
                if let NodeEvent::Heard { job, at } = event {
                    if seen.insert(job) {
                        heard.lock().unwrap().push((job, at));
                    }
                }
            }
        });
    }
    // Let the mesh form, with two unmeasured announcements to find the workers.
    for n in 0..2 {
        client
            .shared
            .submit(quiet_job(1_000_000 + n))
            .await
            .unwrap();
    }
    // Past the provider records' rounds (2 s and 10 s after joining), and long enough for
    // every node's DHT bootstrap to settle: the nodes share this process's 2 cores.
    tokio::time::sleep(Duration::from_secs(15) + Duration::from_millis(250) * nodes as u32).await;
    let memory_per_node = (rss() - rss_before) as f64 / nodes as f64;

    // Idle: background traffic (pings every 15 s, heartbeats) as a rate over 30 s,
    // scaled to the announcement phase.
    let phase = SPACING * ANNOUNCEMENTS as u32 + Duration::from_secs(1);
    let idle_window = Duration::from_secs(30);
    let (bytes0, cpu0) = (wire.bytes(), cpu());
    tokio::time::sleep(idle_window).await;
    let scale = phase.as_secs_f64() / idle_window.as_secs_f64();
    let idle_bytes = ((wire.bytes() - bytes0) as f64 * scale) as u64;
    let idle_cpu = (cpu() - cpu0).mul_f64(scale);
    heard.lock().unwrap().clear();
    let mut published = HashMap::new();
    let mut client_events = client.shared.subscribe();
    let (bytes1, cpu1) = (wire.bytes(), cpu());
    let started = Instant::now();
    let mut payload = 0;
    for n in 0..ANNOUNCEMENTS as u64 {
        let id = client.shared.submit(quiet_job(n)).await.unwrap();
        let job = client.shared.job(&id).await.unwrap();
        payload = protocol::seal(
            &libp2p::identity::Keypair::generate_ed25519(),
            &Gossip::Job(JobAnnouncement {
                job_id: id,
                spec_hash: job.spec_hash,
                capability: job.capability.clone(),
                reward: job.reward,
                deadline_ms: job.deadline_ms,
                redundancy: job.redundancy,
                limits: job.limits,
                addrs: protocol::addrs_to_wire(&client.addrs()),
                round: 0,
            }),
        )
        .len();
        published.insert(id, n);
        tokio::time::sleep_until((started + SPACING * (n as u32 + 1)).into()).await;
    }
    tokio::time::sleep_until((started + phase).into()).await;
    let (bytes, cpu_used) = (wire.bytes() - bytes1, cpu() - cpu1);
    println!(
        "  {nodes} nodes: {bytes} bytes with announcements, {idle_bytes} idle; cpu {cpu_used:?} vs {idle_cpu:?} idle"
    );

    let mut announced = HashMap::new();
    while let Ok(event) = client_events.try_recv() {
        if let NodeEvent::Announced { job, at } = event {
            announced.entry(job).or_insert(at);
        }
    }
    let mut latencies: HashMap<u64, Vec<f64>> = HashMap::new();
    for (job, at) in heard.lock().unwrap().iter() {
        if let (Some(n), Some(sent)) = (published.get(job), announced.get(job)) {
            latencies
                .entry(*n)
                .or_default()
                .push(ms(at.duration_since(*sent)));
        }
    }
    for (n, l) in &latencies {
        assert!(
            l.len() <= receivers,
            "announcement {n} heard {} times",
            l.len()
        );
    }
    let (p50, p99, all_p50, all_p99, coverage) = summarize(&latencies, receivers);
    let deliveries = latencies.values().map(Vec::len).sum::<usize>().max(1);
    drop((boot, workers, client));
    tokio::time::sleep(Duration::from_millis(500)).await;
    Spread {
        p50,
        p99,
        all_p50,
        all_p99,
        coverage,
        bytes_per_announcement: bytes.saturating_sub(idle_bytes) as f64 / ANNOUNCEMENTS as f64,
        payload,
        receivers,
        memory_per_node,
        cpu_per_delivery_us: cpu_used.saturating_sub(idle_cpu).as_secs_f64() * 1e6
            / deliveries as f64,
    }
}

async fn central_announcements(nodes: usize) -> Spread {
    let rss_before = rss();
    let served = serve_coordinator().await;
    let receivers = nodes - 2;
    let heard: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..receivers {
        let (url, heard) = (served.url.clone(), heard.clone());
        tasks.push(tokio::spawn(async move {
            let client = http();
            let mut after = 0;
            loop {
                let Ok(response) = client.get(format!("{url}/next?after={after}")).send().await
                else {
                    return;
                };
                let items: Vec<serde_json::Value> = response.json().await.unwrap();
                let at = Instant::now();
                for item in items {
                    let seq = item["seq"].as_u64().unwrap();
                    heard.lock().unwrap().push((seq, at));
                    after = after.max(seq);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let memory_per_node = (rss() - rss_before) as f64 / nodes as f64;
    let phase = SPACING * ANNOUNCEMENTS as u32 + Duration::from_secs(1);
    let (cpu0, bytes0) = (cpu(), served.bytes.load(Ordering::Relaxed));
    tokio::time::sleep(phase).await;
    let (idle_cpu, idle_bytes) = (cpu() - cpu0, served.bytes.load(Ordering::Relaxed) - bytes0);

    let client = http();
    let body = protocol::seal(
        &libp2p::identity::Keypair::generate_ed25519(),
        &Gossip::Job(JobAnnouncement {
            job_id: Hash::of(b"x"),
            spec_hash: Hash::of(b"y"),
            capability: "wasm".into(),
            reward: 0,
            deadline_ms: 0,
            redundancy: 1,
            limits: Limits::default(),
            addrs: protocol::addrs_to_wire(&["/ip4/127.0.0.1/tcp/4001".parse().unwrap()]),
            round: 0,
        }),
    );
    let mut sent = HashMap::new();
    let (cpu1, bytes1) = (cpu(), served.bytes.load(Ordering::Relaxed));
    let started = Instant::now();
    for n in 0..ANNOUNCEMENTS {
        let at = Instant::now();
        let seq: u64 = client
            .post(format!("{}/announce", served.url))
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sent.insert(seq, at);
        tokio::time::sleep_until((started + SPACING * (n as u32 + 1)).into()).await;
    }
    tokio::time::sleep_until((started + phase).into()).await;
    let (cpu_used, bytes) = (cpu() - cpu1, served.bytes.load(Ordering::Relaxed) - bytes1);
    let mut latencies: HashMap<u64, Vec<f64>> = HashMap::new();
    for (seq, at) in heard.lock().unwrap().iter() {
        if let Some(t) = sent.get(seq) {
            latencies
                .entry(*seq)
                .or_default()
                .push(ms(at.duration_since(*t)));
        }
    }
    let (p50, p99, all_p50, all_p99, coverage) = summarize(&latencies, receivers);
    let deliveries = latencies.values().map(Vec::len).sum::<usize>().max(1);
    for t in tasks {
        t.abort();
    }
    Spread {
        p50,
        p99,
        all_p50,
        all_p99,
        coverage,
        bytes_per_announcement: bytes.saturating_sub(idle_bytes) as f64 / ANNOUNCEMENTS as f64,
        payload: body.len(),
        receivers,
        memory_per_node,
        cpu_per_delivery_us: cpu_used.saturating_sub(idle_cpu).as_secs_f64() * 1e6
            / deliveries as f64,
    }
}

// ----- discovery ----------------------------------------------------------------------

const PROVIDERS: usize = 64;

/// Time for fresh clients to find 20 and 60 of the 64 providers of `gpu` in the DHT.
async fn p2p_discovery() -> (Vec<f64>, Vec<f64>) {
    let wire = WireCounter::default();
    let boot = start(node_config(&[], &[], &wire)).await;
    let mut workers = Vec::new();
    for _ in 0..PROVIDERS {
        workers.push(start(node_config(&boot.addrs(), &["gpu"], &wire)).await);
    }
    // Provider records go out when each worker joins, and again 2 s and 10 s later.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let (mut twenty, mut sixty) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let client = start(node_config(&boot.addrs(), &[], &wire)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let found = client.shared.find_workers("gpu", 20).await;
        assert!(found.len() >= 20, "found {}", found.len());
        twenty.push(ms(started.elapsed()));
        drop(client);
        let client = start(node_config(&boot.addrs(), &[], &wire)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let found = client.shared.find_workers("gpu", 60).await;
        assert!(found.len() >= 60, "found {}", found.len());
        sixty.push(ms(started.elapsed()));
    }
    drop((boot, workers));
    tokio::time::sleep(Duration::from_millis(500)).await;
    (twenty, sixty)
}

async fn central_discovery() -> Vec<f64> {
    let served = serve_coordinator().await;
    let client = http();
    for n in 0..PROVIDERS {
        client
            .post(format!("{}/register", served.url))
            .json(&(format!("worker-{n}"), "gpu"))
            .send()
            .await
            .unwrap();
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        let fresh = http();
        let started = Instant::now();
        let found: Vec<String> = fresh
            .get(format!("{}/workers?capability=gpu", served.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(found.len(), PROVIDERS);
        times.push(ms(started.elapsed()));
    }
    times
}

// ----- throughput -----------------------------------------------------------------------

const CLIENTS: usize = 4;
/// Tenths of a bid per job in the last P2P throughput run, for the report.
static BIDS_PER_JOB: AtomicU64 = AtomicU64::new(0);

fn trivial(n: u64) -> JobRequest {
    JobRequest {
        module: workloads::compile(workloads::HASH_CHAIN),
        input: [100u32.to_le_bytes().to_vec(), n.to_le_bytes().to_vec()].concat(),
        capability: "wasm".into(),
        redundancy: 1,
        reward: 10,
        limits: Limits::default(),
        deadline: Duration::from_secs(120),
    }
}

async fn p2p_throughput(nodes: usize, jobs: usize) -> (f64, usize, f64) {
    let wire = WireCounter::default();
    let boot = start(common::config(memory(), &[], &[])).await;
    let mut workers = Vec::new();
    for _ in 0..nodes - 1 - CLIENTS {
        workers.push(start(common::config(memory(), &boot.addrs(), &["wasm"])).await);
    }
    let mut clients: Vec<NodeHandle> = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(
            start(NodeConfig {
                network: NetworkSettings {
                    wire: wire.clone(),
                    ..NetworkSettings::default()
                },
                ..common::config(memory(), &boot.addrs(), &[])
            })
            .await,
        );
    }
    for c in &clients {
        common::discover(c, "wasm", 8).await;
    }
    // Let every node's DHT bootstrap settle, as in the announcement runs.
    tokio::time::sleep(Duration::from_secs(15) + Duration::from_millis(250) * nodes as u32).await;
    let cpu0 = cpu();
    let started = Instant::now();
    let mut ids = Vec::new();
    for n in 0..jobs {
        let client = &clients[n % CLIENTS];
        ids.push((
            n % CLIENTS,
            client.shared.submit(trivial(n as u64)).await.unwrap(),
        ));
    }
    let (mut completed, mut bids) = (0, 0);
    for (c, id) in &ids {
        let job = common::settled(&clients[*c], id).await;
        bids += job.bids.len();
        if job.status == ciro_node::job::JobStatus::Completed {
            completed += 1;
        }
    }
    let rate = jobs as f64 / started.elapsed().as_secs_f64();
    let cpu_per_job = (cpu() - cpu0).as_secs_f64() * 1e6 / jobs as f64;
    println!("  {:.1} bids per job", bids as f64 / jobs as f64);
    BIDS_PER_JOB.store((bids * 10 / jobs) as u64, Ordering::Relaxed);
    drop((boot, workers, clients));
    tokio::time::sleep(Duration::from_millis(500)).await;
    (rate, completed, cpu_per_job)
}

async fn central_throughput(nodes: usize, jobs: usize) -> (f64, usize, f64) {
    let served = serve_coordinator().await;
    let module = Arc::new(workloads::compile(workloads::HASH_CHAIN));
    let mut tasks = Vec::new();
    for _ in 0..nodes - 1 - CLIENTS {
        let (url, module) = (served.url.clone(), module.clone());
        tasks.push(tokio::spawn(async move {
            let client = http();
            let sandbox = Sandbox::new().unwrap();
            loop {
                let Ok(response) = client.get(format!("{url}/work")).send().await else {
                    return;
                };
                let body = response.bytes().await.unwrap();
                let (seq, input) = body.split_at(8);
                let (sandbox2, module2, input) = (sandbox.clone(), module.clone(), input.to_vec());
                let output = tokio::task::spawn_blocking(move || {
                    sandbox2
                        .run(&module2, &input, &Limits::default())
                        .unwrap()
                        .output
                })
                .await
                .unwrap();
                client
                    .post(format!("{url}/result"))
                    .body([seq.to_vec(), output].concat())
                    .send()
                    .await
                    .unwrap();
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu0 = cpu();
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS).map(|_| http()).collect();
    for n in 0..jobs {
        let input = trivial(n as u64).input;
        clients[n % CLIENTS]
            .post(format!("{}/jobs", served.url))
            .body(input)
            .send()
            .await
            .unwrap();
    }
    while served.state.done.load(Ordering::SeqCst) < jobs {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = jobs as f64 / started.elapsed().as_secs_f64();
    let cpu_per_job = (cpu() - cpu0).as_secs_f64() * 1e6 / jobs as f64;
    for t in tasks {
        t.abort();
    }
    (rate, served.state.done.load(Ordering::SeqCst), cpu_per_job)
}

// ----- the report -------------------------------------------------------------------------

fn main() {
    let quick = std::env::var_os("CIRO_BENCH_QUICK").is_some();
    // `CIRO_BENCH_ONLY=throughput` (or announcements, discovery) runs one part, for profiling.
    let only = std::env::var("CIRO_BENCH_ONLY").ok();
    let part = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sizes: &[usize] = if quick { &[20, 50] } else { &[50, 200] };
    let (throughput_nodes, jobs) = if quick { (20, 100) } else { (50, 400) };
    runtime.block_on(async {
        let mut out = String::new();
        out.push_str(&format!(
            "# Network figures\n\nOne process, 2 cores, {} build; nodes on libp2p's memory transport \
             (Noise, Yamux, gossipsub, Kademlia, request-response), the coordinator on loopback TCP.\n\n",
            if cfg!(debug_assertions) { "debug" } else { "release" }
        ));
        let mut spreads = Vec::new();
        for &n in sizes.iter().filter(|_| part("announcements")) {
            println!("announcements at {n} nodes...");
            let p2p = p2p_announcements(n).await;
            let central = central_announcements(n).await;
            spreads.push((n, p2p, central));
        }
        out.push_str("## Announcement latency to all eligible workers\n\n");
        out.push_str(&format!(
            "{ANNOUNCEMENTS} announcements {} ms apart; every worker is eligible. \"Per delivery\" is each worker's latency; \"to all\" is each announcement's slowest worker.\n\n",
            SPACING.as_millis()
        ));
        out.push_str("| nodes | system | per delivery p50 | p99 | to all p50 | to all p99 | delivered | p99 to all vs coordinator |\n|---:|---|---:|---:|---:|---:|---:|---:|\n");
        for (n, p2p, central) in &spreads {
            for (name, s) in [("P2P gossip", p2p), ("HTTP coordinator", central)] {
                out.push_str(&format!(
                    "| {n} | {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1}% | {:.2}× |\n",
                    s.p50, s.p99, s.all_p50, s.all_p99, s.coverage * 100.0, s.all_p99 / central.all_p99
                ));
            }
        }
        out.push_str("\n## Gossip overhead, memory and CPU\n\nBytes on the wire during the announcements, less the same period's idle traffic; \
             divided by the signed payload times the receivers. Memory is the process's resident growth divided by the nodes \
             (for the coordinator: by its connected workers). CPU is the process's time over the same window, less idle, per delivery.\n\n");
        out.push_str("| nodes | system | bytes per announcement | payload × receivers | overhead | memory per node | CPU per delivery |\n|---:|---|---:|---:|---:|---:|---:|\n");
        for (n, p2p, central) in &spreads {
            for (name, s) in [("P2P gossip", p2p), ("HTTP coordinator", central)] {
                out.push_str(&format!(
                    "| {n} | {name} | {:.0} | {} × {} | {:.2}× | {:.1} MiB | {:.0} µs |\n",
                    s.bytes_per_announcement,
                    s.payload,
                    s.receivers,
                    s.overhead(),
                    s.memory_per_node / (1 << 20) as f64,
                    s.cpu_per_delivery_us
                ));
            }
        }

        if !part("discovery") {
        } else {
        println!("discovery...");
        let (mut twenty, mut sixty) = p2p_discovery().await;
        let mut central = central_discovery().await;
        out.push_str(&format!(
            "\n## Discovery\n\n{PROVIDERS} providers of `gpu` on {} nodes; a fresh client looks them up in the DHT (sharded provider keys). 5 lookups each.\n\n\
             | lookup | p50 | max |\n|---|---:|---:|\n\
             | P2P: 20 of {PROVIDERS} | {:.1} ms | {:.1} ms |\n| P2P: 60 of {PROVIDERS} | {:.1} ms | {:.1} ms |\n| coordinator registry, all {PROVIDERS} | {:.1} ms | {:.1} ms |\n",
            PROVIDERS + 2,
            percentile(&mut twenty, 0.5),
            percentile(&mut twenty, 1.0),
            percentile(&mut sixty, 0.5),
            percentile(&mut sixty, 1.0),
            percentile(&mut central, 0.5),
            percentile(&mut central, 1.0),
        ));

        }
        if part("throughput") {
        println!("throughput...");
        let (p2p_rate, p2p_done, p2p_cpu) = p2p_throughput(throughput_nodes, jobs).await;
        let (central_rate, central_done, central_cpu) =
            central_throughput(throughput_nodes, jobs).await;
        out.push_str(&format!(
            "\n## Throughput\n\n{jobs} trivial jobs (a 100-round hash chain, redundancy 1) from {CLIENTS} clients on {throughput_nodes} nodes, end to end: \
             announcement, bids, selection, fetch, execution, commit, result.\n\n\
             | system | jobs/s | completed | vs coordinator | CPU per job, all nodes |\n|---|---:|---:|---:|---:|\n\
             | P2P | {p2p_rate:.1} | {p2p_done}/{jobs} | {:.2}× | {p2p_cpu:.0} µs |\n| HTTP coordinator | {central_rate:.1} | {central_done}/{jobs} | 1.00× | {central_cpu:.0} µs |\n\n\
             P2P jobs drew {:.1} bids each from {} workers. Every node here shares the same 2 cores, so the P2P rate is \
             bounded by the CPU of all {throughput_nodes} nodes together; on separate machines each node has its own.\n",
            p2p_rate / central_rate,
            BIDS_PER_JOB.load(Ordering::Relaxed) as f64 / 10.0,
            throughput_nodes - 1 - CLIENTS,
        ));
        }
        if only.is_none() {
            write_figures(&out);
        } else {
            print!("{out}");
        }
    });
}
