//! The API's reads. Lists use keyset pagination: the cursor is the last row's sort key, so
//! a page costs an index seek however deep it is, and rows never repeat or go missing
//! between pages.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Executor, Row, Transaction};
use utoipa::ToSchema;

use super::rows::{job_from, worker_from, JOB_COLUMNS, WORKER_COLUMNS};
use super::view::ViewBlock;
use super::write::{event_from, EVENT_COLUMNS};
use super::{amount, i, u, Backend, Store};
use crate::error::Result;
use crate::model::{hex, Dispute, Job, JobState, ScorePoint, Worker, WorkerStatus};
use crate::processors::governance::{self, Governance};

/// A stored event, as named in provenance lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StoredEvent {
    /// The event, e.g. `JobAssigned`.
    pub name: String,
    /// The emitting contract.
    pub contract: String,
    /// The block.
    pub block_number: u64,
    /// The transaction.
    pub tx_hash: String,
    /// Its index in the transaction (among the CIRO contracts' events).
    pub event_index: u64,
    /// Block time (Unix seconds).
    pub timestamp: u64,
}

/// `GET /v1/workers` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerFilter {
    /// Only workers with this capability.
    pub capability: Option<String>,
    /// Only scores at or above, in ppm.
    pub min_score_ppm: Option<i64>,
    /// Only this status.
    pub status: Option<WorkerStatus>,
    /// Rows after this (score_ppm, address), in (score desc, address asc) order.
    pub after: Option<(i64, String)>,
    /// Page size.
    pub limit: u32,
}

/// `GET /v1/jobs` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only this client's jobs.
    pub client: Option<String>,
    /// Only this worker's jobs.
    pub worker: Option<String>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Rows with a job id below this (newest first).
    pub before: Option<u64>,
    /// Page size.
    pub limit: u32,
}

/// A page of rows and the cursor for the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next: Option<String>,
}

impl Page<Worker> {
    /// A page from up to `limit + 1` workers in list order: the extra one only says that
    /// another page follows, whose cursor is the last kept worker's `<score_ppm>_<address>`.
    pub fn of_workers(mut items: Vec<Worker>, limit: u32) -> Self {
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items
                .last()
                .map(|w| format!("{}_{}", w.score_ppm, w.address))
        } else {
            None
        };
        Page { items, next }
    }
}

/// `GET /v1/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Stats {
    /// Workers by status.
    pub workers: BTreeMap<String, u64>,
    /// Stake of all workers, base units.
    pub total_stake: String,
    /// Collateral locked across workers, base units.
    pub total_locked: String,
    /// Jobs by state.
    pub jobs: BTreeMap<String, u64>,
    /// Disputes by status.
    pub disputes: BTreeMap<String, u64>,
    /// Workers per capability.
    pub capabilities: BTreeMap<String, u64>,
    /// Events stored.
    pub events: u64,
    /// Blocks indexed.
    pub blocks: u64,
    /// The cursor: the highest indexed block.
    pub cursor: Option<u64>,
}

/// Binds `values` in order; every value is an integer or text.
enum Value {
    Int(i64),
    Text(String),
}

fn bind_all<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    values: Vec<Value>,
) -> Query<'q, Any, AnyArguments<'q>> {
    for v in values {
        q = match v {
            Value::Int(n) => q.bind(n),
            Value::Text(s) => q.bind(s),
        };
    }
    q
}

fn stored_event(row: &sqlx::any::AnyRow) -> Result<StoredEvent> {
    Ok(StoredEvent {
        name: row.try_get("name")?,
        contract: row.try_get("contract")?,
        block_number: u(row.try_get("block_number")?, "block_number")?,
        tx_hash: row.try_get("tx_hash")?,
        event_index: u(row.try_get("event_index")?, "event_index")?,
        timestamp: u(row.try_get("timestamp")?, "timestamp")?,
    })
}

const EVENT_LIST: &str = "name, contract, block_number, tx_hash, event_index, timestamp";

impl Reader {
    /// One worker.
    pub async fn worker(&mut self, address: &str) -> Result<Option<Worker>> {
        super::rows::load_worker(&mut self.tx, address).await
    }

    /// A worker's score steps, oldest first.
    pub async fn score_history(&mut self, address: &str) -> Result<Vec<ScorePoint>> {
        let rows = sqlx::query(
            "SELECT reason, score, block_number, tx_hash, tx_index, event_index, timestamp FROM score_history \
             WHERE worker = $1 ORDER BY block_number, tx_index, event_index",
        )
        .bind(address)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ScorePoint {
                    reason: r.try_get("reason")?,
                    score: r.try_get("score")?,
                    block_number: u(r.try_get("block_number")?, "block_number")?,
                    tx_hash: r.try_get("tx_hash")?,
                    tx_index: u(r.try_get("tx_index")?, "tx_index")?,
                    event_index: u(r.try_get("event_index")?, "event_index")?,
                    timestamp: u(r.try_get("timestamp")?, "timestamp")?,
                })
            })
            .collect()
    }

    /// The latest `limit` events naming `column = value`, newest first, and how many exist.
    async fn events_of(
        &mut self,
        column: &str,
        value: Value,
        limit: u32,
    ) -> Result<(Vec<StoredEvent>, u64)> {
        let count_sql = format!("SELECT COUNT(*) AS n FROM events WHERE {column} = $1");
        let list_sql = format!(
            "SELECT {EVENT_LIST} FROM events WHERE {column} = $1 \
             ORDER BY block_number DESC, tx_index DESC, event_index DESC LIMIT $2"
        );
        let (count_q, list_q) = match value {
            Value::Int(n) => (
                sqlx::query(&count_sql).bind(n),
                sqlx::query(&list_sql).bind(n),
            ),
            Value::Text(s) => (
                sqlx::query(&count_sql).bind(s.clone()),
                sqlx::query(&list_sql).bind(s),
            ),
        };
        let total: i64 = count_q.fetch_one(&mut *self.tx).await?.try_get("n")?;
        let rows = list_q
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await?;
        let events = rows.iter().map(stored_event).collect::<Result<_>>()?;
        Ok((events, u(total, "count")?))
    }

    /// A worker's latest events and their total.
    pub async fn worker_events(
        &mut self,
        address: &str,
        limit: u32,
    ) -> Result<(Vec<StoredEvent>, u64)> {
        self.events_of("worker", Value::Text(address.to_owned()), limit)
            .await
    }

    /// A job's events (its state history) and their total.
    pub async fn job_events(&mut self, job_id: u64, limit: u32) -> Result<(Vec<StoredEvent>, u64)> {
        self.events_of("job_id", Value::Int(i(job_id)), limit).await
    }

    /// A dispute's events (opening, votes, resolution) and their total.
    pub async fn dispute_events(&mut self, id: u64, limit: u32) -> Result<(Vec<StoredEvent>, u64)> {
        self.events_of("dispute_id", Value::Int(i(id)), limit).await
    }

    /// The governance of every contract, with its `latest` newest changes.
    pub async fn governance(&mut self, latest: usize) -> Result<Governance> {
        let names = governance::NAMES
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE name IN ({names}) \
             ORDER BY block_number, tx_index, event_index"
        );
        let rows = sqlx::query(&sql).fetch_all(&mut *self.tx).await?;
        let events = rows.iter().map(event_from).collect::<Result<Vec<_>>>()?;
        governance::fold(&events, latest)
    }

    /// Every worker, in no particular order (for the view).
    pub(super) async fn all_workers(&mut self) -> Result<Vec<Worker>> {
        let sql = format!("SELECT {WORKER_COLUMNS} FROM workers");
        let rows = sqlx::query(&sql).fetch_all(&mut *self.tx).await?;
        rows.iter().map(worker_from).collect()
    }

    /// One job.
    pub async fn job(&mut self, job_id: u64) -> Result<Option<Job>> {
        super::rows::load_job(&mut self.tx, job_id).await
    }

    /// Jobs, newest first.
    pub async fn jobs(&mut self, f: &JobFilter) -> Result<Page<Job>> {
        let mut values = Vec::new();
        let mut conds = Vec::new();
        let mut add = |col: &str, v: Value| {
            values.push(v);
            conds.push(format!("{col} ${}", values.len()));
        };
        if let Some(c) = &f.client {
            add("client =", Value::Text(c.clone()));
        }
        if let Some(w) = &f.worker {
            add("worker =", Value::Text(w.clone()));
        }
        if let Some(s) = f.state {
            add("state =", Value::Text(s.as_str().to_owned()));
        }
        if let Some(b) = f.before {
            add("job_id <", Value::Int(i(b)));
        }
        values.push(Value::Int(i64::from(f.limit) + 1));
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs {} ORDER BY job_id DESC LIMIT ${}",
            if conds.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conds.join(" AND "))
            },
            values.len()
        );
        let rows = bind_all(sqlx::query(&sql), values)
            .fetch_all(&mut *self.tx)
            .await?;
        let mut items = rows.iter().map(job_from).collect::<Result<Vec<_>>>()?;
        let next = if items.len() > f.limit as usize {
            items.truncate(f.limit as usize);
            items.last().map(|j| j.job_id.to_string())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// One dispute.
    pub async fn dispute(&mut self, id: u64) -> Result<Option<Dispute>> {
        super::rows::load_dispute(&mut self.tx, id).await
    }

    /// Totals over the whole view.
    pub async fn stats(&mut self) -> Result<Stats> {
        let conn: &mut AnyConnection = &mut self.tx;
        let workers = grouped(
            conn,
            "SELECT status AS k, COUNT(*) AS n FROM workers GROUP BY status",
        )
        .await?;
        let jobs = grouped(
            conn,
            "SELECT state AS k, COUNT(*) AS n FROM jobs GROUP BY state",
        )
        .await?;
        let disputes = grouped(
            conn,
            "SELECT status AS k, COUNT(*) AS n FROM disputes GROUP BY status",
        )
        .await?;
        let capabilities = grouped(
            conn,
            "SELECT capability AS k, COUNT(*) AS n FROM worker_capabilities GROUP BY capability",
        )
        .await?;
        // Amounts exceed 64 bits, so they are summed here rather than in SQL.
        let mut stake = 0u128;
        let mut locked = 0u128;
        for r in sqlx::query("SELECT stake, locked FROM workers")
            .fetch_all(&mut *conn)
            .await?
        {
            stake += amount(&r.try_get::<String, _>("stake")?, "stake")?;
            locked += amount(&r.try_get::<String, _>("locked")?, "locked")?;
        }
        let events = count(conn, "SELECT COUNT(*) AS n FROM events").await?;
        let blocks = count(conn, "SELECT COUNT(*) AS n FROM blocks").await?;
        Ok(Stats {
            workers,
            total_stake: stake.to_string(),
            total_locked: locked.to_string(),
            jobs,
            disputes,
            capabilities,
            events,
            blocks,
            cursor: self.block.as_ref().map(|b| b.number),
        })
    }
}

/// `GET /v1/workers` in SQL: the capability index walked in list order.
async fn workers_on(conn: &mut AnyConnection, f: &WorkerFilter) -> Result<Page<Worker>> {
    let mut values = Vec::new();
    let mut conds = Vec::new();
    let param = |values: &mut Vec<Value>, v: Value| {
        values.push(v);
        format!("${}", values.len())
    };
    // With a capability, walk the capability index; its score and status columns
    // mirror the worker's.
    let (from, key_score, key_addr, status_col) = match &f.capability {
        Some(c) => {
            let p = param(&mut values, Value::Text(c.clone()));
            conds.push(format!("c.capability = {p}"));
            (
                "worker_capabilities c JOIN workers w ON w.address = c.worker",
                "c.score_ppm",
                "c.worker",
                "c.status",
            )
        }
        None => ("workers w", "w.score_ppm", "w.address", "w.status"),
    };
    if let Some(min) = f.min_score_ppm {
        let p = param(&mut values, Value::Int(min));
        conds.push(format!("{key_score} >= {p}"));
    }
    if let Some(s) = f.status {
        let p = param(&mut values, Value::Text(s.as_str().to_owned()));
        conds.push(format!("{status_col} = {p}"));
    }
    if let Some((score, addr)) = &f.after {
        let p1 = param(&mut values, Value::Int(*score));
        let p2 = param(&mut values, Value::Int(*score));
        let p3 = param(&mut values, Value::Text(addr.clone()));
        conds.push(format!(
            "({key_score} < {p1} OR ({key_score} = {p2} AND {key_addr} > {p3}))"
        ));
    }
    let limit = param(&mut values, Value::Int(i64::from(f.limit) + 1));
    let cols = WORKER_COLUMNS
        .split(", ")
        .map(|c| format!("w.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {cols} FROM {from} {} ORDER BY {key_score} DESC, {key_addr} ASC LIMIT {limit}",
        if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        }
    );
    let rows = bind_all(sqlx::query(&sql), values).fetch_all(conn).await?;
    let items = rows.iter().map(worker_from).collect::<Result<Vec<_>>>()?;
    Ok(Page::of_workers(items, f.limit))
}

/// `SELECT k, n ... GROUP BY` as a map.
async fn grouped(conn: &mut AnyConnection, sql: &'static str) -> Result<BTreeMap<String, u64>> {
    let rows = sqlx::query(sql).fetch_all(conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>("k")?, u(r.try_get("n")?, "count")?)))
        .collect()
}

/// `SELECT COUNT(*) AS n ...`.
async fn count(conn: &mut AnyConnection, sql: &'static str) -> Result<u64> {
    let n: i64 = sqlx::query(sql).fetch_one(conn).await?.try_get("n")?;
    u(n, "count")
}

/// A read of the database as of one block: one transaction, read only, that starts by
/// reading the cursor. On PostgreSQL it is `REPEATABLE READ`, so every statement sees the
/// same snapshot; on SQLite (WAL) a transaction's snapshot is fixed by its first read. So
/// whatever the engine commits meanwhile, every answer built from one `Reader` reflects
/// exactly [`Reader::block`].
pub struct Reader {
    tx: Transaction<'static, Any>,
    /// The highest indexed block as this read sees it; `None` before any.
    pub block: Option<ViewBlock>,
}

impl Store {
    /// Starts a read as of the current cursor.
    pub async fn read(&self) -> Result<Reader> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            (&mut *tx)
                .execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?;
        }
        let block = super::write::cursor_in(&mut tx).await?.map(|b| ViewBlock {
            number: b.number,
            hash: hex(b.hash),
        });
        Ok(Reader { tx, block })
    }

    /// One worker, from the database.
    pub async fn worker(&self, address: &str) -> Result<Option<Worker>> {
        self.read().await?.worker(address).await
    }

    /// A worker's score steps, oldest first.
    pub async fn score_history(&self, address: &str) -> Result<Vec<ScorePoint>> {
        self.read().await?.score_history(address).await
    }

    /// Workers, best score first, from the database in one statement, as the API
    /// answered before the view (it now answers from [`Store::view`]).
    pub async fn workers(&self, f: &WorkerFilter) -> Result<Page<Worker>> {
        let mut conn = self.pool.acquire().await?;
        workers_on(&mut conn, f).await
    }

    /// One job.
    pub async fn job(&self, job_id: u64) -> Result<Option<Job>> {
        self.read().await?.job(job_id).await
    }

    /// Jobs, newest first.
    pub async fn jobs(&self, f: &JobFilter) -> Result<Page<Job>> {
        self.read().await?.jobs(f).await
    }

    /// One dispute.
    pub async fn dispute(&self, id: u64) -> Result<Option<Dispute>> {
        self.read().await?.dispute(id).await
    }

    /// Totals over the whole view.
    pub async fn stats(&self) -> Result<Stats> {
        self.read().await?.stats().await
    }
}
