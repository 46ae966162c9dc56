//! The worker view and HTTP caching, on SQLite and PostgreSQL, with batches committed through
//! the store's own write path (the engine's) while the API is read over HTTP:
//! - an answer never mixes two blocks, whatever is committed meanwhile;
//! - a `304 Not Modified` comes only when the answer is unchanged;
//! - a rollback (what a reorg does) invalidates what clients hold;
//! - the view answers exactly what the database does;
//! - saving a worker finds its capability rows by index, not by scanning every worker's.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ciro_bindings::units::{capability, ONE};
use ciro_bindings::Contract;
use ciro_indexer::api::cache::{BLOCK_HASH_HEADER, BLOCK_HEADER};
use ciro_indexer::api::{router, AppState};
use ciro_indexer::metrics::{Metrics, Status};
use ciro_indexer::model::{hex, WorkerStatus};
use ciro_indexer::processors::{Event, Location};
use ciro_indexer::store::{Batch, BlockRow, WorkerFilter};
use ciro_indexer::Store;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;
use serde_json::Value;
use starknet::core::types::Felt;
use starknet::core::utils::get_selector_from_name;

const WORKERS: u64 = 60;
const STAKING: u64 = 0x5a;

fn worker(n: u64) -> Felt {
    Felt::from(0x1000 + n)
}

/// The stake every worker holds once block `b` is indexed (blocks >= 1).
fn stake_at(b: u64) -> u128 {
    u128::from(b) * ONE
}

fn block_hash(b: u64, fork: u64) -> Felt {
    Felt::from(0xb000_0000 + fork * 0x10000 + b)
}

fn staking_event(name: &str, keys: Vec<Felt>, data: Vec<Felt>, at: Location) -> Event {
    let mut k = vec![get_selector_from_name(name).unwrap()];
    k.extend(keys);
    Event::decode(Contract::Staking, Felt::from(STAKING), k, data, at).unwrap()
}

fn u256(v: u128) -> [Felt; 2] {
    [Felt::from(v), Felt::ZERO]
}

/// Block `b` on fork `fork`: at block 1 every worker stakes and registers `wasm` (and even
/// ones `gpu`); at every later block every worker's stake becomes [`stake_at`]`(b)`, and on
/// a fork worker 0 also registers `fpga`.
fn block(b: u64, fork: u64) -> Batch {
    let mut events = Vec::new();
    let at = |i: u64| Location {
        block_number: b,
        tx_hash: Felt::from(0x7000_0000 + fork * 0x10000 + b),
        tx_index: 0,
        event_index: i,
        timestamp: 1_000 + b,
    };
    for n in 0..WORKERS {
        let w = worker(n);
        let (name, old) = if b == 1 {
            ("Staked", 0)
        } else {
            ("StakeIncreased", stake_at(b - 1))
        };
        let new = stake_at(b);
        let data = [u256(new - old), u256(old), u256(new)].concat();
        events.push(staking_event(name, vec![w], data, at(events.len() as u64)));
        let mut caps = Vec::new();
        if b == 1 {
            caps.push(capability("wasm").unwrap());
            if n % 2 == 0 {
                caps.push(capability("gpu").unwrap());
            }
        }
        if fork > 0 && n == 0 {
            caps = vec![capability("wasm").unwrap(), capability("fpga").unwrap()];
        }
        if !caps.is_empty() {
            let mut data = vec![Felt::from(caps.len())];
            data.extend(caps);
            events.push(staking_event(
                "CapabilitiesRegistered",
                vec![w],
                data,
                at(events.len() as u64),
            ));
        }
    }
    Batch {
        blocks: vec![BlockRow {
            number: b,
            hash: block_hash(b, fork),
            parent_hash: if b == 1 {
                Felt::ZERO
            } else {
                block_hash(b - 1, fork)
            },
            timestamp: 1_000 + b,
            events: events.len() as u64,
            txs: Felt::from(fork),
        }],
        events,
    }
}

async fn serve(store: Store) -> SocketAddr {
    let status = Status::shared();
    status.ok(Some(0), 0);
    let app = router(AppState {
        store,
        metrics: Metrics::new(),
        status,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// An answer: status, the block it names, its tag, its body (null for a 304).
struct Answer {
    code: StatusCode,
    block: Option<u64>,
    block_hash: Option<String>,
    tag: Option<String>,
    body: Value,
}

async fn get(http: &reqwest::Client, addr: SocketAddr, path: &str, tag: Option<&str>) -> Answer {
    let mut req = http.get(format!("http://{addr}{path}"));
    if let Some(tag) = tag {
        req = req.header(IF_NONE_MATCH, tag);
    }
    let r = req.send().await.unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let code = r.status();
    let block = header(BLOCK_HEADER).map(|b| b.parse().unwrap());
    let block_hash = header(BLOCK_HASH_HEADER);
    let tag = header(ETAG.as_str());
    let bytes = r.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Answer {
        code,
        block,
        block_hash,
        tag,
        body,
    }
}

fn stake_of(item: &Value) -> u128 {
    item["stake"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_never_mix_two_blocks() {
    let dir = tempfile::tempdir().unwrap();
    for (label, db) in support::both_backends("mix", &dir).await {
        let store = Store::connect(&db).await.unwrap();
        store.commit(&block(1, 0)).await.unwrap();
        let addr = serve(store.clone()).await;
        let last = 40;
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                for b in 2..=last {
                    store.commit(&block(b, 0)).await.unwrap();
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        let mut readers = Vec::new();
        for reader in 0..3 {
            let done = done.clone();
            readers.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let one = hex(worker(7));
                let mut seen = BTreeSet::new();
                let mut answers = 0;
                while !done.load(Ordering::SeqCst) || answers < 10 {
                    answers += 1;
                    // Stats and a worker's detail are read from the database: a query
                    // string of its own makes each one miss the response cache, so every
                    // such answer is a fresh read racing the writer.
                    let path = match (reader + answers) % 4 {
                        0 => "/v1/workers?capability=wasm&limit=500".to_owned(),
                        1 => format!("/v1/stats?r={reader}.{answers}"),
                        2 => format!("/v1/workers/{one}?r={reader}.{answers}"),
                        _ => "/v1/workers?status=active&limit=25".to_owned(),
                    };
                    let a = get(&http, addr, &path, None).await;
                    assert_eq!(a.code, StatusCode::OK, "{path}");
                    let b = a.block.expect("every answer names its block");
                    let hash = a.block_hash.expect("and its hash");
                    assert_eq!(hash, hex(block_hash(b, 0)), "{path}");
                    seen.insert(b);
                    let want = stake_at(b);
                    match (reader + answers) % 4 {
                        1 => {
                            assert_eq!(a.body["cursor"], b, "{path}");
                            assert_eq!(a.body["blocks"], b, "{path}");
                            let total: u128 =
                                a.body["total_stake"].as_str().unwrap().parse().unwrap();
                            assert_eq!(total, u128::from(WORKERS) * want, "{path} at {b}");
                        }
                        2 => {
                            assert_eq!(stake_of(&a.body), want, "{path} at {b}");
                            assert_eq!(a.body["last_block"], b, "{path}");
                            // Staked and CapabilitiesRegistered, then one per block.
                            assert_eq!(a.body["events_total"], b + 1, "{path} at {b}");
                        }
                        _ => {
                            let items = a.body["items"].as_array().unwrap();
                            assert!(!items.is_empty(), "{path}");
                            for item in items {
                                assert_eq!(stake_of(item), want, "{path} at {b}: {item}");
                            }
                        }
                    }
                }
                seen
            }));
        }
        writer.await.unwrap();
        let mut seen = BTreeSet::new();
        for r in readers {
            seen.extend(r.await.unwrap());
        }
        assert!(
            seen.len() > 2,
            "{label}: the readers ran while blocks were committed (saw blocks {seen:?})"
        );
        assert_eq!(store.view().block.as_ref().unwrap().number, last, "{label}");
        assert_view_matches_database(&store, label).await;
    }
}

/// The view's pages are the database query's, filter for filter, page for page.
async fn assert_view_matches_database(store: &Store, label: &str) {
    let view = store.view();
    for capability in [None, Some("wasm"), Some("gpu"), Some("fpga"), Some("none")] {
        for status in [None, Some(WorkerStatus::Active), Some(WorkerStatus::Exited)] {
            for min in [None, Some(0), Some(500_000), Some(1_000_000)] {
                let mut f = WorkerFilter {
                    capability: capability.map(str::to_owned),
                    min_score_ppm: min,
                    status,
                    after: None,
                    limit: 7,
                };
                loop {
                    let from_view = view.page(&f);
                    let from_db = store.workers(&f).await.unwrap();
                    assert_eq!(from_view, from_db, "{label}: {f:?}");
                    let Some(next) = from_view.next else { break };
                    let (score, addr) = next.split_once('_').unwrap();
                    f.after = Some((score.parse().unwrap(), addr.to_owned()));
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_comes_only_when_the_answer_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    for (label, db) in support::both_backends("etag", &dir).await {
        let store = Store::connect(&db).await.unwrap();
        store.commit(&block(1, 0)).await.unwrap();
        let addr = serve(store.clone()).await;
        let http = reqwest::Client::new();
        let list = "/v1/workers?capability=gpu&limit=5";
        let one = format!("/v1/workers/{}", hex(worker(4)));
        for path in [list, one.as_str(), "/v1/stats"] {
            let first = get(&http, addr, path, None).await;
            assert_eq!(first.code, StatusCode::OK, "{label} {path}");
            let tag = first.tag.expect("a tag on every 200");
            let again = get(&http, addr, path, Some(&tag)).await;
            assert_eq!(again.code, StatusCode::NOT_MODIFIED, "{label} {path}");
            assert_eq!(again.body, Value::Null, "a 304 has no body");
            assert_eq!(again.tag.as_deref(), Some(tag.as_str()));
            assert_eq!(again.block, Some(1));
            // Someone else's tag, or a stale one, gets the answer.
            let other = get(&http, addr, path, Some("\"0123\"")).await;
            assert_eq!(other.code, StatusCode::OK, "{label} {path}");
            assert_eq!(other.body, first.body);
        }

        // A block that changes every stake changes every answer: no 304 for the old tags.
        let before = get(&http, addr, list, None).await;
        store.commit(&block(2, 0)).await.unwrap();
        let after = get(&http, addr, list, before.tag.as_deref()).await;
        assert_eq!(after.code, StatusCode::OK, "{label}");
        assert_eq!(after.block, Some(2));
        assert_ne!(after.tag, before.tag);
        assert_eq!(stake_of(&after.body["items"][0]), stake_at(2));

        // A block with no events for these workers leaves the list as it was: 304, and
        // the headers name the new block.
        let empty = Batch {
            blocks: vec![BlockRow {
                number: 3,
                hash: block_hash(3, 0),
                parent_hash: block_hash(2, 0),
                timestamp: 1_003,
                events: 0,
                txs: Felt::ZERO,
            }],
            events: vec![],
        };
        store.commit(&empty).await.unwrap();
        let same = get(&http, addr, list, after.tag.as_deref()).await;
        assert_eq!(same.code, StatusCode::NOT_MODIFIED, "{label}");
        assert_eq!(same.block, Some(3));
        // The stats did change (one more block).
        let stats = get(&http, addr, "/v1/stats", None).await;
        assert_eq!(stats.body["blocks"], 3);

        // Repeats between two blocks came from the response cache.
        let metrics = http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let hits: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("ciro_indexer_http_cache_total{result=\"hit\"} "))
            .expect("a hit count")
            .parse()
            .unwrap();
        assert!(hits >= 6, "{label}: {hits} hits");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_invalidates_what_clients_hold() {
    let dir = tempfile::tempdir().unwrap();
    for (label, db) in support::both_backends("reorg", &dir).await {
        let store = Store::connect(&db).await.unwrap();
        for b in 1..=3 {
            store.commit(&block(b, 0)).await.unwrap();
        }
        let addr = serve(store.clone()).await;
        let http = reqwest::Client::new();
        let list = "/v1/workers?capability=wasm&limit=3";
        let one = format!("/v1/workers/{}", hex(worker(0)));
        let held = get(&http, addr, list, None).await;
        let held_one = get(&http, addr, &one, None).await;
        assert_eq!(held.block, Some(3));

        // Blocks 3 is abandoned: what the engine does on a reorg.
        store.rollback(Some(2)).await.unwrap();
        let now = get(&http, addr, list, held.tag.as_deref()).await;
        assert_eq!(
            now.code,
            StatusCode::OK,
            "{label}: the held answer is stale"
        );
        assert_eq!(now.block, Some(2));
        assert_eq!(stake_of(&now.body["items"][0]), stake_at(2));
        let now_one = get(&http, addr, &one, held_one.tag.as_deref()).await;
        assert_eq!(now_one.code, StatusCode::OK, "{label}");
        assert_eq!(stake_of(&now_one.body), stake_at(2));
        assert_view_matches_database(&store, label).await;

        // The replacing block 3 has other content: worker 0 also offers fpga.
        store.commit(&block(3, 1)).await.unwrap();
        let replaced = get(&http, addr, list, now.tag.as_deref()).await;
        assert_eq!(replaced.code, StatusCode::OK, "{label}");
        assert_eq!(replaced.block, Some(3));
        assert_eq!(replaced.block_hash, Some(hex(block_hash(3, 1))));
        assert_ne!(
            replaced.tag, held.tag,
            "{label}: same block number, other content"
        );
        let fpga = get(&http, addr, "/v1/workers?capability=fpga", None).await;
        assert_eq!(fpga.body["items"].as_array().unwrap().len(), 1, "{label}");
        assert_view_matches_database(&store, label).await;

        // A fresh connection builds the same view from the database.
        let reopened = Store::connect(&db).await.unwrap();
        assert_eq!(
            reopened.view().block.as_ref().unwrap().hash,
            hex(block_hash(3, 1))
        );
        assert_view_matches_database(&reopened, label).await;
    }
}

/// Every save of a worker replaces its capability rows by worker; the table's key leads
/// with the capability, so without an index by worker each save scanned every worker's
/// rows (writing 100,000 workers took over ten minutes). Sequential scans are discouraged
/// on PostgreSQL so that its planner, like SQLite's, shows the index on an empty table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_save_finds_its_capability_rows_by_index() {
    use sqlx::Row;
    let dir = tempfile::tempdir().unwrap();
    for (label, db) in support::both_backends("plan", &dir).await {
        let store = Store::connect(&db).await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        let explain = if label == "postgres" {
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut *conn)
                .await
                .unwrap();
            "EXPLAIN"
        } else {
            "EXPLAIN QUERY PLAN"
        };
        let rows = sqlx::query(&format!(
            "{explain} DELETE FROM worker_capabilities WHERE worker = '0x1'"
        ))
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<String, _>(r.len() - 1).unwrap())
            .collect();
        assert!(
            plan.iter()
                .any(|line| line.contains("worker_capabilities_by_worker")),
            "{label}: deleting a worker's capability rows does not use the index by worker: {plan:?}"
        );
        drop(conn);
        store.close().await;
    }
}
