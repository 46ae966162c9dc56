//! The indexing loop: `select!` between shutdown and one step (fetch a range, store it with
//! the cursor in one transaction), with its own backoff for fetch errors and for database
//! errors. A reorg is found by comparing hashes with the stored blocks and undone by
//! walking back to the common ancestor. Never serves HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::sync::watch;

use crate::config::Config;
use crate::error::{IndexerError, Result};
use crate::fetch::Fetcher;
use crate::metrics::{Metrics, Status};
use crate::store::Store;

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Stored blocks `from..=to`.
    Indexed {
        /// First block.
        from: u64,
        /// Last block.
        to: u64,
        /// Events stored.
        events: u64,
    },
    /// Undid blocks above `ancestor` (`None`: all of them).
    Reorg {
        /// The highest block both chains share.
        ancestor: Option<u64>,
        /// Blocks dropped.
        dropped: u64,
    },
    /// Nothing new.
    CaughtUp,
}

/// The indexer: a store, a fetcher and the loop around them.
pub struct Engine {
    store: Store,
    fetcher: Fetcher,
    config: Config,
    start_block: u64,
    metrics: Metrics,
    status: Arc<Status>,
}

/// Waits that double from 100 ms up to `max`, for as many retries as it takes.
fn backoff(max: Duration) -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(max)
        .without_max_times()
        .build()
}

impl Engine {
    /// An engine that starts at `start_block` when the store is empty.
    pub fn new(
        store: Store,
        fetcher: Fetcher,
        config: Config,
        start_block: u64,
        metrics: Metrics,
        status: Arc<Status>,
    ) -> Self {
        Self {
            store,
            fetcher,
            config,
            start_block,
            metrics,
            status,
        }
    }

    /// Applies `--from-block`: drops what was indexed at and above it. Refuses a block past
    /// the cursor, which would leave a hole.
    pub async fn rewind(&self, from: u64) -> Result<()> {
        let Some(cursor) = self.store.cursor().await? else {
            return Ok(());
        };
        if from > cursor.number + 1 {
            return Err(IndexerError::Config(format!(
                "--from-block {from} is past the cursor (block {}); blocks {}..{from} would never be indexed",
                cursor.number,
                cursor.number + 1
            )));
        }
        let r = self.store.rollback(from.checked_sub(1)).await?;
        tracing::info!(
            from,
            dropped_blocks = r.blocks,
            dropped_events = r.events,
            "re-indexing"
        );
        Ok(())
    }

    /// One step: detect a reorg, or index the next range.
    pub async fn step(&self) -> Result<Step> {
        let head = self.fetcher.head().await?;
        self.metrics.head.set(head as i64);
        let cursor = self.store.cursor().await?;
        let next = cursor.as_ref().map_or(self.start_block, |c| c.number + 1);
        if let Some(c) = &cursor {
            // Is our tip still on the chain? Compare the highest block both should have. A
            // different block (hash or transactions) is a reorg; the same block below our
            // cursor is a node that lags (or was truncated): wait, and keep what we have.
            let probe = head.min(c.number);
            let stored = self.store.block(probe).await?;
            match (stored, self.fetcher.header(probe).await?) {
                (Some(s), Some(h)) if !h.is(&s) => return self.reorg(c.number).await,
                (Some(_), Some(_)) if probe == c.number => {}
                _ => return Err(lagging(c.number, head)),
            }
        }
        if next > head {
            self.status.ok(cursor.map(|c| c.number), head);
            return Ok(Step::CaughtUp);
        }
        let to = head.min(next + self.config.range_blocks - 1);
        let started = Instant::now();
        let batch = self.fetcher.batch(next, to).await?;
        if let Some(c) = &cursor {
            if batch.blocks[0].parent_hash != c.hash {
                return self.reorg(c.number).await;
            }
        }
        let events = self.store.commit(&batch).await?;
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.events.inc_by(events);
        self.metrics.blocks.inc_by(to - next + 1);
        self.metrics.cursor.set(to as i64);
        self.status.ok(Some(to), head);
        Ok(Step::Indexed {
            from: next,
            to,
            events,
        })
    }

    /// Walks back from `tip` to the highest stored block the chain still has, and undoes
    /// everything above it. Only a block whose hash changed counts as evidence: a block the
    /// node does not have is a lagging node, an error to retry, never a rollback.
    async fn reorg(&self, tip: u64) -> Result<Step> {
        let head = self.fetcher.head().await?;
        let mut n = Some(tip.min(head));
        let ancestor = loop {
            let Some(number) = n else { break None };
            if tip - number > MAX_REORG_DEPTH {
                return Err(IndexerError::Config(format!(
                    "the chain changed more than {MAX_REORG_DEPTH} blocks below the cursor ({tip}); \
                     check the RPC, then re-index with --from-block"
                )));
            }
            let Some(stored) = self.store.block(number).await? else {
                break Some(number);
            };
            match self.fetcher.header(number).await? {
                Some(h) if h.is(&stored) => break Some(number),
                Some(_) => n = number.checked_sub(1),
                None => return Err(lagging(number, head)),
            }
        };
        if ancestor == Some(tip.min(head)) {
            return Err(IndexerError::Inconsistent(format!(
                "block {} does not follow block {tip}, yet block {tip} is still on the chain",
                tip + 1
            )));
        }
        let r = self.store.rollback(ancestor).await?;
        self.metrics.reorgs.inc();
        self.metrics.cursor.set(ancestor.map_or(-1, |a| a as i64));
        tracing::warn!(
            tip,
            ancestor = ?ancestor,
            dropped_blocks = r.blocks,
            dropped_events = r.events,
            recomputed = r.recomputed,
            "reorg: undid abandoned blocks"
        );
        Ok(Step::Reorg {
            ancestor,
            dropped: r.blocks,
        })
    }

    /// Runs until `shutdown` turns true. Transient errors are logged and retried with
    /// backoff; configuration errors end the run.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        if let Some(from) = self.config.from_block {
            self.rewind(from).await?;
        }
        let max = Duration::from_millis(self.config.max_backoff_ms);
        let mut fetch_backoff = backoff(max);
        let mut db_backoff = backoff(max);
        let mut window = Window::new(Duration::from_secs(self.config.log_every_secs));
        loop {
            if *shutdown.borrow() {
                break;
            }
            let pause = tokio::select! {
                _ = shutdown.changed() => break,
                step = self.step() => match step {
                    Ok(Step::Indexed { from, to, events }) => {
                        fetch_backoff = backoff(max);
                        db_backoff = backoff(max);
                        window.add(to - from + 1, events);
                        if let Some(line) = window.report() {
                            let head = self.metrics.head.get();
                            tracing::info!(
                                cursor = to,
                                lag = head - to as i64,
                                blocks_per_s = format!("{:.1}", line.0),
                                events_per_s = format!("{:.1}", line.1),
                                "indexing"
                            );
                        }
                        None
                    }
                    Ok(Step::Reorg { .. }) => None,
                    Ok(Step::CaughtUp) => {
                        fetch_backoff = backoff(max);
                        db_backoff = backoff(max);
                        Some(self.config.poll())
                    }
                    Err(e) if !e.is_retryable() => return Err(e),
                    Err(e) => {
                        let (kind, b) = match e {
                            IndexerError::Db(_) => ("db", &mut db_backoff),
                            IndexerError::Rpc { .. } | IndexerError::Inconsistent(_) | IndexerError::Chain(_) => ("rpc", &mut fetch_backoff),
                            _ => ("other", &mut fetch_backoff),
                        };
                        self.metrics.errors.with_label_values(&[kind]).inc();
                        self.status.failed(e.to_string());
                        let wait = b.next().unwrap_or(max);
                        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "step failed");
                        Some(wait)
                    }
                },
            };
            if let Some(pause) = pause {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
        tracing::info!("indexer stopped");
        Ok(())
    }
}

/// The deepest reorg undone automatically; Starknet's finality makes deeper ones a sign of
/// a wrong endpoint rather than a real reorg.
pub const MAX_REORG_DEPTH: u64 = 1000;

fn lagging(block: u64, head: u64) -> IndexerError {
    IndexerError::Inconsistent(format!(
        "the node does not have block {block} (its head is {head}); waiting for it to catch up"
    ))
}

impl IndexerError {
    /// Whether the loop should retry: node and database trouble. Not configuration
    /// mistakes or a view that cannot be built, which no retry fixes. Undecodable events
    /// are retried: skipping one would corrupt the view, and a bad answer may not repeat.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            IndexerError::Config(_) | IndexerError::WrongDatabase { .. } | IndexerError::Corrupt(_)
        )
    }
}

/// Rates over a reporting window.
struct Window {
    every: Duration,
    started: Instant,
    blocks: u64,
    events: u64,
}

impl Window {
    fn new(every: Duration) -> Self {
        Self {
            every,
            started: Instant::now(),
            blocks: 0,
            events: 0,
        }
    }

    fn add(&mut self, blocks: u64, events: u64) {
        self.blocks += blocks;
        self.events += events;
    }

    /// (blocks/s, events/s) once a window has passed.
    fn report(&mut self) -> Option<(f64, f64)> {
        let secs = self.started.elapsed().as_secs_f64();
        if secs < self.every.as_secs_f64() {
            return None;
        }
        let rates = (self.blocks as f64 / secs, self.events as f64 / secs);
        *self = Self::new(self.every);
        Some(rates)
    }
}
