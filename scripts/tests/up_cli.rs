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

#[test]
fn ciro_up_then_exit_settles_every_sample_job_and_reports_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let output = ciro()
        .args(["up", "--then-exit", "--workers", "2", "--jobs", "2"])
        .args([
            "--indexer-http",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(dir.path())
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

#[test]
fn a_settling_node_joins_ciro_up_and_pays_for_its_job_on_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = ciro()
        .args(["up", "--workers", "2", "--jobs", "1", "--redundancy", "1"])
        .args([
            "--indexer-http",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(up.stdout.take().unwrap()).lines();
    let (mut rpc, mut bootstrap, mut indexer) = (None, None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("chain           ") {
            rpc = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.strip_prefix("client node     ") {
            bootstrap = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(rest) = line.strip_prefix("indexer         ") {
            indexer = rest
                .split_whitespace()
                .next()
                .map(|u| u.trim_end_matches("/v1/workers").to_owned());
        }
        if line.starts_with("running;") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let (rpc, bootstrap, indexer) = (rpc.unwrap(), bootstrap.unwrap(), indexer.unwrap());
    let manifest = dir.path().join("devnet.json");
    let chain = |account: &str| {
        let mut command = ciro();
        command
            .args(["--network", &rpc, "--manifest"])
            .arg(&manifest)
            .args(["--devnet-account", account]);
        command
    };

    // Account 2 (the treasury in `ciro up`) gets CIRO from the owner and runs a client node.
    let minted = chain("0")
        .args(["token", "mint", "--to", ACCOUNT_2, "--amount", "10"])
        .output()
        .unwrap();
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    let mut node = chain("2")
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
        .args(["--bootstrap", &bootstrap, "--indexer", &indexer])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut node_lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut gateway = None;
    let mut settling = false;
    for line in node_lines.by_ref() {
        let line = line.unwrap();
        if let Some(g) = line.strip_prefix("gateway on ") {
            gateway = Some(g.to_owned());
        }
        settling |= line == "settling on chain";
        if gateway.is_some() && settling {
            break;
        }
    }
    std::thread::spawn(move || node_lines.for_each(drop));
    let gateway = gateway.unwrap();

    let wat =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/workloads/prime_sieve.wat");
    let submitted = ciro()
        .args(["job", "submit", "--node", &gateway, "--wasm"])
        .arg(&wat)
        .args(["--input-hex", "10270000", "--reward", "1000000000000000000"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&submitted.stdout).to_string();
    assert!(
        submitted.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("job "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("a job id in {out}"))
        .to_owned();

    // The job is paid on chain from the deposit: its settlement shows the acceptance
    // completed and the batch that paid it.
    let started = Instant::now();
    loop {
        let fetched = Command::new("curl")
            .args(["-s", &format!("{gateway}/v1/jobs/{id}")])
            .output()
            .unwrap();
        let job: serde_json::Value = serde_json::from_slice(&fetched.stdout).unwrap();
        if let Some(slots) = job["settlement"].as_array() {
            assert_eq!(slots.len(), 1, "{job}");
            assert_eq!(slots[0]["state"], "completed", "{job}");
            assert!(slots[0]["acceptance"].is_string(), "{job}");
            assert!(slots[0]["tx_hash"].is_string(), "{job}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not settled: {job}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    for child in [&node, &up] {
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
    }
    assert!(node.wait().unwrap().success());
    assert!(up.wait().unwrap().success());
}
