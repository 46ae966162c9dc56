//! `ciro up` through the real binary: a whole local network that settles its sample jobs
//! and exits 0; and a further `ciro node run --settle --deposit` joining it as a client,
//! paying for a job from its deposit.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Devnet seed 0's account 2.
const ACCOUNT_2: &str = "0x49dfb8ce986e21d354ac93ea65e6a11f639c1934ea253e5ff14ca62eca0f38e";

fn ciro() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ciro"));
    command.env("NO_COLOR", "1").env_remove("RUST_LOG");
    command
}

/// `ciro up` in `dir` with `extra` arguments, its HTTP services on free ports.
fn up_command(dir: &std::path::Path, extra: &[&str]) -> Command {
    let mut command = ciro();
    command
        .arg("up")
        .args(extra)
        .args([
            "--indexer-http",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(dir);
    command
}

#[test]
fn ciro_up_then_exit_settles_every_sample_job_and_reports_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let output = up_command(
        dir.path(),
        &["--then-exit", "--workers", "2", "--jobs", "2"],
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("2 of 2 jobs settled and paid on chain"),
        "{stdout}"
    );
    assert!(stdout.contains("workers (from the indexer):"), "{stdout}");
    // Each job's two results were accepted from the client's deposit and paid in a batch,
    // and two workers were paid for 2 jobs each.
    assert_eq!(
        stdout.matches("completed in batch 0x").count(),
        4,
        "{stdout}"
    );
    assert!(
        stdout.contains("2 jobs paid from the client's deposit in"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("completed   2").count(), 2, "{stdout}");
    assert!(stdout.contains("treasury fees   0.1 CIRO"), "{stdout}");
    assert!(dir.path().join("devnet.json").exists());
}

#[test]
fn ciro_up_refuses_a_redundancy_it_cannot_meet() {
    let output = ciro()
        .args(["up", "--then-exit", "--workers", "1", "--redundancy", "2"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--redundancy 2 needs 1 to --workers (1)"),
        "{stderr}"
    );
}

/// A `ciro` process, killed if a failing test leaves it running.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Running {
    /// Stops it with SIGTERM; it must exit cleanly.
    fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(self.0.wait().unwrap().success());
    }
}

/// A running `ciro up`, and what it printed about itself.
struct Up {
    child: Running,
    rpc: String,
    bootstrap: String,
    indexer: String,
    gateway: String,
    manifest: std::path::PathBuf,
}

impl Up {
    /// Starts `ciro up` in `dir` with `extra` arguments and waits until it runs.
    fn start(dir: &std::path::Path, extra: &[&str]) -> Self {
        let mut child = up_command(dir, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = child.stderr.take().unwrap();
        let (mut rpc, mut bootstrap, mut indexer, mut gateway) = (None, None, None, None);
        let mut running = false;
        for line in lines.by_ref() {
            let line = line.unwrap();
            let first = |rest: &str| rest.split_whitespace().next().map(str::to_owned);
            if let Some(rest) = line.strip_prefix("chain           ") {
                rpc = first(rest);
            }
            if let Some(rest) = line.strip_prefix("client node     ") {
                bootstrap = first(rest);
            }
            if let Some(rest) = line.strip_prefix("client gateway  ") {
                gateway = first(rest).map(|u| u.trim_end_matches("/v1/jobs").to_owned());
            }
            if let Some(rest) = line.strip_prefix("indexer         ") {
                indexer = first(rest).map(|u| u.trim_end_matches("/v1/workers").to_owned());
            }
            if line.starts_with("running;") {
                running = true;
                break;
            }
        }
        if !running {
            let mut errors = String::new();
            std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut errors).unwrap();
            panic!("ciro up stopped before it ran: {errors}");
        }
        std::thread::spawn(move || lines.for_each(drop));
        // Keep draining stderr so ciro up never blocks on a full pipe.
        std::thread::spawn(move || BufReader::new(stderr).lines().for_each(drop));
        Up {
            child: Running(child),
            rpc: rpc.unwrap(),
            bootstrap: bootstrap.unwrap(),
            indexer: indexer.unwrap(),
            gateway: gateway.unwrap(),
            manifest: dir.join("devnet.json"),
        }
    }

    /// A `ciro` command on this network's chain, signing as devnet account `account`.
    fn chain(&self, account: &str) -> Command {
        let mut command = ciro();
        command
            .args(["--network", &self.rpc, "--manifest"])
            .arg(&self.manifest)
            .args(["--devnet-account", account]);
        command
    }

    /// Runs a `ciro` chain command as `account` and returns its stdout; it must succeed.
    fn ok(&self, account: &str, args: &[&str]) -> String {
        let out = self.chain(account).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "ciro {args:?}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn stop(self) {
        self.child.stop();
    }
}

/// Reads lines of a node's stdout until one says `ready` and the gateway is known, then
/// keeps draining it. Returns the gateway.
fn node_ready(node: &mut std::process::Child, ready: &str) -> String {
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let (mut gateway, mut seen) = (None, false);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(g) = line.strip_prefix("gateway on ") {
            gateway = Some(g.to_owned());
        }
        seen |= line == ready;
        if gateway.is_some() && seen {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    gateway.expect("the node printed its gateway")
}

/// Submits `prime_sieve` through `gateway` and returns the job id.
fn submit_sieve(gateway: &str, extra: &[&str]) -> String {
    let wat =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/workloads/prime_sieve.wat");
    let submitted = ciro()
        .args(["job", "submit", "--node", gateway, "--wasm"])
        .arg(&wat)
        .args(["--input-hex", "10270000", "--reward", "1000000000000000000"])
        .args(extra)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&submitted.stdout).to_string();
    assert!(
        submitted.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    out.lines()
        .find_map(|l| l.strip_prefix("job "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("a job id in {out}"))
        .to_owned()
}

/// Polls the job at `gateway` until `done` says so, or fails after `timeout` with the job.
fn wait_job(
    gateway: &str,
    id: &str,
    timeout: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let fetched = Command::new("curl")
            .args(["-s", &format!("{gateway}/v1/jobs/{id}")])
            .output()
            .unwrap();
        let job: serde_json::Value =
            serde_json::from_slice(&fetched.stdout).unwrap_or(serde_json::Value::Null);
        if done(&job) {
            return job;
        }
        assert!(started.elapsed() < timeout, "timed out: {job}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_settling_node_joins_ciro_up_and_pays_for_its_job_on_chain() {
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(
        dir.path(),
        &["--workers", "2", "--jobs", "1", "--redundancy", "1"],
    );
    // Account 2 (the treasury in `ciro up`) gets CIRO from the owner and runs a client node.
    up.ok("0", &["token", "mint", "--to", ACCOUNT_2, "--amount", "10"]);
    let mut node = Running(
        up.chain("2")
            .args([
                "node",
                "run",
                "--settle",
                "--deposit",
                "5",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
            ])
            .args(["--http", "127.0.0.1:0", "--key-file"])
            .arg(dir.path().join("extra.key"))
            .args(["--bootstrap", &up.bootstrap, "--indexer", &up.indexer])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let gateway = node_ready(&mut node.0, "settling on chain");
    let id = submit_sieve(&gateway, &[]);

    // The job is paid on chain from the deposit: its settlement shows the acceptance
    // completed and the batch that paid it.
    let job = wait_job(&gateway, &id, Duration::from_secs(90), |job| {
        job["settlement"].is_array()
    });
    let slots = job["settlement"].as_array().unwrap();
    assert_eq!(slots.len(), 1, "{job}");
    assert_eq!(slots[0]["state"], "completed", "{job}");
    assert!(slots[0]["acceptance"].is_string(), "{job}");
    assert!(slots[0]["tx_hash"].is_string(), "{job}");

    node.stop();
    up.stop();
}

/// `ciro up --escrow` with one worker of its own, and account 2 (its treasury) staked 250
/// CIRO and registered for `capability`, which no other worker offers.
fn up_with_account_2_as_worker(dir: &std::path::Path, capability: &str) -> Up {
    let up = Up::start(
        dir,
        &[
            "--workers",
            "1",
            "--redundancy",
            "1",
            "--jobs",
            "0",
            "--escrow",
        ],
    );
    up.ok(
        "0",
        &["token", "mint", "--to", ACCOUNT_2, "--amount", "300"],
    );
    up.ok("2", &["worker", "stake", "--amount", "250"]);
    up.ok("2", &["worker", "register", "--capability", capability]);
    up
}

/// `ciro node run --settle` as account 2, a worker for `capability` with key `worker.key`
/// in `dir` and `extra` arguments, once it settles.
fn account_2_worker(up: &Up, dir: &std::path::Path, capability: &str, extra: &[&str]) -> Running {
    let mut node = up
        .chain("2")
        .args(["node", "run", "--settle", "--capability", capability])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--http", "127.0.0.1:0"])
        .arg("--key-file")
        .arg(dir.join("worker.key"))
        .args(["--bootstrap", &up.bootstrap])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    node_ready(&mut node, "settling on chain");
    Running(node)
}

/// Waits until `node` dies, as its conduct tells it to: it must not exit cleanly.
fn wait_for_crash(node: &mut Running, who: &str) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = node.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the {who} never reached its crash"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        !status.success(),
        "the {who} died, it did not exit: {status}"
    );
}

/// A worker that dies after delivering its result and before committing it on chain,
/// restarted with the same key, account and data directory, commits it and is paid in
/// full, with no collateral slashed: its duty was on disk before the result left.
#[test]
fn a_worker_killed_between_delivering_and_committing_is_paid_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let up = up_with_account_2_as_worker(dir.path(), "restart");
    let worker = |extra: &[&str]| account_2_worker(&up, dir.path(), "restart", extra);
    let mut first = worker(&["--conduct", "crash-before-submit"]);
    let id = submit_sieve(&up.gateway, &["--capability", "restart"]);

    // It delivers its result, hears of its escrow job, and dies before committing.
    wait_for_crash(&mut first, "worker");
    let job = wait_job(&up.gateway, &id, Duration::from_secs(30), |job| {
        job["status"] == "completed" && job["escrow_ids"].as_array().is_some_and(|e| e.len() == 1)
    });
    assert!(job["result"].is_object(), "the result was delivered: {job}");
    let escrow_id = job["escrow_ids"][0].as_u64().unwrap().to_string();
    let slot = up.ok("2", &["job", "status", &escrow_id]);
    assert!(slot.contains("Assigned"), "nothing on chain yet: {slot}");

    // Restarted, honest, with the same key and data directory: it commits and is paid.
    let second = worker(&[]);
    let job = wait_job(&up.gateway, &id, Duration::from_secs(120), |job| {
        job["settlement"].is_array()
    });
    let slots = job["settlement"].as_array().unwrap();
    assert_eq!(slots.len(), 1, "{job}");
    assert_eq!(slots[0]["state"], "completed", "{job}");
    // The 50 CIRO it kept, and the 1 CIRO reward: 0.975 paid to it as the worker and the
    // 0.025 fee to it as `ciro up`'s treasury. A slash would have gone there too, so the
    // stake is checked whole and free as well.
    assert_eq!(up.ok("2", &["token", "balance"]).trim(), "51 CIRO", "{job}");
    let status = up.ok("2", &["worker", "status", "--worker", ACCOUNT_2]);
    assert!(status.contains("stake         250 CIRO"), "{status}");
    assert!(status.contains("locked        0 CIRO"), "{status}");

    second.stop();
    up.stop();
}

/// A worker that dies after delivering its result and before committing it on chain, and
/// never comes back: the client claims the slot's timeout once the deadline passed on the
/// chain's clock, gets its reward back, and the worker's collateral is slashed.
#[test]
fn a_worker_killed_and_never_restarted_has_its_slot_refunded_by_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let up = up_with_account_2_as_worker(dir.path(), "vanish");
    let mut worker = account_2_worker(
        &up,
        dir.path(),
        "vanish",
        &["--conduct", "crash-before-submit"],
    );
    let id = submit_sieve(&up.gateway, &["--capability", "vanish", "--deadline", "20"]);
    wait_for_crash(&mut worker, "worker");

    // Nobody commits the result: past the deadline the client takes the reward back.
    let job = wait_job(&up.gateway, &id, Duration::from_secs(150), |job| {
        job["settlement"].is_array()
    });
    let slots = job["settlement"].as_array().unwrap();
    assert_eq!(slots.len(), 1, "{job}");
    assert_eq!(slots[0]["state"], "refunded", "{job}");
    let slot = up.ok(
        "2",
        &[
            "job",
            "status",
            &slots[0]["escrow_id"].as_u64().unwrap().to_string(),
        ],
    );
    assert!(slot.contains("Refunded"), "{slot}");
    // Its stake is 250 CIRO no more: the timeout slashed part of the 50 CIRO collateral,
    // and none of it is locked any longer.
    let status = up.ok("2", &["worker", "status", "--worker", ACCOUNT_2]);
    assert!(!status.contains("stake         250 CIRO"), "{status}");
    assert!(status.contains("locked        0 CIRO"), "{status}");
    up.stop();
}

/// A client node that dies once its job has ended and its verdicts are on disk, before it
/// settles anything, restarted with the same key and data directory: it shows the job and
/// its result again and settles it by its verdicts, once, both ways a client pays. With
/// escrow jobs, both slots are accepted; from a deposit, both workers' acceptances are
/// signed again and paid once.
#[test]
fn a_client_killed_before_settling_settles_its_job_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(
        dir.path(),
        &[
            "--workers",
            "2",
            "--redundancy",
            "2",
            "--jobs",
            "0",
            "--escrow",
        ],
    );
    up.ok("0", &["token", "mint", "--to", ACCOUNT_2, "--amount", "10"]);
    // Account 2 is also `ciro up`'s treasury: it gets the 0.025 CIRO fee of every payment.
    let client = |key: &str, args: &[&str]| {
        let mut node = up
            .chain("2")
            .args([
                "node",
                "run",
                "--settle",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
            ])
            .args(["--http", "127.0.0.1:0", "--key-file"])
            .arg(dir.path().join(key))
            .args(["--bootstrap", &up.bootstrap, "--indexer", &up.indexer])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let gateway = node_ready(&mut node, "settling on chain");
        (Running(node), gateway)
    };
    let crash = ["--client-conduct", "crash-before-settle"];
    let settled = |gateway: &str, id: &str| {
        let job = wait_job(gateway, id, Duration::from_secs(90), |job| {
            job["settlement"].is_array()
        });
        assert_eq!(job["status"], "completed", "{job}");
        assert!(job["result"].is_object(), "{job}");
        let slots = job["settlement"].as_array().unwrap().clone();
        assert_eq!(slots.len(), 2, "{job}");
        for slot in &slots {
            assert_eq!(slot["state"], "completed", "{job}");
            assert!(slot["tx_hash"].is_string(), "{job}");
        }
        slots
    };

    // Escrow jobs. Not `client.key`: that is `ciro up`'s own client.
    let (mut first, gateway) = client("escrow-client.key", &crash);
    let id = submit_sieve(&gateway, &["--redundancy", "2", "--no-wait"]);
    wait_for_crash(&mut first, "client");
    assert_eq!(up.ok("2", &["token", "balance"]).trim(), "8 CIRO");
    let (second, gateway) = client("escrow-client.key", &[]);
    for slot in settled(&gateway, &id) {
        let on_chain = up.ok(
            "2",
            &[
                "job",
                "status",
                &slot["escrow_id"].as_u64().unwrap().to_string(),
            ],
        );
        assert!(on_chain.contains("Completed"), "{on_chain}");
    }
    // Two rewards paid, nothing back, two fees in.
    assert_eq!(up.ok("2", &["token", "balance"]).trim(), "8.05 CIRO");
    second.stop();

    // From a deposit of 5 CIRO.
    let deposit = ["--deposit", "5"];
    let (mut first, gateway) = client("deposit-client.key", &[&deposit[..], &crash[..]].concat());
    let id = submit_sieve(&gateway, &["--redundancy", "2", "--no-wait"]);
    wait_for_crash(&mut first, "client");
    let (second, gateway) = client("deposit-client.key", &deposit);
    for slot in settled(&gateway, &id) {
        assert!(slot["acceptance"].is_string(), "{slot}");
    }
    // The deposit paid the two rewards once; the balance got the two fees.
    let status = up.ok("2", &["batch", "status"]);
    assert!(status.contains("deposit     3 CIRO"), "{status}");
    assert_eq!(up.ok("2", &["token", "balance"]).trim(), "3.1 CIRO");
    second.stop();
    up.stop();
}
