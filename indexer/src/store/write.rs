//! The engine's writes: a batch of blocks and their events with the cursor, or a rollback
//! to a block. Each is one database transaction, so a crash leaves either all of it or none.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use sqlx::{AnyConnection, Row};
use starknet::core::types::Felt;

use super::rows::{
    delete_worker, load_dispute, load_job, load_worker, save_dispute, save_job, save_worker,
};
use super::view::{ViewBlock, WorkerView};
use super::{i, u, Store};
use crate::error::{IndexerError, Result};
use crate::model::{hex, Dispute, Job, Worker};
use crate::processors::{apply_dispute, apply_job, apply_worker, Event, Location, INDEXED};

/// An indexed block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRow {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: Felt,
    /// Its parent's hash.
    pub parent_hash: Felt,
    /// Block time (Unix seconds).
    pub timestamp: u64,
    /// How many indexed events it holds.
    pub events: u64,
    /// The Pedersen hash of its transaction hashes.
    pub txs: Felt,
}

/// Consecutive blocks and their events, in chain order, committed together.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The blocks, ascending and consecutive.
    pub blocks: Vec<BlockRow>,
    /// Their events, in chain order.
    pub events: Vec<Event>,
}

/// Rows per transaction in [`Store::import_workers`]: one transaction over many more
/// pages than SQLite's page cache holds spills them to the WAL again and again.
pub const IMPORT_CHUNK: usize = 2_000;

/// What a rollback removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollback {
    /// Blocks dropped.
    pub blocks: u64,
    /// Events dropped.
    pub events: u64,
    /// Workers, jobs and disputes recomputed.
    pub recomputed: u64,
}

/// The rows touched while folding, loaded on first use and saved once.
#[derive(Default)]
struct Touched {
    workers: BTreeMap<String, Worker>,
    jobs: BTreeMap<u64, Job>,
    disputes: BTreeMap<u64, Dispute>,
}

impl Touched {
    async fn fold(&mut self, conn: &mut AnyConnection, event: &Event) -> Result<()> {
        let refs = event.refs();
        if let Some(address) = refs.worker.map(hex) {
            let w = match self.workers.entry(address) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(v) => {
                    let w = match load_worker(conn, v.key()).await? {
                        Some(w) => w,
                        None => Worker::new(v.key().clone()),
                    };
                    v.insert(w)
                }
            };
            apply_worker(w, event)?;
        }
        if let Some(id) = refs.job_id {
            let j = match self.jobs.entry(id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(v) => v.insert(load_job(conn, id).await?.unwrap_or(Job {
                    job_id: id,
                    ..Job::default()
                })),
            };
            apply_job(j, event)?;
        }
        if let Some(id) = refs.dispute_id {
            let d = match self.disputes.entry(id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(v) => v.insert(load_dispute(conn, id).await?.unwrap_or(Dispute {
                    dispute_id: id,
                    ..Dispute::default()
                })),
            };
            apply_dispute(d, event)?;
        }
        Ok(())
    }

    /// Saves every touched row; returns how many, and the workers as saved.
    async fn save(self, conn: &mut AnyConnection) -> Result<(u64, Vec<Worker>)> {
        let n = (self.workers.len() + self.jobs.len() + self.disputes.len()) as u64;
        for w in self.workers.values() {
            save_worker(conn, w).await?;
        }
        // A job or dispute row exists only once its opening event was seen; a stray
        // collateral event (possible only mid-replay) leaves none.
        for j in self.jobs.values().filter(|j| !j.created_tx.is_empty()) {
            save_job(conn, j).await?;
        }
        for d in self.disputes.values().filter(|d| !d.client.is_empty()) {
            save_dispute(conn, d).await?;
        }
        let workers = self
            .workers
            .into_values()
            .map(|mut w| {
                // What the view holds is what a load from the database would give.
                w.new_points.clear();
                w
            })
            .collect();
        Ok((n, workers))
    }
}

async fn insert_event(conn: &mut AnyConnection, e: &Event) -> Result<bool> {
    let refs = e.refs();
    let felts = |v: &[Felt]| serde_json::to_string(&v.iter().map(|f| hex(*f)).collect::<Vec<_>>());
    let done = sqlx::query(
        "INSERT INTO events (block_number, tx_hash, event_index, tx_index, contract, from_address, \
         name, worker, job_id, dispute_id, keys, data, timestamp) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (block_number, tx_hash, event_index) DO NOTHING",
    )
    .bind(i(e.at.block_number))
    .bind(hex(e.at.tx_hash))
    .bind(i(e.at.event_index))
    .bind(i(e.at.tx_index))
    .bind(e.contract.name())
    .bind(hex(e.from_address))
    .bind(e.name())
    .bind(refs.worker.map(hex))
    .bind(refs.job_id.map(i))
    .bind(refs.dispute_id.map(i))
    .bind(felts(&e.keys).expect("strings serialize"))
    .bind(felts(&e.data).expect("strings serialize"))
    .bind(i(e.at.timestamp))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Rebuilds an event from its stored row, decoding it again through the bindings.
pub(crate) fn event_from(row: &sqlx::any::AnyRow) -> Result<Event> {
    let felt = |text: &str| {
        Felt::from_hex(text).map_err(|_| IndexerError::Corrupt(format!("felt {text:?}")))
    };
    let felts = |text: String| -> Result<Vec<Felt>> {
        let list: Vec<String> = serde_json::from_str(&text)
            .map_err(|e| IndexerError::Corrupt(format!("felt list {text:?}: {e}")))?;
        list.iter().map(|t| felt(t)).collect()
    };
    let name: String = row.try_get("contract")?;
    let contract = INDEXED
        .into_iter()
        .find(|c| c.name() == name)
        .ok_or_else(|| IndexerError::Corrupt(format!("contract {name:?}")))?;
    Event::decode(
        contract,
        felt(&row.try_get::<String, _>("from_address")?)?,
        felts(row.try_get("keys")?)?,
        felts(row.try_get("data")?)?,
        Location {
            block_number: u(row.try_get("block_number")?, "block_number")?,
            tx_hash: felt(&row.try_get::<String, _>("tx_hash")?)?,
            tx_index: u(row.try_get("tx_index")?, "tx_index")?,
            event_index: u(row.try_get("event_index")?, "event_index")?,
            timestamp: u(row.try_get("timestamp")?, "timestamp")?,
        },
    )
}

pub(crate) const EVENT_COLUMNS: &str = "block_number, tx_hash, event_index, tx_index, contract, from_address, name, keys, data, timestamp";

/// The stored events whose `column` is `value`, in chain order, decoded again.
async fn remaining<T>(conn: &mut AnyConnection, column: &str, value: T) -> Result<Vec<Event>>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send,
{
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE {column} = $1 \
         ORDER BY block_number, tx_index, event_index"
    );
    let rows = sqlx::query(&sql).bind(value).fetch_all(conn).await?;
    rows.iter().map(event_from).collect()
}

impl Store {
    /// Stores a batch: its blocks (the new cursor), its events, and the rows they change,
    /// in one transaction. An event already stored is skipped, so committing the same
    /// batch twice changes nothing.
    ///
    /// Once the transaction commits, the worker view moves to the batch's last block with
    /// the workers it saved.
    pub async fn commit(&self, batch: &Batch) -> Result<u64> {
        let _writer = self.view.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let conn: &mut AnyConnection = &mut tx;
        for b in &batch.blocks {
            sqlx::query(
                "INSERT INTO blocks (number, hash, parent_hash, timestamp, events, txs) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (number) DO NOTHING",
            )
            .bind(i(b.number))
            .bind(hex(b.hash))
            .bind(hex(b.parent_hash))
            .bind(i(b.timestamp))
            .bind(i(b.events))
            .bind(hex(b.txs))
            .execute(&mut *conn)
            .await?;
        }
        let mut touched = Touched::default();
        let mut stored = 0;
        for e in &batch.events {
            if insert_event(conn, e).await? {
                touched.fold(conn, e).await?;
                stored += 1;
            }
        }
        let (_, workers) = touched.save(conn).await?;
        tx.commit().await?;
        let block = batch.blocks.last().map(|b| ViewBlock {
            number: b.number,
            hash: hex(b.hash),
        });
        let old = self.view.get();
        let block = block.or_else(|| old.block.clone());
        // Cloning and merging the lists is proportional to the number of workers: off the
        // async threads.
        let next = tokio::task::spawn_blocking(move || old.advance(block, workers))
            .await
            .expect("advancing the view does not panic");
        self.view.set(next);
        Ok(stored)
    }

    /// Drops every block above `keep` (all blocks when `None`) and the events in them, and
    /// recomputes every worker, job and dispute those events touched from the events that
    /// remain. One transaction.
    ///
    /// The worker view is then rebuilt from the database.
    pub async fn rollback(&self, keep: Option<u64>) -> Result<Rollback> {
        let _writer = self.view.writer.lock().await;
        let above = keep.map_or(-1, i);
        let mut tx = self.pool.begin().await?;
        let conn: &mut AnyConnection = &mut tx;

        let mut workers = BTreeSet::new();
        let mut jobs = BTreeSet::new();
        let mut disputes = BTreeSet::new();
        let rows =
            sqlx::query("SELECT worker, job_id, dispute_id FROM events WHERE block_number > $1")
                .bind(above)
                .fetch_all(&mut *conn)
                .await?;
        for row in &rows {
            if let Some(w) = row.try_get::<Option<String>, _>("worker")? {
                workers.insert(w);
            }
            if let Some(j) = row.try_get::<Option<i64>, _>("job_id")? {
                jobs.insert(j);
            }
            if let Some(d) = row.try_get::<Option<i64>, _>("dispute_id")? {
                disputes.insert(d);
            }
        }
        let events = sqlx::query("DELETE FROM events WHERE block_number > $1")
            .bind(above)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        let blocks = sqlx::query("DELETE FROM blocks WHERE number > $1")
            .bind(above)
            .execute(&mut *conn)
            .await?
            .rows_affected();

        let mut rebuilt = Touched::default();
        for address in &workers {
            delete_worker(conn, address).await?;
            let events = remaining(conn, "worker", address.clone()).await?;
            if events.is_empty() {
                continue;
            }
            let mut w = Worker::new(address.clone());
            for e in &events {
                apply_worker(&mut w, e)?;
            }
            rebuilt.workers.insert(address.clone(), w);
        }
        for &id in &jobs {
            sqlx::query("DELETE FROM jobs WHERE job_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            let mut j = Job {
                job_id: u(id, "job_id")?,
                ..Job::default()
            };
            for e in &remaining(conn, "job_id", id).await? {
                apply_job(&mut j, e)?;
            }
            rebuilt.jobs.insert(j.job_id, j);
        }
        for &id in &disputes {
            sqlx::query("DELETE FROM disputes WHERE dispute_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            let mut d = Dispute {
                dispute_id: u(id, "dispute_id")?,
                ..Dispute::default()
            };
            for e in &remaining(conn, "dispute_id", id).await? {
                apply_dispute(&mut d, e)?;
            }
            rebuilt.disputes.insert(d.dispute_id, d);
        }
        let (recomputed, _) = rebuilt.save(conn).await?;
        tx.commit().await?;
        self.reload_view().await?;
        Ok(Rollback {
            blocks,
            events,
            recomputed,
        })
    }

    /// Writes worker rows as they are, through the same row writer the engine uses, in
    /// transactions of [`IMPORT_CHUNK`] rows, then rebuilds the view once. The rows are not
    /// derived from events: this is for benchmarks and tests that need a large view
    /// without a chain behind it. The indexer itself never calls it.
    pub async fn import_workers(&self, workers: &[Worker]) -> Result<()> {
        let _writer = self.view.writer.lock().await;
        for chunk in workers.chunks(IMPORT_CHUNK) {
            let mut tx = self.pool.begin().await?;
            for w in chunk {
                save_worker(&mut tx, w).await?;
            }
            tx.commit().await?;
        }
        self.reload_view().await
    }

    /// The highest indexed block: the cursor.
    pub async fn cursor(&self) -> Result<Option<BlockRow>> {
        let mut conn = self.pool.acquire().await?;
        cursor_in(&mut conn).await
    }

    /// Rebuilds the worker view from the database: every worker and the cursor, read in
    /// one transaction. The caller holds the view's writer lock (or nobody else can write
    /// yet).
    pub(super) async fn reload_view(&self) -> Result<()> {
        let mut read = self.read().await?;
        let workers = read.all_workers().await?;
        let block = read.block.take();
        drop(read);
        let generation = self.view.get().generation + 1;
        let view =
            tokio::task::spawn_blocking(move || WorkerView::build(block, generation, workers))
                .await
                .expect("building the view does not panic");
        self.view.set(view);
        Ok(())
    }

    /// An indexed block.
    pub async fn block(&self, number: u64) -> Result<Option<BlockRow>> {
        let row = sqlx::query(
            "SELECT number, hash, parent_hash, timestamp, events, txs FROM blocks WHERE number = $1",
        )
        .bind(i(number))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(block_from).transpose()
    }
}

/// The highest indexed block, read on `conn`.
pub(super) async fn cursor_in(conn: &mut AnyConnection) -> Result<Option<BlockRow>> {
    let row = sqlx::query(
        "SELECT number, hash, parent_hash, timestamp, events, txs FROM blocks ORDER BY number DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(block_from).transpose()
}

fn block_from(row: &sqlx::any::AnyRow) -> Result<BlockRow> {
    let felt = |col: &str| -> Result<Felt> {
        let text: String = row.try_get(col)?;
        Felt::from_hex(&text).map_err(|_| IndexerError::Corrupt(format!("block {col} {text:?}")))
    };
    Ok(BlockRow {
        number: u(row.try_get("number")?, "number")?,
        hash: felt("hash")?,
        parent_hash: felt("parent_hash")?,
        timestamp: u(row.try_get("timestamp")?, "timestamp")?,
        events: u(row.try_get("events")?, "events")?,
        txs: felt("txs")?,
    })
}
