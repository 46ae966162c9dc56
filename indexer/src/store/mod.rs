//! Storage: SQLite (default) or PostgreSQL through sqlx's `Any` driver, one query text for
//! both. Each backend has its own timestamped migrations, run at connect. Every write the
//! engine makes (rows and cursor) is one database transaction; nothing here talks to the
//! chain.

mod read;
mod rows;
mod view;
mod write;

pub use read::{JobFilter, Page, Reader, Stats, StoredEvent, WorkerFilter};
pub use view::{ViewBlock, WorkerView};
pub use write::{Batch, BlockRow, Rollback};

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, Row};

use self::view::ViewCell;
use crate::error::{IndexerError, Result};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file or in memory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The migrations, embedded: (file name, SQL). File names start with a UTC timestamp,
/// which is the version.
const SQLITE_MIGRATIONS: &[(&str, &str)] = &[
    (
        "20261124090000_initial.sql",
        include_str!("../../migrations/sqlite/20261124090000_initial.sql"),
    ),
    (
        "20261201090000_worker_capabilities_by_worker.sql",
        include_str!("../../migrations/sqlite/20261201090000_worker_capabilities_by_worker.sql"),
    ),
    (
        "20261202090000_dispute_bond.sql",
        include_str!("../../migrations/sqlite/20261202090000_dispute_bond.sql"),
    ),
    (
        "20261207090000_result_commitment.sql",
        include_str!("../../migrations/sqlite/20261207090000_result_commitment.sql"),
    ),
    (
        "20261208090000_events_by_name.sql",
        include_str!("../../migrations/sqlite/20261208090000_events_by_name.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(&str, &str)] = &[
    (
        "20261124090000_initial.sql",
        include_str!("../../migrations/postgres/20261124090000_initial.sql"),
    ),
    (
        "20261201090000_worker_capabilities_by_worker.sql",
        include_str!("../../migrations/postgres/20261201090000_worker_capabilities_by_worker.sql"),
    ),
    (
        "20261202090000_dispute_bond.sql",
        include_str!("../../migrations/postgres/20261202090000_dispute_bond.sql"),
    ),
    (
        "20261207090000_result_commitment.sql",
        include_str!("../../migrations/postgres/20261207090000_result_commitment.sql"),
    ),
    (
        "20261208090000_events_by_name.sql",
        include_str!("../../migrations/postgres/20261208090000_events_by_name.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(&'static [(&'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for (file, sql) in self.0 {
                let stem = file.trim_end_matches(".sql");
                let (version, description) = stem
                    .split_once('_')
                    .ok_or_else(|| format!("migration {file}: expected <timestamp>_<name>.sql"))?;
                out.push(Migration::new(
                    version.parse()?,
                    Cow::Owned(description.replace('_', " ")),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                ));
            }
            Ok(out)
        })
    }
}

/// The database, and the worker view built from it.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    shown: String,
    view: Arc<ViewCell>,
}

/// Turns the `database` setting into a URL: a plain path is a SQLite file, created if
/// missing.
pub fn database_url(database: &str) -> Result<(String, Backend)> {
    let d = database.trim();
    if d.is_empty() {
        return Err(IndexerError::Config("database is empty".into()));
    }
    if d.starts_with("postgres://") || d.starts_with("postgresql://") {
        return Ok((d.to_owned(), Backend::Postgres));
    }
    if d == "sqlite::memory:" || d.starts_with("sqlite:") {
        return Ok((d.to_owned(), Backend::Sqlite));
    }
    if d.contains("://") {
        return Err(IndexerError::Config(format!(
            "database {d:?}: use a SQLite file path, sqlite::memory:, or a postgres:// URL"
        )));
    }
    Ok((format!("sqlite://{d}?mode=rwc"), Backend::Sqlite))
}

/// A URL for messages: no password.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Connects, applies the backend's migrations, and returns the store.
    pub async fn connect(database: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (url, backend) = database_url(database)?;
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| IndexerError::Config(format!("database {}: {e}", shown(&url))))?;
        let mut pool = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets the API read while the engine writes; a writer waits for
                        // a lock instead of failing at once.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            });
        if memory {
            // Every connection to `:memory:` is its own database: keep exactly one, forever.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else {
            pool = pool.max_connections(8);
        }
        let pool = pool.connect_with(options).await.map_err(|e| match e {
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => {
                IndexerError::Config(format!("cannot connect to database {}: {e}", shown(&url)))
            }
            e => IndexerError::Db(e),
        })?;
        let migrations = match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        Migrator::new(Embedded(migrations))
            .await?
            .run(&pool)
            .await?;
        let store = Self {
            pool,
            backend,
            shown: shown(&url),
            view: Arc::default(),
        };
        store.reload_view().await?;
        Ok(store)
    }

    /// The worker view as of the latest committed block: what `GET /v1/workers` answers
    /// from. Cheap (an `Arc` clone); the view never changes once taken.
    pub fn view(&self) -> Arc<WorkerView> {
        self.view.get()
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL, for messages (no password).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The pool, for tests and benchmarks that inspect tables directly.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Records which chain and deployment the database indexes, or, if it already
    /// indexes another, refuses.
    pub async fn claim(&self, chain_id: &str, deployment: &str) -> Result<()> {
        let wanted = format!("chain {chain_id}, escrow {deployment}");
        let row = sqlx::query("SELECT value FROM meta WHERE key = 'deployment'")
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                let indexed: String = row.try_get("value")?;
                if indexed != wanted {
                    return Err(IndexerError::WrongDatabase {
                        database: self.shown.clone(),
                        indexed,
                        manifest: wanted,
                    });
                }
            }
            None => {
                sqlx::query("INSERT INTO meta (key, value) VALUES ('deployment', $1)")
                    .bind(wanted)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `u64` for storage, bit for bit: a client may pick any `u64` deadline, and values past
/// `i64::MAX` come back unchanged through [`u`]. Columns compared in SQL (blocks, ids,
/// scores) never come near 2^63.
pub(crate) fn i(v: u64) -> i64 {
    v as i64
}

/// A stored `u64`, bit for bit (see [`i`]).
pub(crate) fn u(v: i64, _what: &str) -> Result<u64> {
    Ok(v as u64)
}

/// A stored decimal amount.
pub(crate) fn amount(text: &str, what: &str) -> Result<u128> {
    text.parse()
        .map_err(|_| IndexerError::Corrupt(format!("{what} is not an amount: {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_settings_become_urls() {
        assert_eq!(
            database_url("data/ciro.db").unwrap(),
            ("sqlite://data/ciro.db?mode=rwc".into(), Backend::Sqlite)
        );
        assert_eq!(database_url("sqlite::memory:").unwrap().1, Backend::Sqlite);
        assert_eq!(
            database_url("postgres://localhost/test").unwrap().1,
            Backend::Postgres
        );
        let err = database_url("mysql://localhost/x").unwrap_err().to_string();
        assert!(err.contains("postgres:// URL"), "{err}");
        assert!(database_url("  ").is_err());
    }

    // The migrations are listed by hand; one left out would leave the schema behind the
    // code, with "no such column" at the first write.
    #[test]
    fn every_migration_file_is_embedded_in_order() {
        for (dir, embedded) in [
            ("sqlite", SQLITE_MIGRATIONS),
            ("postgres", POSTGRES_MIGRATIONS),
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| name.ends_with(".sql"))
                .collect();
            files.sort();
            let listed: Vec<&str> = embedded.iter().map(|(name, _)| *name).collect();
            assert_eq!(files, listed, "{dir}");
        }
    }

    #[tokio::test]
    async fn an_in_memory_database_migrates_and_starts_empty() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        assert_eq!(store.cursor().await.unwrap(), None);
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.events, stats.blocks, stats.cursor), (0, 0, None));
        assert!(store.worker("0x1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_database_refuses_another_deployment_and_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("claimed.db").display().to_string();
        let store = Store::connect(&file).await.unwrap();
        store.claim("0x534e5f5345504f4c4941", "0xe5").await.unwrap();
        store.close().await;
        // Migrations run again on reconnect without effect; the claim holds.
        let store = Store::connect(&file).await.unwrap();
        store.claim("0x534e5f5345504f4c4941", "0xe5").await.unwrap();
        let err = store
            .claim("0x534e5f5345504f4c4941", "0xe6")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, IndexerError::WrongDatabase { indexed, .. } if indexed.ends_with("escrow 0xe5")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn any_collateral_and_deadline_a_client_picks_round_trip_once() {
        use ciro_bindings::Contract;
        use starknet::core::types::Felt;
        use starknet::core::utils::get_selector_from_name;

        use crate::processors::{Event, Location};

        let store = Store::connect("sqlite::memory:").await.unwrap();
        // JobCreated(job 1, client 0xc1, no worker): reward 10, collateral 2^128, deadline
        // u64::MAX; the escrow bounds neither.
        let keys = vec![
            get_selector_from_name("JobCreated").unwrap(),
            Felt::ONE,
            Felt::from(0xc1u64),
            Felt::ZERO,
        ];
        let data = [0x5b, 0x77, 10, 0, 0, 1, u64::MAX, 600]
            .map(Felt::from)
            .to_vec();
        let at = Location {
            block_number: 5,
            tx_hash: Felt::from(0xabu64),
            tx_index: 0,
            event_index: 0,
            timestamp: 100,
        };
        let event = Event::decode(Contract::JobEscrow, Felt::from(0xe5u64), keys, data, at);
        let batch = Batch {
            blocks: vec![BlockRow {
                number: 5,
                hash: Felt::from(0xb5u64),
                parent_hash: Felt::from(0xb4u64),
                timestamp: 100,
                events: 1,
                txs: Felt::ZERO,
            }],
            events: vec![event.unwrap()],
        };
        assert_eq!(store.commit(&batch).await.unwrap(), 1);
        assert_eq!(
            store.commit(&batch).await.unwrap(),
            0,
            "a replay stores nothing"
        );
        let job = store.job(1).await.unwrap().unwrap();
        assert_eq!(job.collateral, "340282366920938463463374607431768211456");
        assert_eq!((job.deadline, job.reward), (u64::MAX, 10));
        assert_eq!(store.stats().await.unwrap().events, 1);
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            shown("postgres://ciro:hunter2@db/ciro"),
            "postgres://ciro:***@db/ciro"
        );
    }
}
