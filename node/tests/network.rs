//! The job flow end to end over real libp2p: discovery, announcement, bids, selection,
//! execution in wasmtime, commit, result and k-of-n verification, and what happens when
//! workers lie, die, stall or flood.

mod common;

use std::{sync::Arc, time::Duration};

use ciro_node::{
    job::AssignmentState,
    reputation::{LocalTable, Standing},
    NodeConfig, WorkerConduct,
};
use common::*;
use libp2p::Multiaddr;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_nodes_discover_bid_run_verify_and_survive_the_bootstrap_loss() {
    let (boot, workers) = network(4).await;
    let client = start(config(memory(), &boot.addrs(), &[])).await;
    let gateway = ciro_node::gateway::serve(client.shared.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    // Discovery: every worker is found through the DHT's provider records or ads.
    let found = discover(&client, "wasm", 4).await;
    for w in &workers {
        assert!(found.contains(&w.peer_id()), "{} not found", w.peer_id());
    }
    assert!(!found.contains(&boot.peer_id()));

    // Announcement → bids → selection of 2 → execution → commit → result → 2-of-2.
    let request = matmul(20, 5, 2);
    let want = expected(&request);
    let id = client.shared.submit(request).await.unwrap();
    let job = settled(&client, &id).await;
    assert_completed(&job, &want);
    assert!(job.bids.len() >= 2, "{:?}", job.bids);
    assert!(job
        .bids
        .iter()
        .all(|b| workers.iter().any(|w| w.peer_id() == b.worker)));
    assert_eq!(job.assignments.len(), 2);
    assert!(job
        .assignments
        .iter()
        .all(|a| a.state == AssignmentState::Delivered && a.fuel_used.unwrap() > 0));
    assert!(job.verification_failures.is_empty());
    assert_eq!(
        metric(&client, "ciro_node_jobs_total{status=\"completed\"}"),
        1.0
    );
    let ran: f64 = workers
        .iter()
        .map(|w| metric(w, "ciro_node_executions_total{outcome=\"ok\"}"))
        .sum();
    assert_eq!(ran, 2.0);

    // The same job over the gateway.
    let http = format!("http://{}", gateway.addr);
    let web = reqwest::Client::new();
    let body: serde_json::Value = web
        .get(format!("{http}/v1/jobs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "completed");
    assert_eq!(
        body["result"]["hash"],
        id_hex(&job.result.as_ref().unwrap().hash)
    );
    assert_eq!(body["assignments"].as_array().unwrap().len(), 2);
    let peers: serde_json::Value = web
        .get(format!("{http}/v1/peers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(peers["peers"].as_array().unwrap().len() >= 3, "{peers}");

    // Bad input over the gateway: a clear 4xx naming the field, and nothing submitted.
    let matmul_b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(ciro_node::sandbox::workloads::compile(
            ciro_node::sandbox::workloads::MATMUL,
        ))
    };
    for (body, status, field) in [
        (
            serde_json::json!({"module": "%%%", "input": ""}),
            400,
            "module",
        ),
        (
            serde_json::json!({"module": matmul_b64, "input": "@@"}),
            400,
            "input",
        ),
        (
            serde_json::json!({"module": matmul_b64, "redundancy": 0}),
            400,
            "redundancy",
        ),
        (
            serde_json::json!({"module": matmul_b64, "capability": "GPU!"}),
            400,
            "capability",
        ),
        (
            serde_json::json!({"module": matmul_b64, "fuel": 0}),
            400,
            "limits",
        ),
        (
            serde_json::json!({"module": matmul_b64, "reward": "-1"}),
            400,
            "reward",
        ),
        (
            serde_json::json!({"module": matmul_b64, "deadline_secs": 0}),
            400,
            "deadline",
        ),
        (
            serde_json::json!({"module": matmul_b64, "surprise": 1}),
            422,
            "body",
        ),
        (serde_json::json!({"input": ""}), 400, "module"),
        (serde_json::json!({"module_wat": "(module)"}), 422, "module"),
        (
            serde_json::json!({"module_wat": "(not wat"}),
            400,
            "module_wat",
        ),
    ] {
        let response = web
            .post(format!("{http}/v1/jobs"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["field"], field, "{body}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let garbage = web
        .post(format!("{http}/v1/jobs"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status().as_u16(), 400);
    for (path, status) in [
        ("/v1/jobs/nothex", 400),
        (&format!("/v1/jobs/{}", "ab".repeat(32)), 404),
        ("/v1/nowhere", 404),
    ] {
        let response = web.get(format!("{http}{path}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
    }
    assert_eq!(
        client.shared.jobs().await.len(),
        1,
        "nothing else was submitted"
    );

    // Losing the bootstrap node: a newcomer that lists it first still joins through the
    // next, finds the workers and gets its job done.
    let fallback = workers[0].addrs();
    boot.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let late = start(config(memory(), &[boot.addrs(), fallback].concat(), &[])).await;
    discover(&late, "wasm", 3).await;
    let request = matmul(8, 9, 2);
    let want = expected(&request);
    let id = late.shared.submit(request).await.unwrap();
    assert_completed(&settled(&late, &id).await, &want);
}

fn id_hex(hash: &ciro_node::protocol::Hash) -> String {
    hash.hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_worker_is_outvoted_and_recorded() {
    let boot = start(config(memory(), &[], &[])).await;
    let liar = start(NodeConfig {
        conduct: WorkerConduct::Lie,
        ..config(memory(), &boot.addrs(), &["wasm"])
    })
    .await;
    let honest = [
        start(config(memory(), &boot.addrs(), &["wasm"])).await,
        start(config(memory(), &boot.addrs(), &["wasm"])).await,
    ];
    // The client trusts the liar most, so the liar is certainly selected.
    let table = LocalTable::default();
    table.set(
        liar.peer_id(),
        Standing {
            reputation_ppm: 1_000_000,
            stake: u128::MAX,
        },
    );
    let client = start(NodeConfig {
        reputation: Arc::new(table),
        bid_window: Duration::from_millis(400),
        ..config(memory(), &boot.addrs(), &[])
    })
    .await;
    discover(&client, "wasm", 3).await;

    let request = matmul(12, 3, 2);
    let want = expected(&request);
    let id = client.shared.submit(request).await.unwrap();
    let job = settled(&client, &id).await;
    assert_completed(&job, &want);
    assert!(job.assignment(&liar.peer_id()).is_some(), "{job:#?}");
    assert_eq!(job.verification_failures.len(), 1, "{job:#?}");
    let failure = &job.verification_failures[0];
    assert_eq!(failure.worker, liar.peer_id());
    assert_eq!(failure.accepted, Some(job.result.as_ref().unwrap().hash));
    assert_ne!(failure.claimed, failure.accepted);
    assert!(!job
        .result
        .as_ref()
        .unwrap()
        .agreeing
        .contains(&liar.peer_id()));
    assert_eq!(job.extra_workers, 1);
    assert_eq!(
        metric(&client, "ciro_node_verification_failures_total"),
        1.0
    );
    drop(honest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_is_replaced() {
    let (boot, mut workers) = network(3).await;
    let client = start(config(memory(), &boot.addrs(), &[])).await;
    discover(&client, "wasm", 3).await;

    // Long enough (about a second or more) to kill its worker in the middle of it.
    let request = hash_chain(LONG_ROUNDS, 1);
    let want = expected(&request);
    let id = client.shared.submit(request).await.unwrap();
    let victim = eventually("a worker to accept", Duration::from_secs(30), || async {
        let job = client.shared.job(&id).await?;
        job.assignments
            .iter()
            .find(|a| a.state == AssignmentState::Accepted)
            .map(|a| a.worker)
    })
    .await;
    let index = workers.iter().position(|w| w.peer_id() == victim).unwrap();
    let killed = workers.remove(index);
    // Give it a moment to fetch and start running, then kill it: its connections drop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    killed.kill();

    let job = settled(&client, &id).await;
    assert_completed(&job, &want);
    let dead = job.assignment(&victim).unwrap();
    assert_eq!(dead.state, AssignmentState::Dropped, "{job:#?}");
    assert!(!job.result.as_ref().unwrap().agreeing.contains(&victim));
    assert_eq!(metric(&client, "ciro_node_reassignments_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_worker_times_out_and_is_replaced() {
    let boot = start(config(memory(), &[], &[])).await;
    let staller = start(NodeConfig {
        conduct: WorkerConduct::Stall,
        ..config(memory(), &boot.addrs(), &["wasm"])
    })
    .await;
    let honest = start(config(memory(), &boot.addrs(), &["wasm"])).await;
    let table = LocalTable::default();
    table.set(
        staller.peer_id(),
        Standing {
            reputation_ppm: 1_000_000,
            stake: u128::MAX,
        },
    );
    let client = start(NodeConfig {
        reputation: Arc::new(table),
        assign_grace: Duration::from_millis(300),
        bid_window: Duration::from_millis(400),
        ..config(memory(), &boot.addrs(), &[])
    })
    .await;
    discover(&client, "wasm", 2).await;

    let mut request = matmul(6, 1, 1);
    request.limits.timeout_ms = 700;
    let want = expected(&request);
    let id = client.shared.submit(request).await.unwrap();
    let job = settled(&client, &id).await;
    assert_completed(&job, &want);
    assert_eq!(job.assignments.len(), 2, "{job:#?}");
    assert_eq!(job.assignments[0].worker, staller.peer_id());
    assert_eq!(job.assignments[0].state, AssignmentState::TimedOut);
    assert_eq!(job.assignments[1].worker, honest.peer_id());
    assert_eq!(
        job.result.as_ref().unwrap().agreeing,
        vec![honest.peer_id()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transport_carries_a_whole_job() {
    for (name, listen, marker) in [
        ("tcp", "/ip4/127.0.0.1/tcp/0", "/tcp/"),
        ("quic", "/ip4/127.0.0.1/udp/0/quic-v1", "/quic-v1"),
        ("websocket", "/ip4/127.0.0.1/tcp/0/ws", "/ws"),
    ] {
        let listen: Multiaddr = listen.parse().unwrap();
        let boot = start(config(listen.clone(), &[], &[])).await;
        let worker = start(config(listen.clone(), &boot.addrs(), &["wasm"])).await;
        let client = start(config(listen.clone(), &boot.addrs(), &[])).await;
        for node in [&boot, &worker, &client] {
            let addrs = node.addrs();
            assert!(
                addrs.iter().all(|a| a.to_string().contains(marker)),
                "{name}: {addrs:?}"
            );
        }
        discover(&client, "wasm", 1).await;
        let request = matmul(4, 2, 1);
        let want = expected(&request);
        let id = client.shared.submit(request).await.unwrap();
        let job = settled(&client, &id).await;
        assert_completed(&job, &want);
        assert_eq!(
            job.result.unwrap().agreeing,
            vec![worker.peer_id()],
            "{name}"
        );
        let peers = client.shared.peers().await;
        let seen = peers
            .iter()
            .find(|p| p.peer_id == worker.peer_id())
            .unwrap();
        assert!(
            seen.addrs.iter().any(|a| a.to_string().contains(marker)),
            "{name}: {seen:?}"
        );
    }
}

/// Rounds of the hash chain that take a worker a second or more.
const LONG_ROUNDS: u32 = 150_000_000;
