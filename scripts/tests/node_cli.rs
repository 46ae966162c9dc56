//! `ciro node run` and `ciro job submit` through the real binary: three nodes on loopback
//! TCP, a verified job, refusals, and a clean stop on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
};

use ciro_node::{protocol::Limits, sandbox::workloads, sandbox::Sandbox};

struct NodeProcess {
    child: Child,
    addr: String,
    gateway: String,
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

fn stop(mut node: NodeProcess) -> bool {
    Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status()
        .unwrap();
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
