//! `ciro node run` and `ciro job submit` through the real binary: three nodes on loopback
//! TCP, a verified job, refusals, and a clean stop on SIGTERM; a module built to stall its
//! compiler, refused while the node keeps answering, and a prompt stop on SIGINT.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use base64::Engine as _;

use ciro_node::{protocol::Limits, sandbox::workloads, sandbox::Sandbox};

struct NodeProcess {
    child: Child,
    addr: String,
    gateway: String,
}

/// A node a failing test leaves behind is killed, not leaked.
impl Drop for NodeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `ciro node run` and reads its listen address and gateway from its stdout.
fn node(dir: &Path, name: &str, extra: &[&str]) -> NodeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ciro"))
        .args(["node", "run", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .args(["--http", "127.0.0.1:0", "--key-file"])
        .arg(dir.join(format!("{name}.key")))
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the ciro binary runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut addr, mut gateway) = (None, None);
    while gateway.is_none() {
        let line = lines
            .next()
            .expect("the node printed its addresses before exiting")
            .unwrap();
        if let Some(a) = line.strip_prefix("listening on ") {
            addr = Some(a.to_owned());
        }
        if let Some(g) = line.strip_prefix("gateway on ") {
            gateway = Some(g.to_owned());
        }
    }
    // Keep draining stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    NodeProcess {
        child,
        addr: addr.expect("a listen address"),
        gateway: gateway.unwrap(),
    }
}

fn signal(node: &NodeProcess, signal: &str) {
    Command::new("kill")
        .args([signal, &node.child.id().to_string()])
        .status()
        .unwrap();
}

fn stop(mut node: NodeProcess) -> bool {
    signal(&node, "-TERM");
    node.child.wait().unwrap().success()
}

fn submit(gateway: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ciro"))
        .args(["job", "submit", "--node", gateway])
        .args(args)
        .output()
        .expect("the ciro binary runs")
}

fn workload(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../node/workloads")
        .join(format!("{name}.wat"))
}

#[test]
fn three_node_processes_run_a_verified_job_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let first = node(dir.path(), "first", &["--capability", "wasm"]);
    let second = node(
        dir.path(),
        "second",
        &["--capability", "wasm", "--bootstrap", &first.addr],
    );
    let client = node(dir.path(), "client", &["--bootstrap", &first.addr]);

    let input = [64u32.to_le_bytes(), 1u32.to_le_bytes()].concat();
    let expected = Sandbox::new()
        .unwrap()
        .run(
            &workloads::compile(workloads::MATMUL),
            &input,
            &Limits::default(),
        )
        .unwrap()
        .output;
    let matmul = workload("matmul");
    let output = submit(
        &client.gateway,
        &[
            "--wasm",
            matmul.to_str().unwrap(),
            "--input-hex",
            &hex::encode(&input),
            "--redundancy",
            "2",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("2 of 2 workers agree"), "{stdout}");
    assert!(
        stdout.contains(&format!("output: 0x{}", hex::encode(&expected))),
        "{stdout}"
    );
    assert!(stdout.contains("bidding:"), "progress is shown: {stdout}");

    // Refusals: the node's reason, a non-zero exit, nothing run.
    let too_many = submit(
        &client.gateway,
        &[
            "--wasm",
            matmul.to_str().unwrap(),
            "--input-hex",
            "00",
            "--redundancy",
            "9",
        ],
    );
    assert!(!too_many.status.success());
    let err = String::from_utf8_lossy(&too_many.stderr);
    assert!(err.contains("(redundancy)") && err.contains("400"), "{err}");

    let wasi = dir.path().join("wasi.wat");
    std::fs::write(
        &wasi,
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
              (memory (export "memory") 1))"#,
    )
    .unwrap();
    let refused = submit(
        &client.gateway,
        &["--wasm", wasi.to_str().unwrap(), "--input-hex", "00"],
    );
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("imports `wasi_snapshot_preview1::proc_exit`"),
        "{err}"
    );

    let not_wasm = dir.path().join("not.wasm");
    std::fs::write(&not_wasm, "hello").unwrap();
    let unreadable = submit(
        &client.gateway,
        &["--wasm", not_wasm.to_str().unwrap(), "--input-hex", "00"],
    );
    assert!(!unreadable.status.success());
    let err = String::from_utf8_lossy(&unreadable.stderr);
    assert!(
        err.contains("neither binary Wasm nor WebAssembly text"),
        "{err}"
    );

    // A job that fails deterministically is reported as failed.
    let sieve = workload("prime_sieve");
    let trapped = submit(
        &client.gateway,
        &["--wasm", sieve.to_str().unwrap(), "--input-hex", "00"],
    );
    assert!(!trapped.status.success());
    let err = String::from_utf8_lossy(&trapped.stderr);
    assert!(err.contains("the job itself failed"), "{err}");

    for (name, node) in [("client", client), ("second", second), ("first", first)] {
        assert!(stop(node), "SIGTERM stops the {name} node cleanly");
    }
}

/// The JSON body of `GET url`.
async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// How long `GET url` takes to answer 200, or `None` when it does not.
async fn answer_time(http: &reqwest::Client, url: &str) -> Option<Duration> {
    let started = Instant::now();
    let response = http.get(url).send().await.ok()?;
    response.status().is_success().then(|| started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_built_to_stall_compilation_is_refused_while_the_node_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let worker = node(dir.path(), "worker", &["--capability", "wasm"]);
    let client = node(dir.path(), "client", &["--bootstrap", &worker.addr]);
    let http = reqwest::Client::new();
    let peers_url = format!("{}/v1/peers", client.gateway);
    let health_url = format!("{}/health", client.gateway);

    // The client's peers and health are answered every 50 ms while the module is refused.
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = tokio::spawn({
        let (http, watching) = (http.clone(), watching.clone());
        let (peers_url, health_url) = (peers_url.clone(), health_url.clone());
        async move {
            let mut slowest = Duration::ZERO;
            let mut answers = 0;
            while watching.load(Ordering::Relaxed) {
                for url in [&peers_url, &health_url] {
                    let took = answer_time(&http, url)
                        .await
                        .expect("the gateway answers 200");
                    slowest = slowest.max(took);
                    answers += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (slowest, answers)
        }
    });

    let module = workloads::nested("block", 80_000, "");
    assert!(module.len() > 200_000, "{} bytes", module.len());
    let refused = http
        .post(format!("{}/v1/jobs", client.gateway))
        .json(&serde_json::json!({
            "module": base64::engine::general_purpose::STANDARD.encode(&module),
            "input": "AA==",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["field"], "module", "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("too costly to compile") && error.contains("more than 1000 deep"),
        "{error}"
    );
    // Keep watching a little past the refusal.
    tokio::time::sleep(Duration::from_millis(500)).await;
    watching.store(false, Ordering::Relaxed);
    let (slowest, answers) = watcher.await.unwrap();
    assert!(answers >= 4, "{answers} answers");
    assert!(
        slowest < Duration::from_millis(200),
        "the slowest answer took {slowest:?}"
    );

    // The client still sees its worker, and its loop is live.
    let peers = get_json(&http, &peers_url).await;
    let worker_id = worker.addr.rsplit('/').next().unwrap();
    assert!(
        peers["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["peer_id"] == worker_id && p["connected"] == true),
        "{peers}"
    );
    let health = get_json(&http, &health_url).await;
    assert_eq!(health["status"], "ok", "{health}");

    // SIGINT stops both nodes within 5 s.
    for mut node in [client, worker] {
        signal(&node, "-INT");
        let asked = Instant::now();
        let status = loop {
            if let Some(status) = node.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                asked.elapsed() < Duration::from_secs(5),
                "the node was still running 5 s after SIGINT"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{status}");
    }
}
