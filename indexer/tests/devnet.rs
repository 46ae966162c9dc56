//! The indexer against a real devnet running the real contracts, on SQLite and PostgreSQL.

mod support;

use std::time::Duration;

use cainome::cairo_serde::ContractAddress;
use ciro_bindings::contracts::disputes::Ruling;
use ciro_bindings::units::{capability, u256, ONE};
use ciro_bindings::{Contract, Receipt};
use ciro_indexer::api::params;
use ciro_indexer::model::{JobState, WorkerStatus};
use serde_json::{json, Value};
use starknet::accounts::Account as _;
use starknet::core::types::{BlockId, Felt, MaybePreConfirmedBlockWithTxHashes};
use starknet::providers::Provider;
use support::*;

fn hex(f: Felt) -> String {
    format!("{f:#066x}")
}

fn units(n: u128) -> Value {
    Value::String(n.to_string())
}

async fn block_time(suite: &Suite, block: u64) -> u64 {
    match suite
        .chain
        .rpc()
        .get_block_with_tx_hashes(BlockId::Number(block))
        .await
        .unwrap()
    {
        MaybePreConfirmedBlockWithTxHashes::Block(b) => b.timestamp,
        MaybePreConfirmedBlockWithTxHashes::PreConfirmedBlock(b) => b.timestamp,
    }
}

/// The score formula, written out independently of the indexer's code.
fn expected_score(outcomes: &[(f64, f64, u64)]) -> f64 {
    let (mut s, mut f, mut last) = (0.0f64, 0.0f64, None::<u64>);
    for &(ws, wf, t) in outcomes {
        let d = last.map_or(1.0, |l| 0.5f64.powf((t - l) as f64 / (30.0 * 86400.0)));
        s = s * d + ws;
        f = f * d + wf;
        last = Some(t);
    }
    (s + 1.0) / (s + f + 2.0)
}

async fn dispute(suite: &Suite, job_id: u64, ruling: Ruling) -> (u64, Receipt) {
    suite.submit(job_id).await;
    suite.send(&suite.client, suite.dispute_calls(job_id)).await;
    // The disputed worker opens its commitment for the arbitrators.
    suite.reveal(job_id).await;
    let id = suite.job(job_id).await.dispute_id;
    let vote = suite.disputes(&suite.arbitrator).vote_getcall(&id, &ruling);
    (id, suite.send(&suite.arbitrator, vec![vote]).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_lifecycle_shows_up_with_exact_values_on_both_backends() {
    let suite = deploy_suite().await;
    let dir = tempfile::tempdir().unwrap();
    let dbs = both_backends("life", &dir).await;
    let mut indexers = Vec::new();
    for (_, db) in &dbs {
        indexers.push(Running::start(config(&suite, suite.devnet.rpc_url(), db)).await);
    }

    // Two workers stake; the second also offers gpu:h100.
    suite.stake_worker().await;
    let other = account_of(&suite.chain, &suite.devnet, 5);
    let staking_at = ContractAddress(suite.at(Contract::Staking));
    let mint = suite
        .token(&suite.owner)
        .mint_getcall(&ContractAddress(other.address()), &u256(FUNDS));
    suite.send(&suite.owner, vec![mint]).await;
    let caps = vec![capability("wasm").unwrap(), capability("gpu:h100").unwrap()];
    let calls = vec![
        suite
            .token(&other)
            .approve_getcall(&staking_at, &u256(STAKE)),
        suite.staking(&other).stake_getcall(&u256(STAKE)),
        suite.staking(&other).register_getcall(&caps),
    ];
    suite.send(&other, calls).await;

    // Job a completes; b times out; c's dispute goes to the worker, d's to the client.
    let a = suite.assigned_job(3600).await;
    suite.submit(a).await;
    let accept = suite.escrow(&suite.client).accept_getcall(&a);
    let accepted = suite.send(&suite.client, vec![accept]).await;
    let b = suite.assigned_job(60).await;
    suite.devnet.increase_time(120).await.unwrap();
    let claim = suite.escrow(&suite.client).claim_timeout_getcall(&b);
    let timed_out = suite.send(&suite.client, vec![claim]).await;
    let c = suite.assigned_job(3600).await;
    let (dc, won) = dispute(&suite, c, Ruling::WorkerRight).await;
    let d = suite.assigned_job(3600).await;
    let (dd, lost) = dispute(&suite, d, Ruling::ClientRight).await;
    // Two more jobs, settled in one batch from the client's deposit: one reputation event
    // that counts both, and one JobSettled each.
    suite.deposit(2 * REWARD).await;
    let key = suite.client_key();
    let batch = [
        suite.acceptance_signed_with(1, &key),
        suite.acceptance_signed_with(2, &key),
    ];
    let batched = suite
        .send(
            &suite.worker,
            vec![suite.settle_call(&suite.worker, &batch)],
        )
        .await;

    let worker = hex(suite.worker.address());
    let h = head(&suite).await;
    for ix in &indexers {
        ix.synced_to(h).await;
        let (_, w) = ix.get(&format!("/v1/workers/{worker}")).await;
        assert_eq!(
            w["status"], "slashed",
            "a slashed worker that has not topped up"
        );
    }

    // The worker queues an exit, then tops up: it is exiting, no longer slashed.
    let intent = suite
        .staking(&suite.worker)
        .unstake_intent_getcall(&u256(10 * ONE));
    suite.send(&suite.worker, vec![intent]).await;
    let top_up = vec![
        suite
            .token(&suite.worker)
            .approve_getcall(&staking_at, &u256(5 * ONE)),
        suite
            .staking(&suite.worker)
            .increase_stake_getcall(&u256(5 * ONE)),
    ];
    suite.send(&suite.worker, top_up).await;
    let h = head(&suite).await;
    for ix in &indexers {
        ix.synced_to(h).await;
    }

    // Exact values, checked against the contracts' own state where they keep it.
    let timeout_slash = COLLATERAL * u128::from(TIMEOUT_SLASH_BPS) / 10_000;
    let (stake, locked) = suite.stake_of(suite.worker.address()).await;
    assert_eq!(stake, STAKE - timeout_slash - COLLATERAL + 5 * ONE);
    assert_eq!(locked, 0);
    let record = suite.reputation_of(suite.worker.address()).await;
    let outcomes = [
        ("job_completed", &accepted, 1.0, 0.0),
        ("job_failed", &timed_out, 0.0, 3.0),
        ("dispute_won", &won, 1.0, 0.0),
        ("dispute_lost", &lost, 0.0, 5.0),
        ("jobs_completed", &batched, 2.0, 0.0),
    ];
    let mut timed = Vec::new();
    for (_, r, s, f) in &outcomes {
        timed.push((*s, *f, block_time(&suite, r.block).await));
    }
    let score = expected_score(&timed);

    let mut views = Vec::new();
    for ((label, _), ix) in dbs.iter().zip(&indexers) {
        let (code, w) = ix.get(&format!("/v1/workers/{worker}")).await;
        assert_eq!(code, 200, "{label}: {w}");
        assert_eq!(w["status"], "exiting", "{label}");
        assert_eq!(w["stake"], units(stake), "{label}");
        assert_eq!(w["locked"], units(0), "{label}");
        assert_eq!(w["pending_unstake"], units(10 * ONE), "{label}");
        assert!(w["unlock_at"].as_u64().is_some(), "{label}");
        assert_eq!(w["capabilities"], json!(["wasm"]), "{label}");
        assert_eq!(w["jobs_assigned"], 4, "{label}");
        assert_eq!(
            (
                &w["jobs_completed"],
                &w["jobs_failed"],
                &w["disputes_won"],
                &w["disputes_lost"]
            ),
            (
                &json!(record.jobs_completed),
                &json!(record.jobs_failed),
                &json!(record.disputes_won),
                &json!(record.disputes_lost)
            ),
            "{label}"
        );
        assert_eq!(
            (
                record.jobs_completed,
                record.jobs_failed,
                record.disputes_won,
                record.disputes_lost
            ),
            (4, 2, 1, 1),
            "a won dispute also counts as a completed job, a lost one as a failed job, and a \
             batch as many as it paid"
        );
        assert_eq!(w["total_earned"], units(record.total_earned.low), "{label}");
        // The timeout's slash, and the lost dispute's (all of it to the treasury).
        assert_eq!(w["slashes"], 2, "{label}");
        assert_eq!(
            w["total_slashed"],
            units(timeout_slash + COLLATERAL),
            "{label}"
        );
        let got = w["score"].as_f64().unwrap();
        assert!(
            (got - score).abs() < 1e-12,
            "{label}: score {got}, expected {score}"
        );
        assert_eq!(w["score_ppm"], (score * 1e6).round() as i64, "{label}");
        // Provenance: every score step names its transaction and block.
        let history = w["score_history"].as_array().unwrap();
        assert_eq!(history.len(), 5, "{label}: {history:?}");
        for (point, (reason, receipt, _, _)) in history.iter().zip(&outcomes) {
            assert_eq!(point["reason"], *reason, "{label}");
            assert_eq!(point["tx_hash"], hex(receipt.hash), "{label}");
            assert_eq!(point["block_number"], receipt.block, "{label}");
            assert_eq!(
                point["timestamp"],
                block_time(&suite, receipt.block).await,
                "{label}"
            );
        }
        assert_eq!(
            w["score_formula"].as_str().unwrap(),
            ciro_indexer::score::FORMULA
        );

        let (_, j) = ix.get(&format!("/v1/jobs/{a}")).await;
        assert_eq!(j["state"], "completed", "{label}");
        assert_eq!(j["worker"], worker.as_str(), "{label}");
        assert_eq!(j["client"], hex(suite.client.address()), "{label}");
        assert_eq!(j["capability"], "wasm", "{label}");
        assert_eq!(j["reward"], units(REWARD), "{label}");
        assert_eq!(j["collateral"], units(COLLATERAL), "{label}");
        assert_eq!(j["payout"], units(REWARD - fee(REWARD)), "{label}");
        // Accepted without a reveal: the commitment is known, the result hash is not.
        assert_eq!(
            (&j["commitment"], &j["result_hash"]),
            (
                &json!(hex(OPENING.commitment(suite.worker.address()))),
                &Value::Null
            ),
            "{label}"
        );
        assert_eq!(j["fee"], units(fee(REWARD)), "{label}");
        let states: Vec<&str> = j["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["contract"] == "JobEscrow")
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            states,
            [
                "JobCompleted",
                "ResultSubmitted",
                "JobAssigned",
                "JobCreated"
            ],
            "{label}"
        );
        let (_, j) = ix.get(&format!("/v1/jobs/{b}")).await;
        assert_eq!(
            (&j["state"], &j["refund"], &j["slashed"]),
            (&json!("timed_out"), &units(REWARD), &units(timeout_slash)),
            "{label}"
        );
        let (_, j) = ix.get(&format!("/v1/jobs/{c}")).await;
        assert_eq!(
            (&j["state"], &j["dispute_id"], &j["result_hash"]),
            (
                &json!("completed"),
                &json!(dc),
                &json!(hex(OPENING.result_hash))
            )
        );
        let (_, j) = ix.get(&format!("/v1/jobs/{d}")).await;
        assert_eq!(
            (&j["state"], &j["dispute_id"], &j["refund"]),
            (&json!("refunded"), &json!(dd), &units(REWARD)),
            "{label}"
        );
        let (_, x) = ix.get(&format!("/v1/disputes/{dc}")).await;
        assert_eq!(
            (
                &x["status"],
                &x["ruling"],
                &x["votes_worker"],
                &x["votes_client"]
            ),
            (&json!("resolved"), &json!("worker"), &json!(1), &json!(0)),
            "{label}"
        );
        assert_eq!(x["payout"], units(REWARD - fee(REWARD)), "{label}");
        let (_, x) = ix.get(&format!("/v1/disputes/{dd}")).await;
        assert_eq!(
            (
                &x["ruling"],
                &x["by_timeout"],
                &x["bond"],
                &x["slashed_to_treasury"]
            ),
            (
                &json!("client"),
                &json!(false),
                &units(DISPUTE_BOND),
                &units(COLLATERAL)
            ),
            "{label}"
        );
        let votes: Vec<&str> = x["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert!(
            votes.contains(&"Voted") && votes.contains(&"DisputeOpened"),
            "{votes:?}"
        );

        check_routes(ix, &suite, label).await;
        property_check(ix, label).await;

        let (_, stats) = ix.get("/v1/stats").await;
        assert_eq!(
            stats["workers"],
            json!({"active": 1, "exiting": 1}),
            "{label}"
        );
        assert_eq!(
            stats["jobs"],
            json!({"completed": 2, "refunded": 1, "timed_out": 1}),
            "{label}"
        );
        assert_eq!(stats["disputes"], json!({"resolved": 2}), "{label}");
        assert_eq!(
            stats["capabilities"],
            json!({"gpu:h100": 1, "wasm": 2}),
            "{label}"
        );
        assert_eq!(stats["total_stake"], units(stake + STAKE), "{label}");
        assert_eq!(stats["cursor"], h, "{label}");
        views.push(stats);

        // Governance: every contract's owner and roles, its setup ended by the deploy, and
        // no upgrade pending.
        let (code, gov) = ix.get("/v1/governance").await;
        assert_eq!(code, 200, "{label}");
        let owner = json!(hex(suite.owner.address()));
        let contracts = gov["contracts"].as_array().unwrap();
        assert_eq!(contracts.len(), 5, "{label}: {gov}");
        for c in contracts {
            assert_eq!(c["owner"], owner, "{label}: {c}");
            assert_eq!(c["setup_open"], json!(false), "{label}: {c}");
            assert_eq!(c["pending_upgrade"], Value::Null, "{label}: {c}");
            for role in [
                "UPGRADE_GOVERNOR",
                "SECURITY_AGENT",
                "SECURITY_ADMIN",
                "OPERATOR",
            ] {
                assert_eq!(c["roles"][role], json!([owner]), "{label}: {c}");
            }
        }
        let ended = gov["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "SetupEnded")
            .count();
        assert_eq!(ended, 5, "{label}: {gov}");
    }
    for ix in indexers {
        ix.shutdown().await;
    }
    // Both backends hold the same rows, value for value.
    let sqlite = dump(&dbs[0].1).await;
    let postgres = dump(&dbs[1].1).await;
    assert!(!sqlite["events"].as_array().unwrap().is_empty());
    // Each job of the batch is its own event, filed under its worker.
    let settled: Vec<&Value> = sqlite["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "JobSettled")
        .collect();
    assert_eq!(settled.len(), 2, "{settled:?}");
    for e in settled {
        assert_eq!(
            (&e["worker"], &e["tx_hash"]),
            (&json!(worker), &json!(hex(batched.hash)))
        );
    }
    assert_eq!(sqlite, postgres);
}

/// Every route, good and bad input, on a synced indexer of the lifecycle above.
async fn check_routes(ix: &Running, suite: &Suite, label: &str) {
    let worker = hex(suite.worker.address());
    let other = hex(account_of(&suite.chain, &suite.devnet, 5).address());

    // A worker by any spelling of its address; unknown and malformed ones.
    let short = format!("{:#x}", suite.worker.address())
        .to_uppercase()
        .replace("0X", "0x");
    let (code, w) = ix.get(&format!("/v1/workers/{short}")).await;
    assert_eq!((code, &w["address"]), (200, &json!(worker)), "{label}");
    let (code, e) = ix.get("/v1/workers/0x123").await;
    assert_eq!(code, 404, "{label}: {e}");
    let (code, e) = ix.get("/v1/workers/not-an-address").await;
    assert_eq!(
        (code, &e["field"]),
        (400, &json!("address")),
        "{label}: {e}"
    );

    // The capability index, best score first, one row per page.
    let (code, page) = ix.get("/v1/workers?capability=wasm&limit=1").await;
    assert_eq!(code, 200, "{label}: {page}");
    assert_eq!(
        page["items"][0]["address"], other,
        "{label}: 0.5 beats a slashed record"
    );
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, page) = ix
        .get(&format!(
            "/v1/workers?capability=wasm&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(page["items"][0]["address"], worker, "{label}");
    assert_eq!(page["next_cursor"], Value::Null, "{label}");
    let (_, page) = ix.get("/v1/workers?capability=gpu:h100").await;
    let items: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["address"])
        .collect();
    assert_eq!(items, [&json!(other)], "{label}");
    let (_, page) = ix.get("/v1/workers?capability=cuda").await;
    assert_eq!(page["items"], json!([]), "{label}");
    let (_, page) = ix.get("/v1/workers?min_score=0.4").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{label}");
    let (_, page) = ix.get("/v1/workers?status=exiting").await;
    assert_eq!(page["items"][0]["address"], worker, "{label}");
    let (_, page) = ix.get("/v1/workers").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{label}");

    for (query, field) in [
        ("min_score=2", "min_score"),
        ("min_score=abc", "min_score"),
        ("status=sleeping", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=junk", "cursor"),
        ("cursor=5_0x1", "cursor"),
        ("capabilty=wasm", "capabilty"),
        ("capability=", "capability"),
    ] {
        let (code, e) = ix.get(&format!("/v1/workers?{query}")).await;
        assert_eq!(
            (code, &e["field"]),
            (400, &json!(field)),
            "{label} {query}: {e}"
        );
        assert!(e["error"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // Jobs: filters, newest first, pagination, bad input.
    let client = hex(suite.client.address());
    let (_, page) = ix
        .get(&format!("/v1/jobs?client={client}&state=completed"))
        .await;
    let ids: Vec<u64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [3, 1], "{label}");
    let (_, page) = ix.get(&format!("/v1/jobs?worker={worker}&limit=3")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3, "{label}");
    assert_eq!(page["next_cursor"], "2", "{label}");
    let (_, page) = ix
        .get(&format!("/v1/jobs?worker={worker}&limit=3&cursor=2"))
        .await;
    assert_eq!(page["items"][0]["job_id"], 1, "{label}");
    let (_, page) = ix.get(&format!("/v1/jobs?worker={other}")).await;
    assert_eq!(page["items"], json!([]), "{label}");
    for (path, code, field) in [
        ("/v1/jobs/abc", 400, Some("id")),
        ("/v1/jobs/-1", 400, Some("id")),
        ("/v1/jobs/999", 404, None),
        ("/v1/jobs?state=done", 400, Some("state")),
        ("/v1/jobs?client=xyz", 400, Some("client")),
        ("/v1/jobs?worker=12345", 400, Some("worker")),
        ("/v1/jobs?cursor=x", 400, Some("cursor")),
        // Past the largest id the store holds: refused, not wrapped negative.
        ("/v1/jobs?cursor=9223372036854775808", 400, Some("cursor")),
        ("/v1/jobs/9223372036854775808", 400, Some("id")),
        ("/v1/disputes/18446744073709551616", 400, Some("id")),
        ("/v1/jobs?page=2", 400, Some("page")),
        ("/v1/disputes/x", 400, Some("id")),
        ("/v1/workers/%FF", 400, Some("address")),
        ("/v1/disputes/99", 404, None),
        ("/v1/nothing", 404, None),
    ] {
        let (got, e) = ix.get(path).await;
        assert_eq!(got, code, "{label} {path}: {e}");
        assert_eq!(
            e["field"],
            field.map_or(Value::Null, |f| json!(f)),
            "{label} {path}"
        );
    }

    let (code, health) = ix.get("/health").await;
    assert_eq!(
        (code, &health["status"], &health["lag_blocks"]),
        (200, &json!("ok"), &json!(0)),
        "{label}: {health}"
    );
    let (code, metrics) = ix.get("/metrics").await;
    let metrics = metrics.as_str().unwrap().to_owned();
    assert_eq!(code, 200);
    assert!(metrics.contains("ciro_indexer_events_total"), "{metrics}");
    assert!(
        metrics.contains("ciro_indexer_http_requests_total{route=\"/v1/workers\",status=\"400\"}"),
        "{metrics}"
    );
    // A route that exists, with a method it does not take: a JSON 405 naming GET.
    let r = ix.http.post(ix.url("/v1/workers")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405, "{label}");
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET"), "{label}: allow {allow}");
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].as_str().unwrap().contains("GET"), "{label}: {e}");

    let (code, spec) = ix.get("/openapi.json").await;
    assert_eq!(code, 200);
    check_document(&spec, &cursor, suite, label);
    let mut paths: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/health",
            "/metrics",
            "/openapi.json",
            "/v1/disputes/{id}",
            "/v1/governance",
            "/v1/jobs",
            "/v1/jobs/{id}",
            "/v1/stats",
            "/v1/workers",
            "/v1/workers/{address}"
        ]
    );
}

/// Schemathesis against the indexer's own OpenAPI document, on the lifecycle's data: no
/// 5xx, no answer that breaks its documented schema, status or headers, no request the
/// document allows refused, none it forbids accepted, a 405 for every other method.
/// `scripts/test.sh` installs it in `$HOME/.cache/ciro/venv`; `CIRO_SCHEMATHESIS` names
/// another executable.
async fn property_check(ix: &Running, label: &str) {
    let bin = std::env::var_os("CIRO_SCHEMATHESIS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(&std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/ciro/venv/bin/schemathesis")
        });
    assert!(
        bin.exists(),
        "{} is missing: run ./scripts/test.sh, which installs it, or set CIRO_SCHEMATHESIS",
        bin.display()
    );
    let spec = ix.url("/openapi.json");
    let report = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(&bin);
    command
        .args(["run", &spec, "--checks", "all", "--max-examples", "100"])
        // Not the stateful phase: the API is read-only, so sequences add nothing but the
        // links Schemathesis infers from id fields, and it fills a null `dispute_id` into
        // `/v1/disputes/None`.
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--seed", "1", "--workers", "1", "--no-color"])
        .arg("--report-dir")
        .arg(report.path())
        .arg("--generation-database")
        .arg("none")
        // It keeps a cache in its working directory; not in the source tree.
        .current_dir(report.path());
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("schemathesis runs");
    assert!(
        out.status.success(),
        "{label}: schemathesis found the indexer breaking its own document:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The OpenAPI document states the limits the server enforces, and its patterns accept what
/// the server itself hands out.
fn check_document(spec: &Value, worker_cursor: &str, suite: &Suite, label: &str) {
    let param = |path: &str, name: &str| -> Value {
        spec["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{label}: {path} has no parameters"))
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{label}: {path} documents no {name}"))["schema"]
            .clone()
    };
    // The enum of an inlined, optional enum schema, wherever the generator put it.
    fn enum_of(schema: &Value) -> Option<&Value> {
        match schema {
            Value::Object(o) => o.get("enum").or_else(|| o.values().find_map(enum_of)),
            Value::Array(a) => a.iter().find_map(enum_of),
            _ => None,
        }
    }
    for path in ["/v1/workers", "/v1/jobs"] {
        let limit = param(path, "limit");
        assert_eq!(
            (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
            (Some(1), Some(u64::from(params::MAX_LIMIT))),
            "{label}: {path} limit: {limit}"
        );
    }
    let statuses: Vec<&str> = WorkerStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        enum_of(&param("/v1/workers", "status")),
        Some(&json!(statuses)),
        "{label}"
    );
    let states: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        enum_of(&param("/v1/jobs", "state")),
        Some(&json!(states)),
        "{label}"
    );
    let score = param("/v1/workers", "min_score");
    assert_eq!(
        (score["minimum"].as_f64(), score["maximum"].as_f64()),
        (Some(0.0), Some(1.0)),
        "{label}"
    );
    let capability = param("/v1/workers", "capability");
    assert_eq!(
        (
            capability["minLength"].as_u64(),
            capability["maxLength"].as_u64()
        ),
        (Some(1), Some(params::MAX_CAPABILITY_CHARS as u64)),
        "{label}"
    );
    assert_eq!(
        param("/v1/jobs", "cursor")["maximum"].as_u64(),
        Some(params::MAX_ID),
        "{label}"
    );
    // The document's patterns are the server's own.
    for (path, name, pattern) in [
        ("/v1/jobs", "client", params::ADDRESS_PATTERN),
        ("/v1/jobs", "worker", params::ADDRESS_PATTERN),
        ("/v1/workers", "cursor", params::WORKER_CURSOR_PATTERN),
    ] {
        assert_eq!(
            param(path, name)["pattern"],
            pattern,
            "{label}: {path} {name}"
        );
    }
    let path_param = |path: &str| spec["paths"][path]["get"]["parameters"][0]["schema"].clone();
    assert_eq!(
        path_param("/v1/workers/{address}")["pattern"],
        params::ADDRESS_PATTERN,
        "{label}"
    );
    for path in ["/v1/jobs/{id}", "/v1/disputes/{id}"] {
        assert_eq!(
            path_param(path)["maximum"].as_u64(),
            Some(params::MAX_ID),
            "{label}: {path}"
        );
    }
    let pattern = |path: &str, name: &str| {
        regex::Regex::new(param(path, name)["pattern"].as_str().unwrap()).unwrap()
    };
    assert!(
        pattern("/v1/workers", "cursor").is_match(worker_cursor),
        "{label}: the documented cursor pattern refuses the server's {worker_cursor}"
    );
    let address = pattern("/v1/jobs", "client");
    let worker = suite.worker.address();
    for spelling in [
        hex(worker),
        format!("{worker:#x}"),
        format!("{worker:#x}").to_uppercase().replace("0X", "0x"),
    ] {
        assert!(address.is_match(&spelling), "{label}: {spelling}");
    }
    let (too_big, decimal) = (
        format!("0x8{}", "0".repeat(62)),
        worker.to_biguint().to_string(),
    );
    for bad in [
        "not-an-address",
        "0x",
        "0xg1",
        " 0x1",
        too_big.as_str(),
        decimal.as_str(),
    ] {
        assert!(!address.is_match(bad), "{label}: {bad}");
    }
    // Every route that reads the database documents its 500, with the error schema.
    for path in [
        "/v1/workers/{address}",
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/disputes/{id}",
        "/v1/stats",
    ] {
        let mut answer = &spec["paths"][path]["get"]["responses"]["500"];
        if let Some(name) = answer["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/responses/"))
        {
            answer = &spec["components"]["responses"][name];
        }
        assert_eq!(
            answer["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{label}: {path} documents no 500 with the error schema: {answer}"
        );
    }
}

/// Stops and restarts a TCP forwarder to the devnet: an RPC outage the indexer cannot tell
/// from a real one.
struct Proxy {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
    target: std::net::SocketAddr,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr, port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let (mut inbound, _) = listener.accept().await.unwrap();
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self {
            port,
            task: Some(task),
            target,
        }
    }

    fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}/rpc", self.port)).unwrap()
    }

    /// Closes the port and every open connection.
    async fn stop(&mut self) {
        let task = self.task.take().unwrap();
        task.abort();
        let _ = task.await;
    }

    async fn restart(&mut self) {
        *self = Self::start(self.target, self.port).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_outage_stalls_the_indexer_and_it_catches_up_after() {
    let suite = deploy_suite().await;
    let dir = tempfile::tempdir().unwrap();
    let mut proxy = Proxy::start(suite.devnet.addr(), 0).await;
    let db = dir.path().join("outage.db").display().to_string();
    let ix = Running::start(config(&suite, &proxy.url(), &db)).await;
    suite.stake_worker().await;
    ix.synced_to(head(&suite).await).await;

    proxy.stop().await;
    let job = suite.assigned_job(3600).await;
    let h = head(&suite).await;
    // The indexer notices and says so, without advancing.
    let started = std::time::Instant::now();
    loop {
        let (_, health) = ix.get("/health").await;
        if health["last_error"].is_string() {
            assert!(health["cursor"].as_u64() < Some(h), "{health}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no error reported: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, metrics) = ix.get("/metrics").await;
    assert!(metrics
        .as_str()
        .unwrap()
        .contains("ciro_indexer_errors_total{kind=\"rpc\"}"));

    proxy.restart().await;
    ix.synced_to(h).await;
    let (code, j) = ix.get(&format!("/v1/jobs/{job}")).await;
    assert_eq!((code, &j["state"]), (200, &json!("assigned")), "{j}");
    let (_, health) = ix.get("/health").await;
    assert_eq!(health["last_error"], Value::Null, "{health}");
    ix.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_blocks_are_undone_on_both_backends() {
    let suite = deploy_suite().await;
    let dir = tempfile::tempdir().unwrap();
    let dbs = both_backends("reorg", &dir).await;
    let mut indexers = Vec::new();
    for (_, db) in &dbs {
        indexers.push(Running::start(config(&suite, suite.devnet.rpc_url(), db)).await);
    }
    suite.stake_worker().await;
    let a = suite.assigned_job(3600).await;
    suite.submit(a).await;
    let accept = suite.escrow(&suite.client).accept_getcall(&a);
    suite.send(&suite.client, vec![accept]).await;
    let kept = head(&suite).await;
    for ix in &indexers {
        ix.synced_to(kept).await;
    }
    let mut before = Vec::new();
    for ix in &indexers {
        before.push((
            ix.get(&format!("/v1/workers/{}", hex(suite.worker.address())))
                .await
                .1,
            ix.get("/v1/stats").await.1,
        ));
    }

    // A timeout (a slash, a failure) that the chain will then abandon.
    let b = suite.assigned_job(60).await;
    suite.devnet.increase_time(120).await.unwrap();
    let claim = suite.escrow(&suite.client).claim_timeout_getcall(&b);
    suite.send(&suite.client, vec![claim]).await;
    let tip = head(&suite).await;
    for ix in &indexers {
        ix.synced_to(tip).await;
        let (_, w) = ix
            .get(&format!("/v1/workers/{}", hex(suite.worker.address())))
            .await;
        assert_eq!(w["slashes"], 1);
    }
    suite
        .devnet
        .control(
            "devnet_abortBlocks",
            json!({"starting_block_id": {"block_number": kept + 1}}),
        )
        .await
        .unwrap();
    assert_eq!(head(&suite).await, kept);

    // A chain that is only shorter proves nothing (a lagging node looks the same): the
    // indexer waits. The first block of the new fork is the evidence.
    let mint = suite
        .token(&suite.owner)
        .mint_getcall(&ContractAddress(suite.client.address()), &u256(ONE));
    suite.send(&suite.owner, vec![mint]).await;
    let fork = head(&suite).await;
    assert_eq!(fork, kept + 1);

    for ((label, _), (ix, (worker, stats))) in dbs.iter().zip(indexers.iter().zip(&before)) {
        let started = std::time::Instant::now();
        let now = loop {
            let (_, s) = ix.get("/v1/stats").await;
            if s["cursor"] == json!(fork)
                && s["blocks"] == json!(stats["blocks"].as_u64().unwrap() + 1)
            {
                break s;
            }
            if started.elapsed() > Duration::from_secs(60) {
                panic!("{label}: no rollback: {s} {}", ix.get("/health").await.1);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (_, w) = ix
            .get(&format!("/v1/workers/{}", hex(suite.worker.address())))
            .await;
        assert_eq!(
            &w, worker,
            "{label}: the worker is as before the abandoned blocks"
        );
        for key in [
            "workers",
            "jobs",
            "disputes",
            "capabilities",
            "events",
            "total_stake",
            "total_locked",
        ] {
            assert_eq!(now[key], stats[key], "{label}: {key}");
        }
        let (code, _) = ix.get(&format!("/v1/jobs/{b}")).await;
        assert_eq!(code, 404, "{label}: the abandoned job is gone");
        let (_, metrics) = ix.get("/metrics").await;
        assert!(
            metrics
                .as_str()
                .unwrap()
                .contains("ciro_indexer_reorgs_total 1"),
            "{label}"
        );
    }

    // The new fork goes on; the result equals a fresh index of it.
    let c = suite.assigned_job(3600).await;
    assert_eq!(c, b, "the new fork reuses the abandoned job id");
    let h = head(&suite).await;
    for ix in &indexers {
        ix.synced_to(h).await;
    }
    for ix in indexers {
        ix.shutdown().await;
    }
    for (label, db) in &dbs {
        let fresh = if *label == "sqlite" {
            dir.path().join("fresh.db").display().to_string()
        } else {
            postgres("fresh").await
        };
        let again = Running::start(config(&suite, suite.devnet.rpc_url(), &fresh)).await;
        again.synced_to(h).await;
        again.shutdown().await;
        assert_eq!(dump(db).await, dump(&fresh).await, "{label}");
    }
}

/// A child process that is killed and reaped however the test ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_indexer_resumes_without_losing_or_repeating_rows() {
    let suite = deploy_suite().await;
    suite.stake_worker().await;
    for _ in 0..4 {
        let job = suite.assigned_job(3600).await;
        suite.submit(job).await;
        let accept = suite.escrow(&suite.client).accept_getcall(&job);
        suite.send(&suite.client, vec![accept]).await;
    }
    let h = head(&suite).await;
    let dir = tempfile::tempdir().unwrap();
    for (label, db) in both_backends("crash", &dir).await {
        // The binary on this database; `extra` flags after the common ones.
        let indexer = |extra: &[&str]| {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ciro-indexer"));
            command
                .args(["--rpc-url", suite.devnet.rpc_url().as_str()])
                .args(["--manifest", manifest(&suite).to_str().unwrap()])
                .args(["--database", &db, "--listen", "127.0.0.1:0"])
                .args(extra)
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::null());
            command
        };
        // One block per step, so the kill lands mid-ingest.
        let spawn = || indexer(&["--range-blocks", "1"]).spawn().unwrap();
        // Migrate before the child starts: two processes must not race to create tables.
        let store = ciro_indexer::Store::connect(&db).await.unwrap();
        let mut child = Reaped(spawn());
        let started = std::time::Instant::now();
        let killed_at = loop {
            if let Some(c) = store.cursor().await.unwrap() {
                if c.number >= suite.deployment.first_block() + 5 {
                    child.0.kill().unwrap(); // SIGKILL
                    child.0.wait().unwrap();
                    break c.number;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{label}: no progress"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert!(
            killed_at < h,
            "{label}: killed after the end ({killed_at} of {h})"
        );

        let mut child = Reaped(spawn());
        let started = std::time::Instant::now();
        while store.cursor().await.unwrap().map(|c| c.number) != Some(h) {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{label}: no resume"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // SIGTERM: a graceful stop.
        std::process::Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(
            child.0.wait().unwrap().success(),
            "{label}: SIGTERM exits 0"
        );
        store.close().await;

        // --from-block past the cursor would leave a hole: refused, nothing changes.
        let before = dump(&db).await;
        let refused = indexer(&["--from-block", &(h + 10).to_string()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{label}");
        assert!(stderr.contains("is past the cursor"), "{label}: {stderr}");
        assert_eq!(dump(&db).await, before, "{label}");

        let fresh = if label == "sqlite" {
            dir.path().join("crash-fresh.db").display().to_string()
        } else {
            postgres("crashfresh").await
        };
        let again = Running::start(config(&suite, suite.devnet.rpc_url(), &fresh)).await;
        again.synced_to(h).await;
        again.shutdown().await;
        let (resumed, full) = (dump(&db).await, dump(&fresh).await);
        assert_eq!(
            resumed, full,
            "{label}: resumed index differs from a full re-index"
        );
        assert_eq!(
            resumed["blocks"].as_array().unwrap().len() as u64,
            h - suite.deployment.first_block() + 1,
            "{label}"
        );
        assert_eq!(resumed["jobs"].as_array().unwrap().len(), 4, "{label}");
    }
}
