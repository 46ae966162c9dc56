//! Churn, with real processes, as an operator would run them: `ciro devnet`, the suite
//! deployed with `ciro contracts deploy`, a bootstrap node, a client node and staked worker
//! nodes, each a `ciro node run` process of its own. Jobs go in through the client's
//! gateway at a steady rate, twice on the same network: once calm, then with churn, when
//! workers are SIGKILLed and restarted 10 to 13 s later with the same key and data
//! directory, and the bootstrap node is killed for good.
//!
//! For each phase it counts the jobs whose every escrow slot closed on chain (completed,
//! refunded or cancelled), and checks that none was paid twice: every slot's state is read
//! back from the chain, and the client's spending and the workers' earnings must equal the
//! completed slots' rewards exactly.
//!
//! `cargo bench -p ciro --bench churn --profile dev`; `CIRO_CHURN_JOBS` (30 per phase),
//! `CIRO_CHURN_WORKERS` (8) and `CIRO_CHURN_RATE` (jobs per second, 0.5) change the run.
//! Figures go to `target/ciro-bench/churn.md`.

use std::{
    collections::HashMap,
    fmt::Write as _,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use ciro_bindings::units::{format_tokens, parse_tokens, ONE};

const REWARD: u128 = ONE;
const REDUNDANCY: usize = 2;
/// Seconds a job may take to agree; a slot whose worker never commits is refunded after
/// it, plus the consent's margin.
const DEADLINE_SECS: u64 = 60;
/// Devnet accounts: 0 deploys, 1 is the client, workers from 3 on.
const CLIENT: usize = 1;
const FIRST_WORKER: usize = 3;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ciro() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ciro"));
    command
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .current_dir(workspace());
    command
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a process's stdout until a line starts with `last`, returning every line, then
/// keeps draining it.
fn lines_until(child: &mut Child, last: &str) -> Vec<String> {
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("stdout");
        let done = line.starts_with(last);
        seen.push(line);
        if done {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    assert!(
        seen.last().is_some_and(|l| l.starts_with(last)),
        "the process stopped before printing {last:?}: {seen:?}"
    );
    seen
}

struct Network {
    dir: PathBuf,
    rpc: String,
    manifest: PathBuf,
    accounts: Vec<String>,
    _devnet: Proc,
}

impl Network {
    fn start(dir: &Path, workers: usize) -> Self {
        let mut devnet = ciro()
            .args(["devnet", "--port", "0", "--accounts"])
            .arg((FIRST_WORKER + workers).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ciro devnet");
        let lines = lines_until(&mut devnet, "Ctrl-C");
        let rpc = lines
            .iter()
            .find_map(|l| l.strip_prefix("rpc "))
            .expect("the RPC URL")
            .trim()
            .to_owned();
        let accounts = lines
            .iter()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let (index, address) = (words.next()?, words.next()?);
                (index.parse::<usize>().is_ok() && address.starts_with("0x"))
                    .then(|| address.to_owned())
            })
            .collect();
        let net = Network {
            dir: dir.to_path_buf(),
            rpc,
            manifest: dir.join("devnet.json"),
            accounts,
            _devnet: Proc(devnet),
        };
        net.ok(0, &["contracts", "deploy"]);
        net.ok(
            0,
            &[
                "token",
                "mint",
                "--to",
                &net.accounts[CLIENT],
                "--amount",
                "1000",
            ],
        );
        for i in 0..workers {
            let account = FIRST_WORKER + i;
            net.ok(
                0,
                &[
                    "token",
                    "mint",
                    "--to",
                    &net.accounts[account],
                    "--amount",
                    "300",
                ],
            );
            net.ok(account, &["worker", "stake", "--amount", "250"]);
            net.ok(account, &["worker", "register", "--capability", "wasm"]);
        }
        net
    }

    fn chain(&self, account: usize) -> Command {
        let mut command = ciro();
        command
            .args(["--network", &self.rpc, "--manifest"])
            .arg(&self.manifest)
            .args(["--devnet-account", &account.to_string()]);
        command
    }

    fn ok(&self, account: usize, args: &[&str]) -> String {
        let out = self.chain(account).args(args).output().expect("ciro");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "ciro {args:?}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn balance(&self, account: usize) -> u128 {
        let shown = self.ok(0, &["token", "balance", "--of", &self.accounts[account]]);
        parse_tokens(shown.trim().trim_end_matches("CIRO").trim()).expect("a balance")
    }

    /// A `ciro node run` as `account` (settling on chain when given), named `name` for
    /// its key and data directory. Returns it with its listen addresses and gateway.
    fn node(&self, name: &str, account: Option<usize>, extra: &[&str]) -> Node {
        let mut command = match account {
            Some(account) => {
                let mut c = self.chain(account);
                c.args(["node", "run", "--settle"]);
                c
            }
            None => {
                let mut c = ciro();
                c.args(["node", "run"]);
                c
            }
        };
        let mut child = command
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--http", "127.0.0.1:0"])
            .arg("--key-file")
            .arg(self.dir.join(format!("{name}.key")))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ciro node run");
        let lines = lines_until(&mut child, "gateway on ");
        let addrs = lines
            .iter()
            .filter_map(|l| l.strip_prefix("listening on "))
            .map(str::to_owned)
            .collect();
        let gateway = lines
            .last()
            .and_then(|l| l.strip_prefix("gateway on "))
            .expect("the gateway")
            .to_owned();
        Node {
            proc: Proc(child),
            addrs,
            gateway,
        }
    }
}

struct Node {
    proc: Proc,
    addrs: Vec<String>,
    gateway: String,
}

fn job_json(gateway: &str, id: &str) -> serde_json::Value {
    let fetched = Command::new("curl")
        .args(["-s", "-m", "5", &format!("{gateway}/v1/jobs/{id}")])
        .output()
        .expect("curl");
    serde_json::from_slice(&fetched.stdout).unwrap_or(serde_json::Value::Null)
}

fn submit(gateway: &str, i: usize) -> String {
    let wat = workspace().join("node/workloads/prime_sieve.wat");
    // A different bound each job: 10,000 plus i.
    let input = hex::encode((10_000u32 + i as u32).to_le_bytes());
    let out = ciro()
        .args(["job", "submit", "--node", gateway, "--wasm"])
        .arg(&wat)
        .args(["--input-hex", &input, "--reward", &REWARD.to_string()])
        .args(["--redundancy", &REDUNDANCY.to_string()])
        .args(["--deadline", &DEADLINE_SECS.to_string(), "--no-wait"])
        .output()
        .expect("ciro job submit");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "submitting: {stdout}");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("job "))
        .expect("a job id")
        .trim()
        .to_owned()
}

/// What one phase did.
struct Phase {
    name: &'static str,
    jobs: usize,
    completed_off_chain: usize,
    settled: usize,
    slots: usize,
    states: HashMap<String, usize>,
    paid_twice: usize,
    money_exact: bool,
    kills: usize,
    elapsed: Duration,
}

/// A slot's state is closed for good.
fn closed(state: &str) -> bool {
    matches!(state, "completed" | "refunded" | "cancelled")
}

#[allow(clippy::too_many_arguments)]
fn phase(
    net: &Network,
    name: &'static str,
    client: &Node,
    workers: &mut [Option<Node>],
    worker_args: &[String],
    bootstrap: &mut Option<Node>,
    jobs: usize,
    rate: f64,
    churn: bool,
) -> Phase {
    let client_before = net.balance(CLIENT);
    let workers_before: u128 = (0..workers.len())
        .map(|i| net.balance(FIRST_WORKER + i))
        .sum();
    let started = Instant::now();
    let every = Duration::from_secs_f64(1.0 / rate);
    let span = every * jobs as u32;
    // Churn: a third of the workers (rounded up) are killed in turn across the first
    // half of the submissions and each restarted 10 to 13 s later; the bootstrap node is
    // killed for good halfway through.
    let churned = if churn { workers.len().div_ceil(3) } else { 0 };
    let mut kills: Vec<(Duration, usize)> = (0..churned)
        .map(|k| (span / 2 * (k as u32 + 1) / (churned as u32 + 1), k))
        .collect();
    let mut restarts: Vec<(Instant, usize)> = Vec::new();
    let mut bootstrap_kill = churn.then_some(span / 2);
    let mut ids = Vec::new();
    let mut kill_count = 0;
    while ids.len() < jobs || !restarts.is_empty() {
        let now = started.elapsed();
        if ids.len() < jobs && now >= every * ids.len() as u32 {
            ids.push(submit(&client.gateway, ids.len()));
        }
        if let Some(&(at, k)) = kills.first() {
            if now >= at {
                kills.remove(0);
                if let Some(node) = workers[k].take() {
                    node.proc.kill();
                    kill_count += 1;
                    let back = Duration::from_millis(10_000 + 1_000 * (k as u64 % 4));
                    restarts.push((Instant::now() + back, k));
                }
            }
        }
        if let Some(i) = restarts.iter().position(|(at, _)| Instant::now() >= *at) {
            let (_, k) = restarts.remove(i);
            let args: Vec<&str> = worker_args.iter().map(String::as_str).collect();
            workers[k] = Some(net.node(&format!("worker-{k}"), Some(FIRST_WORKER + k), &args));
        }
        if bootstrap_kill.is_some_and(|at| now >= at) {
            bootstrap_kill = None;
            if let Some(node) = bootstrap.take() {
                node.proc.kill();
                kill_count += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // Every job's slots closed, or the deadline, the consent's margin and a minute more.
    let wait_until = Instant::now() + Duration::from_secs(DEADLINE_SECS + 30 + 120);
    let mut last: HashMap<String, serde_json::Value> = HashMap::new();
    loop {
        for id in &ids {
            let done = last.get(id).is_some_and(|j| j["settlement"].is_array());
            if !done {
                last.insert(id.clone(), job_json(&client.gateway, id));
            }
        }
        let open = last
            .values()
            .filter(|j| !j["settlement"].is_array())
            .count();
        if open == 0 || Instant::now() > wait_until {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let elapsed = started.elapsed();

    let mut states = HashMap::new();
    let (mut settled, mut slots, mut completed_off_chain) = (0, 0, 0);
    let mut escrow_ids = Vec::new();
    for job in last.values() {
        completed_off_chain += (job["status"] == "completed") as usize;
        let Some(report) = job["settlement"].as_array() else {
            continue;
        };
        let all_closed = report
            .iter()
            .all(|s| s["state"].as_str().is_some_and(closed));
        settled += all_closed as usize;
        for slot in report {
            slots += 1;
            *states
                .entry(slot["state"].as_str().unwrap_or("?").to_owned())
                .or_insert(0) += 1;
            escrow_ids.extend(slot["escrow_id"].as_u64());
        }
    }
    // The chain's word on every slot: one escrow job each, and each paid at most once.
    let mut paid_on_chain = 0u128;
    let mut seen = std::collections::HashSet::new();
    let mut paid_twice = 0;
    for id in &escrow_ids {
        if !seen.insert(*id) {
            paid_twice += 1;
            continue;
        }
        let status = net.ok(0, &["job", "status", &id.to_string()]);
        paid_on_chain += status.contains("Completed") as u128;
    }
    let fee = REWARD * 250 / 10_000;
    let spent = client_before - net.balance(CLIENT);
    let earned = (0..workers.len())
        .map(|i| net.balance(FIRST_WORKER + i))
        .sum::<u128>()
        - workers_before;
    let money_exact = paid_on_chain == states.get("completed").copied().unwrap_or(0) as u128
        && spent == paid_on_chain * REWARD
        && earned == paid_on_chain * (REWARD - fee);
    if !money_exact {
        eprintln!(
            "{name}: {paid_on_chain} slots paid on chain, {states:?}; the client spent {}, the workers earned {}",
            format_tokens(spent),
            format_tokens(earned)
        );
    }
    Phase {
        name,
        jobs,
        completed_off_chain,
        settled,
        slots,
        states,
        paid_twice,
        money_exact,
        kills: kill_count,
        elapsed,
    }
}

fn main() {
    let jobs: usize = env_or("CIRO_CHURN_JOBS", 30);
    let workers: usize = env_or("CIRO_CHURN_WORKERS", 8);
    let rate: f64 = env_or("CIRO_CHURN_RATE", 0.5);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let setup = Instant::now();
    let net = Network::start(dir.path(), workers);
    let mut bootstrap = Some(net.node("bootstrap", None, &[]));
    let boot = bootstrap.as_ref().expect("started").addrs[0].clone();
    let client = net.node("client", Some(CLIENT), &["--bootstrap", &boot]);
    // Workers join through the bootstrap node and the client, so a restart after the
    // bootstrap node is gone still finds the network.
    let worker_args: Vec<String> = [
        "--capability",
        "wasm",
        "--bootstrap",
        boot.as_str(),
        "--bootstrap",
        client.addrs[0].as_str(),
    ]
    .map(str::to_owned)
    .to_vec();
    let args: Vec<&str> = worker_args.iter().map(String::as_str).collect();
    let mut nodes: Vec<Option<Node>> = (0..workers)
        .map(|k| Some(net.node(&format!("worker-{k}"), Some(FIRST_WORKER + k), &args)))
        .collect();
    // Let the ads reach the client before the first job.
    std::thread::sleep(Duration::from_secs(5));
    let setup = setup.elapsed();

    let phases = [
        phase(
            &net,
            "calm",
            &client,
            &mut nodes,
            &worker_args,
            &mut bootstrap,
            jobs,
            rate,
            false,
        ),
        phase(
            &net,
            "churn",
            &client,
            &mut nodes,
            &worker_args,
            &mut bootstrap,
            jobs,
            rate,
            true,
        ),
    ];

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Churn with real processes\n\n{workers} worker processes, k = {REDUNDANCY}, {jobs} jobs per phase at {rate} jobs/s, {} CIRO per worker; setup {:.0} s.\n",
        format_tokens(REWARD),
        setup.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| phase | kills | jobs | completed off chain | every slot closed on chain | slots | completed / refunded / cancelled / other | paid twice | money exact | time |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|---:|---|---:|");
    for p in &phases {
        let count = |s: &str| p.states.get(s).copied().unwrap_or(0);
        let other = p.slots - count("completed") - count("refunded") - count("cancelled");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} ({:.1} %) | {} | {} / {} / {} / {} | {} | {} | {:.0} s |",
            p.name,
            p.kills,
            p.jobs,
            p.completed_off_chain,
            p.settled,
            100.0 * p.settled as f64 / p.jobs.max(1) as f64,
            p.slots,
            count("completed"),
            count("refunded"),
            count("cancelled"),
            other,
            p.paid_twice,
            if p.money_exact { "yes" } else { "NO" },
            p.elapsed.as_secs_f64()
        );
    }
    print!("{out}");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target"));
    let path = target.join("ciro-bench/churn.md");
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("the bench directory");
    std::fs::write(&path, &out).expect("the figures");
    println!("figures in {}", path.display());
}
