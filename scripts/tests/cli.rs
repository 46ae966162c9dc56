//! Every chain subcommand of the real `ciro` binary, once, against an in-process devnet,
//! error cases included.

use std::path::Path;
use std::process::{Command, Output};

use ciro_devnet::Devnet;

/// Runs `ciro --root <root> --network <devnet> <args>` as predeployed account `account`.
fn ciro(root: &Path, devnet: &Devnet, account: usize, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ciro"))
        .arg("--root")
        .arg(root)
        .arg("--network")
        .arg(devnet.rpc_url().as_str())
        .arg("--devnet-account")
        .arg(account.to_string())
        .args(args)
        .env_remove("CIRO_NETWORK")
        .env_remove("STARKNET_RPC_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("the ciro binary runs")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs and expects success; returns stdout.
fn ok(root: &Path, devnet: &Devnet, account: usize, args: &[&str]) -> String {
    let output = ciro(root, devnet, account, args);
    let (out, err) = text(&output);
    assert!(
        output.status.success(),
        "ciro {args:?} failed:\n{out}\n{err}"
    );
    out
}

/// Runs and expects failure; returns stderr.
fn fails(root: &Path, devnet: &Devnet, account: usize, args: &[&str]) -> String {
    let output = ciro(root, devnet, account, args);
    let (out, err) = text(&output);
    assert!(
        !output.status.success(),
        "ciro {args:?} should fail:\n{out}"
    );
    assert!(!err.contains("panicked"), "ciro {args:?} panicked:\n{err}");
    err
}

fn start_devnet() -> Devnet {
    Devnet::spawn_default().expect("devnet starts")
}

fn job_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("job id "))
        .unwrap_or_else(|| panic!("no job id in {stdout}"))
        .trim()
        .to_owned()
}

/// Account `worker` signs a bid on escrow job `id`'s own terms: the JSON `job assign --bid`
/// takes.
fn bid(root: &Path, devnet: &Devnet, worker: usize, id: &str) -> String {
    ok(root, devnet, worker, &["worker", "bid", id])
        .trim()
        .to_owned()
}

fn addr(devnet: &Devnet, index: usize) -> String {
    format!("{:#x}", devnet.account(index).address)
}

#[test]
fn every_subcommand_runs_through_the_binary() {
    let devnet = start_devnet();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (owner, client, worker) = (0, 1, 2);
    let worker_addr = addr(&devnet, worker);
    let client_addr = addr(&devnet, client);

    // Deploy; the second run sends nothing.
    let first = ok(
        root,
        &devnet,
        owner,
        &["contracts", "deploy", "--min-stake", "100"],
    );
    assert!(first.contains("transactions sent"), "{first}");
    // The default court (the deployer alone) is said to be a devnet convenience.
    assert!(
        first.contains("devnet only: every arbitrator is"),
        "{first}"
    );
    let again = ok(root, &devnet, owner, &["contracts", "deploy"]);
    assert!(again.contains("0 transactions sent"), "{again}");
    let manifests: Vec<_> = std::fs::read_dir(root.join("deployments"))
        .unwrap()
        .collect();
    assert_eq!(manifests.len(), 1);

    // token: mint to both parties, read, approve.
    for who in [&worker_addr, &client_addr] {
        let minted = ok(
            root,
            &devnet,
            owner,
            &["token", "mint", "--to", who, "--amount", "500"],
        );
        assert!(minted.contains("minted 500 CIRO"), "{minted}");
    }
    assert_eq!(
        ok(root, &devnet, worker, &["token", "balance"]).trim(),
        "500 CIRO"
    );
    // Minting stops at the supply cap fixed at deployment.
    let supply = ok(root, &devnet, worker, &["token", "supply"]);
    assert!(
        supply.contains("supply  1000 CIRO")
            && supply.contains("cap     1000000000 CIRO (999999000 CIRO left to mint)"),
        "{supply}"
    );
    let over = fails(
        root,
        &devnet,
        owner,
        &[
            "token",
            "mint",
            "--to",
            &worker_addr,
            "--amount",
            "999999001",
        ],
    );
    assert!(
        over.contains("CiroToken.mint reverted: mint above supply cap"),
        "{over}"
    );
    assert_eq!(
        ok(
            root,
            &devnet,
            owner,
            &["token", "balance", "--of", &client_addr]
        )
        .trim(),
        "500 CIRO"
    );
    let approved = ok(
        root,
        &devnet,
        client,
        &[
            "token",
            "approve",
            "--spender",
            &worker_addr,
            "--amount",
            "1.5",
        ],
    );
    assert!(approved.contains("approved 1.5 CIRO"), "{approved}");

    // worker: stake, register, status.
    ok(
        root,
        &devnet,
        worker,
        &["worker", "stake", "--amount", "200"],
    );
    ok(
        root,
        &devnet,
        worker,
        &[
            "worker",
            "register",
            "--capability",
            "wasm",
            "--capability",
            "gpu:h100",
        ],
    );
    let status = ok(
        root,
        &devnet,
        client,
        &["worker", "status", "--worker", &worker_addr],
    );
    assert!(status.contains("active        true"), "{status}");
    assert!(status.contains("stake         200 CIRO"), "{status}");
    assert!(status.contains("wasm, gpu:h100"), "{status}");

    // job: create, assign, submit, accept, status.
    let created = ok(
        root,
        &devnet,
        client,
        &[
            "job",
            "create",
            "--reward",
            "10",
            "--capability",
            "wasm",
            "--collateral",
            "5",
        ],
    );
    let first_job = job_id(&created);
    ok(
        root,
        &devnet,
        client,
        &[
            "job",
            "assign",
            &first_job,
            "--bid",
            &bid(root, &devnet, worker, &first_job),
        ],
    );
    ok(
        root,
        &devnet,
        worker,
        &[
            "job",
            "submit-result",
            &first_job,
            "--result-hash",
            "0xbeef",
        ],
    );
    ok(root, &devnet, client, &["job", "accept", &first_job]);
    let shown = ok(root, &devnet, client, &["job", "status", &first_job]);
    assert!(shown.contains("Completed"), "{shown}");
    assert!(shown.contains("reward        10 CIRO"), "{shown}");
    // 10 CIRO minus the 2.5 % fee.
    assert_eq!(
        ok(root, &devnet, worker, &["token", "balance"]).trim(),
        "309.75 CIRO"
    );

    // dispute.
    let second = job_id(&ok(
        root,
        &devnet,
        client,
        &["job", "create", "--reward", "1", "--capability", "wasm"],
    ));
    ok(
        root,
        &devnet,
        client,
        &[
            "job",
            "assign",
            &second,
            "--bid",
            &bid(root, &devnet, worker, &second),
        ],
    );
    ok(
        root,
        &devnet,
        worker,
        &["job", "submit-result", &second, "--result-hash", "0x1"],
    );
    let disputed = ok(
        root,
        &devnet,
        client,
        &["job", "dispute", &second, "--evidence-hash", "0xe"],
    );
    assert!(disputed.contains("dispute 1"), "{disputed}");
    // The deployer is the default arbitrator; parties cannot vote.
    let party = fails(
        root,
        &devnet,
        worker,
        &["dispute", "vote", "1", "--ruling", "worker"],
    );
    assert!(
        party.contains("Disputes.vote reverted: caller is not arbitrator"),
        "{party}"
    );
    let early = fails(root, &devnet, client, &["dispute", "resolve-timeout", "1"]);
    assert!(early.contains("voting period not over"), "{early}");
    let open = ok(root, &devnet, client, &["dispute", "status", "1"]);
    assert!(open.contains("status        Open"), "{open}");
    ok(
        root,
        &devnet,
        owner,
        &["dispute", "vote", "1", "--ruling", "worker"],
    );
    let settled = ok(root, &devnet, client, &["dispute", "status", "1"]);
    assert!(
        settled.contains("status        Resolved") && settled.contains("WorkerRight"),
        "{settled}"
    );
    assert!(
        settled.contains("votes         1 for the worker, 0 for the client"),
        "{settled}"
    );
    assert!(ok(root, &devnet, client, &["job", "status", &second]).contains("Completed"));
    assert!(fails(root, &devnet, client, &["dispute", "status", "7"]).contains("no dispute 7"));

    // finalize after the challenge window; timeout after the deadline.
    let third = job_id(&ok(
        root,
        &devnet,
        client,
        &[
            "job",
            "create",
            "--reward",
            "1",
            "--capability",
            "wasm",
            "--challenge-window",
            "5",
        ],
    ));
    ok(
        root,
        &devnet,
        client,
        &[
            "job",
            "assign",
            &third,
            "--bid",
            &bid(root, &devnet, worker, &third),
        ],
    );
    ok(
        root,
        &devnet,
        worker,
        &[
            "job",
            "submit-result",
            &third,
            "--result-hash",
            "0x2",
            "--salt",
            "0x5",
        ],
    );
    // Only the commitment is on chain until someone reveals it.
    let committed = ok(root, &devnet, client, &["job", "status", &third]);
    assert!(
        committed.contains("result hash   not revealed"),
        "{committed}"
    );
    let fourth = job_id(&ok(
        root,
        &devnet,
        client,
        &[
            "job",
            "create",
            "--reward",
            "1",
            "--capability",
            "wasm",
            "--deadline-in",
            "30",
            "--collateral",
            "10",
        ],
    ));
    ok(
        root,
        &devnet,
        client,
        &[
            "job",
            "assign",
            &fourth,
            "--bid",
            &bid(root, &devnet, worker, &fourth),
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(devnet.increase_time(60)).unwrap();
    // Finalizing needs the result revealed, and only the committed opening reveals it.
    let unrevealed = fails(root, &devnet, client, &["job", "finalize", &third]);
    assert!(
        unrevealed.contains("JobEscrow.finalize reverted: result not revealed"),
        "{unrevealed}"
    );
    // Half an opening is refused before anything is sent.
    let half = fails(
        root,
        &devnet,
        client,
        &["job", "finalize", &third, "--result-hash", "0x2"],
    );
    assert!(half.contains("--salt"), "{half}");
    let wrong = fails(
        root,
        &devnet,
        client,
        &[
            "job",
            "reveal",
            &third,
            "--result-hash",
            "0x3",
            "--salt",
            "0x5",
        ],
    );
    assert!(wrong.contains("reveal does not match"), "{wrong}");
    ok(
        root,
        &devnet,
        client,
        &[
            "job",
            "finalize",
            &third,
            "--result-hash",
            "0x2",
            "--salt",
            "0x5",
        ],
    );
    let revealed = ok(root, &devnet, client, &["job", "status", &third]);
    assert!(revealed.contains("result hash   0x2"), "{revealed}");
    ok(root, &devnet, client, &["job", "timeout", &fourth]);
    assert!(ok(root, &devnet, client, &["job", "status", &fourth]).contains("Refunded"));

    // batch: the client deposits and signs an acceptance; the worker settles it.
    let deposited = ok(
        root,
        &devnet,
        client,
        &["batch", "deposit", "--amount", "20"],
    );
    assert!(deposited.contains("deposited 20 CIRO"), "{deposited}");
    let accepted_json = ok(
        root,
        &devnet,
        client,
        &[
            "batch",
            "accept",
            "--worker",
            &worker_addr,
            "--amount",
            "10",
            "--commitment",
            "0x1234",
        ],
    );
    let accepted = root.join("accepted.json");
    std::fs::write(&accepted, &accepted_json).unwrap();
    let settled = ok(
        root,
        &devnet,
        worker,
        &[
            "batch",
            "settle",
            "--acceptance",
            accepted.to_str().unwrap(),
        ],
    );
    assert!(settled.contains("settled 1 jobs"), "{settled}");
    let again = fails(
        root,
        &devnet,
        worker,
        &[
            "batch",
            "settle",
            "--acceptance",
            accepted.to_str().unwrap(),
        ],
    );
    assert!(again.contains("acceptance already used"), "{again}");
    let own = fails(
        root,
        &devnet,
        client,
        &[
            "batch",
            "accept",
            "--worker",
            &client_addr,
            "--amount",
            "1",
            "--commitment",
            "0x1",
        ],
    );
    assert!(own.contains("cannot pay itself"), "{own}");
    ok(
        root,
        &devnet,
        client,
        &["batch", "request-withdrawal", "--amount", "4"],
    );
    let early = fails(root, &devnet, client, &["batch", "withdraw"]);
    assert!(early.contains("withdrawal delay not passed"), "{early}");
    let status = ok(
        root,
        &devnet,
        worker,
        &["batch", "status", "--of", &client_addr],
    );
    assert!(
        status.contains("deposit     10 CIRO") && status.contains("withdrawal  4 CIRO"),
        "{status}"
    );

    // unstake: intent, then withdrawal after the 7-day window.
    ok(
        root,
        &devnet,
        worker,
        &["worker", "unstake-intent", "--amount", "50"],
    );
    rt.block_on(devnet.increase_time(7 * 24 * 3600 + 1))
        .unwrap();
    let withdrew = ok(root, &devnet, worker, &["worker", "unstake"]);
    assert!(withdrew.contains("withdrew 50 CIRO"), "{withdrew}");
    let withdrew = ok(root, &devnet, client, &["batch", "withdraw"]);
    assert!(withdrew.contains("withdrew 4 CIRO"), "{withdrew}");

    // indexer: serves what happened above, then stops on SIGTERM.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let database = root.join("indexer.db");
    let mut indexer = Command::new(env!("CARGO_BIN_EXE_ciro"))
        .args(["--root", root.to_str().unwrap()])
        .args(["--network", devnet.rpc_url().as_str()])
        .args(["indexer", "run", "--listen", &listen, "--poll-ms", "50"])
        .arg("--database")
        .arg(&database)
        .env_remove("CIRO_NETWORK")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let path = format!("/v1/workers/{worker_addr}");
    let started = std::time::Instant::now();
    let answer = loop {
        let answer = http_get(&listen, &path);
        let served = matches!(&answer, Some((200, body)) if body.contains("\"name\":\"Unstaked\""));
        if served || started.elapsed() > std::time::Duration::from_secs(120) {
            break answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    Command::new("kill")
        .args(["-TERM", &indexer.id().to_string()])
        .status()
        .unwrap();
    let stopped = indexer.wait().unwrap();
    let Some((200, body)) = answer else {
        panic!("the indexer never served the worker: {answer:?}");
    };
    assert!(
        body.contains("\"capabilities\":[\"wasm\",\"gpu:h100\"]"),
        "{body}"
    );
    // 200 staked, 1 slashed by the timeout, 50 withdrawn.
    assert!(
        body.contains("\"stake\":\"149000000000000000000\""),
        "{body}"
    );
    assert!(stopped.success(), "SIGTERM stops the indexer cleanly");
}

/// A plain HTTP/1.0 GET: (status, body), or `None` if nothing answers.
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

#[test]
fn errors_are_clear_and_change_nothing() {
    let devnet = start_devnet();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    // A missing manifest says how to make one.
    let missing = fails(root, &devnet, 0, &["token", "balance"]);
    assert!(missing.contains("no deployment manifest"), "{missing}");
    assert!(missing.contains("ciro contracts deploy"), "{missing}");

    ok(root, &devnet, 0, &["contracts", "deploy"]);
    let worker_addr = addr(&devnet, 2);

    // An unreachable RPC.
    let output = Command::new(env!("CARGO_BIN_EXE_ciro"))
        .args([
            "--root",
            root.to_str().unwrap(),
            "--network",
            "http://127.0.0.1:9/rpc",
            "--devnet-account",
            "0",
            "contracts",
            "deploy",
        ])
        .output()
        .unwrap();
    let (_, err) = text(&output);
    assert!(!output.status.success());
    assert!(
        err.contains("cannot reach the Starknet RPC at http://127.0.0.1:9/rpc"),
        "{err}"
    );

    // The wrong chain id for the manifest.
    let manifest_path = std::fs::read_dir(root.join("deployments"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let original = std::fs::read_to_string(&manifest_path).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&original).unwrap();
    manifest["chain_id"] = serde_json::json!("0x534e5f4d41494e");
    manifest["chain_name"] = serde_json::json!("SN_MAIN");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let wrong = fails(root, &devnet, 0, &["token", "balance"]);
    assert!(
        wrong.contains("wrong chain") && wrong.contains("SN_MAIN") && wrong.contains("SN_SEPOLIA"),
        "{wrong}"
    );
    std::fs::write(&manifest_path, &original).unwrap();

    // Too little balance, and too little allowance, each name the shortfall.
    let poor = fails(
        root,
        &devnet,
        1,
        &["job", "create", "--reward", "10", "--capability", "wasm"],
    );
    assert!(
        poor.contains("insufficient CIRO balance: need 10 CIRO, have 0 CIRO, short by 10 CIRO"),
        "{poor}"
    );
    ok(
        root,
        &devnet,
        0,
        &["token", "mint", "--to", &addr(&devnet, 1), "--amount", "10"],
    );
    let unapproved = fails(
        root,
        &devnet,
        1,
        &[
            "job",
            "create",
            "--reward",
            "4",
            "--capability",
            "wasm",
            "--no-approve",
        ],
    );
    assert!(
        unapproved.contains("insufficient CIRO allowance"),
        "{unapproved}"
    );
    assert!(unapproved.contains("short by 4 CIRO"), "{unapproved}");
    // Nothing was spent by the refusals.
    assert_eq!(
        ok(root, &devnet, 1, &["token", "balance"]).trim(),
        "10 CIRO"
    );

    // A revert shows the contract's message, not a hex dump.
    let id = job_id(&ok(
        root,
        &devnet,
        1,
        &["job", "create", "--reward", "1", "--capability", "wasm"],
    ));
    let reverted = fails(root, &devnet, 1, &["job", "accept", &id]);
    assert!(
        reverted.contains("JobEscrow.accept reverted: job not submitted"),
        "{reverted}"
    );
    let signed = bid(root, &devnet, 2, &id);
    assert!(signed.contains(&worker_addr), "{signed}");
    let not_client = fails(root, &devnet, 2, &["job", "assign", &id, "--bid", &signed]);
    assert!(
        not_client.contains("caller is not the client"),
        "{not_client}"
    );
    let unstaked = fails(root, &devnet, 1, &["job", "assign", &id, "--bid", &signed]);
    assert!(unstaked.contains("worker not active"), "{unstaked}");
    let garbled = fails(
        root,
        &devnet,
        1,
        &["job", "assign", &id, "--bid", "{\"worker\": 1}"],
    );
    assert!(
        garbled.contains("--bid: not a signed bid as `ciro worker bid` prints it"),
        "{garbled}"
    );
    let missing = fails(
        root,
        &devnet,
        1,
        &["job", "assign", &id, "--bid", "no-such-file.json"],
    );
    assert!(
        missing.contains("--bid: reading no-such-file.json"),
        "{missing}"
    );

    // Bad input is refused before anything is sent.
    let amount = fails(
        root,
        &devnet,
        1,
        &["token", "approve", "--spender", "0x1", "--amount", "1e3"],
    );
    assert!(amount.contains("bad amount \"1e3\""), "{amount}");
    let cap = fails(
        root,
        &devnet,
        2,
        &["worker", "register", "--capability", &"x".repeat(40)],
    );
    assert!(cap.contains("at most 31"), "{cap}");
    let unknown = fails(root, &devnet, 1, &["job", "status", "99"]);
    assert!(unknown.contains("no job 99"), "{unknown}");
    let not_minter = fails(root, &devnet, 1, &["token", "mint", "--amount", "1"]);
    assert!(
        not_minter.contains("CiroToken.mint reverted"),
        "{not_minter}"
    );
}

#[test]
fn a_dry_run_estimates_every_step_and_sends_nothing() {
    let devnet = start_devnet();
    let dir = tempfile::tempdir().unwrap();
    let out = ok(
        dir.path(),
        &devnet,
        0,
        &["contracts", "deploy", "--dry-run"],
    );
    assert!(
        out.contains("would send     declare CiroToken: about"),
        "{out}"
    );
    assert!(
        out.contains(
            "would send     deploy CiroToken: fee unknown (estimated once its class is declared)"
        ),
        "{out}"
    );
    assert!(out.contains("nothing sent"), "{out}");
    assert!(
        !dir.path().join("deployments").exists(),
        "a dry run writes no manifest"
    );
}

#[test]
fn ciro_devnet_serves_a_chain_until_interrupted() {
    use std::io::{BufRead as _, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_ciro"))
        .args(["devnet", "--port", "0", "--accounts", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let url = loop {
        let line = lines.next().expect("devnet prints its RPC URL").unwrap();
        printed.push(line.clone());
        if let Some(url) = line.strip_prefix("rpc      ") {
            break url.trim().to_owned();
        }
    };
    // The accounts follow, addresses only unless --print-keys.
    let mut accounts = 0;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("Ctrl-C") {
            break;
        }
        if line.trim_start().starts_with(char::is_numeric) {
            accounts += 1;
            assert!(
                !line.contains("key"),
                "keys are printed only with --print-keys: {line}"
            );
        }
    }
    assert_eq!(accounts, 3, "{printed:?}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let chain = rt
        .block_on(ciro_bindings::Chain::connect(&url.parse().unwrap()))
        .expect("the printed URL serves a chain");
    assert_eq!(chain.chain_name(), "SN_SEPOLIA");

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "Ctrl-C stops it cleanly: {exit}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l == "devnet stopped"), "{rest:?}");
    let gone = rt.block_on(ciro_bindings::Chain::connect(&url.parse().unwrap()));
    assert!(gone.is_err(), "the port is closed after Ctrl-C");
}

#[test]
fn an_interrupted_deploy_finishes_on_the_next_run() {
    let devnet = start_devnet();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ciro"))
        .args([
            "--root",
            root.to_str().unwrap(),
            "--network",
            devnet.rpc_url().as_str(),
        ])
        .args(["--devnet-account", "0", "contracts", "deploy"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The manifest first appears once the first contract is deployed; kill the deploy then.
    let manifest = root
        .join("deployments")
        .join(format!("127-0-0-1-{}.json", devnet.addr().port()));
    let started = std::time::Instant::now();
    while !manifest.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "the deploy never wrote its manifest"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(
        partial["complete"], false,
        "killed before the end: {partial}"
    );

    let resumed = ok(root, &devnet, 0, &["contracts", "deploy"]);
    assert!(
        resumed.contains("done already   declare CiroToken"),
        "{resumed}"
    );
    assert!(
        resumed.contains("done already   deploy CiroToken"),
        "{resumed}"
    );
    assert!(
        resumed.contains("sent           "),
        "the rest is sent: {resumed}"
    );
    let complete: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(complete["complete"], true);
    assert_eq!(complete["contracts"].as_object().unwrap().len(), 5);
    let again = ok(root, &devnet, 0, &["contracts", "deploy"]);
    assert!(again.contains("0 transactions sent"), "{again}");
}

#[test]
fn signers_come_from_a_keystore_or_an_environment_variable_and_keys_stay_hidden() {
    let devnet = start_devnet();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ok(root, &devnet, 0, &["contracts", "deploy"]);
    let deployer = devnet.account(0);
    let key_hex = format!("{:#x}", deployer.private_key);

    // A starkli keystore and account file.
    let keystore = root.join("keystore.json");
    starknet::signers::SigningKey::from_secret_scalar(deployer.private_key)
        .save_as_keystore(&keystore, "correct horse")
        .unwrap();
    let account_file = root.join("account.json");
    std::fs::write(
        &account_file,
        serde_json::json!({
            "version": 1,
            "variant": {"type": "open_zeppelin", "version": 1, "public_key": format!("{:#x}", deployer.public_key)},
            "deployment": {"status": "deployed", "class_hash": "0x1", "address": format!("{:#x}", deployer.address)}
        })
        .to_string(),
    )
    .unwrap();
    let with_keystore = |password: &str| {
        Command::new(env!("CARGO_BIN_EXE_ciro"))
            .args([
                "--root",
                root.to_str().unwrap(),
                "--network",
                devnet.rpc_url().as_str(),
            ])
            .arg("--keystore")
            .arg(&keystore)
            .arg("--account")
            .arg(&account_file)
            .args(["token", "mint", "--amount", "1"])
            .env("STARKNET_KEYSTORE_PASSWORD", password)
            .output()
            .unwrap()
    };
    let minted = with_keystore("correct horse");
    let (out, err) = text(&minted);
    assert!(minted.status.success(), "{out}{err}");
    assert!(
        out.contains(&format!("minted 1 CIRO to {:#x}", deployer.address)),
        "{out}"
    );
    let wrong = with_keystore("wrong");
    let (out, err) = text(&wrong);
    assert!(!wrong.status.success(), "{out}");
    assert!(err.contains("keystore"), "{err}");

    // A key in a named environment variable; the value never appears in any output.
    let with_env = |var: &str| {
        Command::new(env!("CARGO_BIN_EXE_ciro"))
            .args([
                "--root",
                root.to_str().unwrap(),
                "--network",
                devnet.rpc_url().as_str(),
            ])
            .args([
                "--private-key-env",
                var,
                "--address",
                &format!("{:#x}", deployer.address),
            ])
            .args(["token", "mint", "--amount", "2"])
            .env("CIRO_TEST_DEPLOYER_KEY", &key_hex)
            .output()
            .unwrap()
    };
    let minted = with_env("CIRO_TEST_DEPLOYER_KEY");
    let (out, err) = text(&minted);
    assert!(minted.status.success(), "{out}{err}");
    assert!(out.contains("minted 2 CIRO"), "{out}");
    assert!(
        !out.contains(&key_hex) && !err.contains(&key_hex),
        "the key leaked"
    );
    let unset = with_env("CIRO_TEST_UNSET_KEY");
    let (_, err) = text(&unset);
    assert!(!unset.status.success());
    assert!(err.contains("CIRO_TEST_UNSET_KEY is not set"), "{err}");
    assert_eq!(
        ok(root, &devnet, 0, &["token", "balance"]).trim(),
        "3 CIRO",
        "both signers minted to the deployer"
    );
}

/// Whether two hex felts are equal, however they are padded.
fn same_felt(a: &str, b: &str) -> bool {
    let digits = |s: &str| {
        s.trim_start_matches("0x")
            .trim_start_matches('0')
            .to_lowercase()
    };
    digits(a) == digits(b)
}

/// A timelocked upgrade end to end, as a staker would watch it: the governor announces a
/// class, the indexer shows it pending with the time it can run, an early execute is
/// refused with the contract's reason, and once the delay has passed the contract runs the
/// new class. A stranger can do none of it.
#[test]
fn a_timelocked_upgrade_is_announced_watched_and_executed() {
    let devnet = start_devnet();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (owner, stranger) = (0, 1);
    ok(root, &devnet, owner, &["contracts", "deploy"]);
    // The one manifest the deploy wrote (named after the network URL).
    let manifest_path = std::fs::read_dir(root.join("deployments"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest_path).unwrap()).unwrap();
    let token_class = manifest["contracts"]["CiroToken"]["class_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let reputation_class = manifest["contracts"]["Reputation"]["class_hash"]
        .as_str()
        .unwrap()
        .to_owned();

    // After the deploy, every contract's setup has ended and nothing is pending.
    let status = ok(root, &devnet, stranger, &["contracts", "upgrade", "status"]);
    assert_eq!(status.matches("pending        none").count(), 5, "{status}");
    assert_eq!(
        status.matches("setup          ended").count(),
        5,
        "{status}"
    );
    assert!(
        status.contains("upgrade delay  8380800 s (97 d 0 h)"),
        "{status}"
    );

    let announce = [
        "contracts",
        "upgrade",
        "announce",
        "--contract",
        "Reputation",
        "--class-hash",
        &token_class,
    ];
    // A stranger cannot announce; the contract's own reason is shown.
    let refused = fails(root, &devnet, stranger, &announce);
    assert!(
        refused.contains("caller is not upgrade governor"),
        "{refused}"
    );
    // An undeclared class is refused before any fee.
    let undeclared = fails(
        root,
        &devnet,
        owner,
        &[
            "contracts",
            "upgrade",
            "announce",
            "--contract",
            "Reputation",
            "--class-hash",
            "0x1234",
        ],
    );
    assert!(undeclared.contains("is not declared"), "{undeclared}");
    // A dry run checks and sends nothing.
    let mut dry = announce.to_vec();
    dry.push("--dry-run");
    let dry = ok(root, &devnet, owner, &dry);
    assert!(
        dry.contains("would succeed") && dry.contains("97 d"),
        "{dry}"
    );
    let still = ok(
        root,
        &devnet,
        owner,
        &["contracts", "upgrade", "status", "--contract", "Reputation"],
    );
    assert!(still.contains("pending        none"), "{still}");

    let announced = ok(root, &devnet, owner, &announce);
    assert!(
        announced.contains("announced") && announced.contains("executable from"),
        "{announced}"
    );
    let early = fails(
        root,
        &devnet,
        owner,
        &[
            "contracts",
            "upgrade",
            "execute",
            "--contract",
            "Reputation",
        ],
    );
    assert!(early.contains("upgrade delay has not passed"), "{early}");

    // The indexer shows the pending upgrade to anyone watching.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut indexer = Command::new(env!("CARGO_BIN_EXE_ciro"))
        .args(["--root", root.to_str().unwrap()])
        .args(["--network", devnet.rpc_url().as_str()])
        .args(["indexer", "run", "--listen", &listen, "--poll-ms", "50"])
        .arg("--database")
        .arg(root.join("indexer.db"))
        .env_remove("CIRO_NETWORK")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let governance = |until: &dyn Fn(&serde_json::Value) -> bool| {
        let started = std::time::Instant::now();
        loop {
            if let Some((200, body)) = http_get(&listen, "/v1/governance") {
                let value: serde_json::Value = serde_json::from_str(&body).unwrap();
                if until(&value) {
                    return value;
                }
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(120),
                    "the indexer never showed it: {value}"
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let reputation = |g: &serde_json::Value| -> serde_json::Value {
        g["contracts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["contract"] == "Reputation")
            .cloned()
            .unwrap_or_default()
    };
    let pending = governance(&|g| !reputation(g)["pending_upgrade"].is_null());
    let notice = &reputation(&pending)["pending_upgrade"];
    assert!(
        same_felt(notice["class_hash"].as_str().unwrap(), &token_class),
        "{pending}"
    );
    let ready_at = notice["ready_at"].as_u64().unwrap();
    assert_eq!(
        notice["expires_at"].as_u64().unwrap(),
        ready_at + 14 * 86_400,
        "{pending}"
    );

    // Once the delay has passed, the governor runs it and the contract answers with the
    // new class.
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(devnet.increase_time(8_380_800))
        .unwrap();
    let executed = ok(
        root,
        &devnet,
        owner,
        &[
            "contracts",
            "upgrade",
            "execute",
            "--contract",
            "Reputation",
        ],
    );
    assert!(executed.contains("Reputation now runs class"), "{executed}");
    let after = ok(
        root,
        &devnet,
        stranger,
        &["contracts", "upgrade", "status", "--contract", "Reputation"],
    );
    let class_line = after
        .lines()
        .find(|l| l.trim_start().starts_with("class"))
        .unwrap();
    let shown = class_line.split_whitespace().last().unwrap();
    assert!(same_felt(shown, &token_class), "{after}");
    assert!(!same_felt(shown, &reputation_class), "{after}");
    let upgraded = governance(&|g| reputation(g)["pending_upgrade"].is_null());
    assert!(
        !reputation(&upgraded)["upgraded_to"].is_null(),
        "{upgraded}"
    );

    Command::new("kill")
        .args(["-TERM", &indexer.id().to_string()])
        .status()
        .unwrap();
    assert!(indexer.wait().unwrap().success());
}
