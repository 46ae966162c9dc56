//! What the indexer's tests share: the bindings' devnet fixture (a deployed suite and its
//! parties), databases on both backends, a running indexer, and dumps of its view.

#![allow(dead_code)] // each test file takes what it needs

#[path = "../../../bindings/tests/common/mod.rs"]
pub mod chain;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ciro_indexer::service;
use ciro_indexer::{Config, Store};
use serde_json::Value;
use sqlx::{Connection, Executor, Row};
use starknet::providers::Provider;
use tokio::sync::watch;
use url::Url;

pub use chain::*;

/// Where PostgreSQL is: `CIRO_TEST_POSTGRES`, or the machine's local server.
pub fn postgres_base() -> String {
    std::env::var("CIRO_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh, empty PostgreSQL schema; the URL selects it.
pub async fn postgres(tag: &str) -> String {
    sqlx::any::install_default_drivers();
    let base = postgres_base();
    let schema = format!(
        "ciro_{tag}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut conn = sqlx::AnyConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base} (set CIRO_TEST_POSTGRES): {e}"));
    conn.execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .unwrap();
    format!("{base}?options=-c%20search_path%3D{schema}")
}

/// One database of each backend: (label, database setting). The SQLite file lives in `dir`.
pub async fn both_backends(tag: &str, dir: &tempfile::TempDir) -> Vec<(&'static str, String)> {
    let file = dir.path().join(format!("{tag}.db"));
    vec![
        ("sqlite", file.display().to_string()),
        ("postgres", postgres(tag).await),
    ]
}

/// The suite's manifest file.
pub fn manifest(suite: &Suite) -> PathBuf {
    suite._dir.path().join("devnet.json")
}

/// Settings for an indexer of `suite` into `database`, on a free port, polling fast.
pub fn config(suite: &Suite, rpc: &Url, database: &str) -> Config {
    Config {
        rpc_url: rpc.clone(),
        manifest: manifest(suite),
        database: database.to_owned(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        poll_ms: 50,
        max_backoff_ms: 500,
        log_every_secs: 3600,
        ..Config::default()
    }
}

/// An indexer running in this process.
pub struct Running {
    pub addr: SocketAddr,
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<ciro_indexer::Result<()>>,
    pub http: reqwest::Client,
}

impl Running {
    pub async fn start(config: Config) -> Self {
        let (stop, rx) = watch::channel(false);
        let (ready, addr) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(service::run(config, rx, Some(ready)));
        let addr = addr.await.expect("the indexer binds its port");
        Self {
            addr,
            stop,
            task,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path`: (status, JSON body).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// Waits until the cursor reaches `block`.
    pub async fn synced_to(&self, block: u64) {
        let started = Instant::now();
        loop {
            let (_, health) = self.get("/health").await;
            if health["cursor"].as_u64() >= Some(block) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "not synced to block {block}: {health}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn shutdown(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().expect("the indexer stops cleanly");
    }
}

/// The chain's newest block.
pub async fn head(suite: &Suite) -> u64 {
    suite.chain.rpc().block_number().await.unwrap()
}

/// Every table of the view, in a fixed order, as JSON: equal dumps mean equal databases.
pub async fn dump(database: &str) -> Value {
    let store = Store::connect(database).await.unwrap();
    let mut out = serde_json::Map::new();
    for (table, order) in [
        ("blocks", "number"),
        ("events", "block_number, tx_index, event_index"),
        ("workers", "address"),
        ("worker_capabilities", "capability, worker"),
        ("score_history", "worker, block_number, event_index"),
        ("jobs", "job_id"),
        ("disputes", "dispute_id"),
    ] {
        let rows = sqlx::query(&format!("SELECT * FROM {table} ORDER BY {order}"))
            .fetch_all(store.pool())
            .await
            .unwrap();
        let rows: Vec<Value> = rows.iter().map(row_json).collect();
        out.insert(table.into(), Value::Array(rows));
    }
    store.close().await;
    Value::Object(out)
}

fn row_json(row: &sqlx::any::AnyRow) -> Value {
    use sqlx::Column;
    let mut obj = serde_json::Map::new();
    for (n, col) in row.columns().iter().enumerate() {
        let v = if let Ok(v) = row.try_get::<Option<i64>, _>(n) {
            v.map_or(Value::Null, Value::from)
        } else if let Ok(v) = row.try_get::<Option<f64>, _>(n) {
            v.map_or(Value::Null, Value::from)
        } else {
            row.try_get::<Option<String>, _>(n)
                .unwrap()
                .map_or(Value::Null, Value::from)
        };
        obj.insert(col.name().to_owned(), v);
    }
    Value::Object(obj)
}
