//! A node's durable duties and jobs, in an embedded SQLite database (WAL, migrations) under its
//! data directory.
//!
//! A worker writes what it owes and is owed for a job (its result, the salt of its
//! commitment, the escrow job or the acceptance that pays it) *before* the message or
//! transaction that depends on it leaves, and reads the open duties back at start: a
//! worker killed between delivering its result and committing it on chain commits it
//! after the restart and is paid, instead of being timed out and slashed.
//!
//! A client writes each job it submits, and how it ended (its verdict on each worker)
//! before any transaction settles it: a client killed before it settled a job settles its
//! slots by those verdicts after the restart, once, and shows the job again.
//!
//! The event loop never waits on the database: it hands writes to [`Writer`], a task of
//! its own that applies them in order and then gives the loop back what was waiting on
//! each (see `node::Internal::Stored`).

use std::{borrow::Cow, path::Path, str::FromStr, time::Duration};

use libp2p::PeerId;
use sqlx::{
    migrate::{Migration, MigrationType, Migrator},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Row, SqlitePool,
};

use ciro_bindings::bid::SignedBid;
use serde::{Deserialize, Serialize};

use crate::{
    chain::Verdict,
    job::Outcome,
    protocol::{Accepted, Hash, JobAnnouncement, JobId, Limits},
};

/// The database file inside a node's data directory.
pub const FILE: &str = "state.sqlite";

/// The migrations, embedded: (version, description, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        20261208100000,
        "duties",
        include_str!("../migrations/20261208100000_duties.sql"),
    ),
    (
        20261208110000,
        "client_jobs",
        include_str!("../migrations/20261208110000_client_jobs.sql"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the node's database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("migrating the node's database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the node's database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("creating the data directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("the stored duty for job {job} cannot be read: {why}")]
    Corrupt { job: String, why: String },
}

/// What a worker did for a job and what it is owed: enough to commit, reveal, finalize or
/// settle its pay after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Duty {
    pub job: JobId,
    pub client: PeerId,
    pub announcement: JobAnnouncement,
    /// The salt of the worker's commitment to its result.
    pub salt: [u8; 32],
    pub outcome: Outcome,
    /// The account whose deposit pays, or `None` for an escrow job.
    pub payer: Option<[u8; 32]>,
    /// The client's escrow job, once named.
    pub escrow_id: Option<u64>,
    /// The client's signed acceptance, for a deposit-paid job.
    pub acceptance: Option<Accepted>,
}

/// A job a client submitted: enough to show it again and to find its escrow slots (their
/// spec hash is the job's id) after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub job: JobId,
    pub spec_hash: Hash,
    pub capability: String,
    pub reward: u128,
    pub redundancy: u8,
    pub limits: Limits,
    pub module: Hash,
    pub input: Hash,
    pub created_ms: u64,
    pub deadline_ms: u64,
}

#[cfg(test)]
impl ClientRecord {
    /// Job `n`: 5 wei per worker, two workers, a minute to agree.
    pub(crate) fn sample(n: u8) -> Self {
        ClientRecord {
            job: Hash::of(&[n]),
            spec_hash: Hash::of(b"spec"),
            capability: "wasm".into(),
            reward: 5,
            redundancy: 2,
            limits: Limits::default(),
            module: Hash::of(b"module"),
            input: Hash::of(b"input"),
            created_ms: 1_000,
            deadline_ms: 61_000,
        }
    }
}

#[cfg(test)]
impl Ending {
    /// A completed job whose result `42` `agreed` delivered, with `verdicts`.
    pub(crate) fn agreed_on_42(
        agreed: PeerId,
        verdicts: Vec<(PeerId, Option<SignedBid>, Verdict)>,
    ) -> Self {
        Ending {
            completed: true,
            error: None,
            result: Some(TakenResult {
                hash: Hash::of(b"42"),
                output: Ok(b"42".to_vec()),
                agreeing: vec![agreed],
            }),
            expected: Some(Hash::of(b"42")),
            verdicts,
        }
    }
}

/// How a client's job ended: what settling its escrow slots needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    pub completed: bool,
    pub error: Option<String>,
    /// The result the client took, and who delivered it.
    pub result: Option<TakenResult>,
    /// The agreed result's hash, when k workers agreed: what the slots are settled by.
    pub expected: Option<Hash>,
    /// Each worker's verdict, with the consent it signed: it names the worker's account
    /// (how its slot on chain is found again), and assigns it a slot not assigned yet.
    pub verdicts: Vec<(PeerId, Option<SignedBid>, Verdict)>,
}

/// The result a client took for its job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakenResult {
    pub hash: Hash,
    /// The output, or the run's deterministic failure.
    pub output: Result<Vec<u8>, String>,
    pub agreeing: Vec<PeerId>,
}

/// A client job read back at start: its record, and its ending once it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenJob {
    pub record: ClientRecord,
    pub ending: Option<Ending>,
}

/// A change to a node's duties, applied in order by the [`Writer`].
#[derive(Clone, Debug)]
pub enum Write {
    /// A worker ran a job: its result and commitment salt, before the commitment leaves.
    Duty(Box<Duty>),
    /// The client named the escrow job that pays the work.
    Escrow { job: JobId, escrow_id: u64 },
    /// The client accepted the result from its deposit.
    Acceptance { job: JobId, acceptance: Accepted },
    /// The work's pay is settled on chain: the duty is closed.
    Settled { job: JobId },
    /// A client submitted a job.
    Submitted(Box<ClientRecord>),
    /// A client's job ended: written before any transaction settling it goes out.
    Ended { job: JobId, ending: Box<Ending> },
    /// Every escrow slot of a client's job is settled on chain.
    JobSettled { job: JobId },
}

impl Write {
    pub fn job(&self) -> JobId {
        match self {
            Write::Duty(duty) => duty.job,
            Write::Submitted(record) => record.job,
            Write::Escrow { job, .. }
            | Write::Acceptance { job, .. }
            | Write::Settled { job }
            | Write::Ended { job, .. }
            | Write::JobSettled { job } => *job,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if missing) the database in `dir`, and migrates it.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join(FILE);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every commit reaches the disk before the step that depends on it goes out.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let shown = path.display().to_string();
        // One connection first creates the file and switches it to WAL. That switch takes
        // an exclusive lock, which the pool's connections, opening together, could be
        // refused ("database is locked"); once the file is in WAL, they only read it.
        {
            use sqlx::{ConnectOptions, Connection};
            let first = options.connect().await.map_err(|source| StoreError::Open {
                path: shown.clone(),
                source,
            })?;
            first.close().await?;
        }
        Self::connect(options, 4, &shown).await
    }

    /// A database that lives as long as the store: for tests.
    pub async fn memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        Self::connect(options, 1, ":memory:").await
    }

    async fn connect(
        options: SqliteConnectOptions,
        connections: u32,
        shown: &str,
    ) -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: shown.to_owned(),
                source,
            })?;
        let migrator = Migrator {
            migrations: Cow::Owned(
                MIGRATIONS
                    .iter()
                    .map(|(version, description, sql)| {
                        Migration::new(
                            *version,
                            Cow::Borrowed(*description),
                            MigrationType::Simple,
                            Cow::Borrowed(*sql),
                            false,
                        )
                    })
                    .collect(),
            ),
            ..Migrator::DEFAULT
        };
        migrator.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Applies one change.
    pub async fn apply(&self, write: &Write) -> Result<(), StoreError> {
        let now = crate::clock::now_ms() as i64;
        match write {
            Write::Duty(duty) => {
                let (output, error) = match &duty.outcome {
                    Outcome::Output(bytes) => (Some(bytes.as_slice()), None),
                    Outcome::Error(message) => (None, Some(message.as_str())),
                };
                let announcement =
                    postcard::to_stdvec(&duty.announcement).expect("announcements encode");
                let acceptance = duty
                    .acceptance
                    .as_ref()
                    .map(|a| postcard::to_stdvec(a).expect("acceptances encode"));
                sqlx::query(
                    "INSERT INTO duties (job_id, client, announcement, salt, output, error, payer, \
                     escrow_id, acceptance, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (job_id) DO UPDATE SET client = excluded.client, \
                     announcement = excluded.announcement, salt = excluded.salt, \
                     output = excluded.output, error = excluded.error, payer = excluded.payer, \
                     escrow_id = excluded.escrow_id, acceptance = excluded.acceptance, \
                     settled_ms = NULL",
                )
                .bind(duty.job.0.as_slice())
                .bind(duty.client.to_bytes())
                .bind(announcement)
                .bind(duty.salt.as_slice())
                .bind(output)
                .bind(error)
                .bind(duty.payer.as_ref().map(|p| p.as_slice()))
                .bind(duty.escrow_id.map(|id| id as i64))
                .bind(acceptance)
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            Write::Escrow { job, escrow_id } => {
                sqlx::query("UPDATE duties SET escrow_id = ? WHERE job_id = ?")
                    .bind(*escrow_id as i64)
                    .bind(job.0.as_slice())
                    .execute(&self.pool)
                    .await?;
            }
            Write::Acceptance { job, acceptance } => {
                sqlx::query("UPDATE duties SET acceptance = ? WHERE job_id = ?")
                    .bind(postcard::to_stdvec(acceptance).expect("acceptances encode"))
                    .bind(job.0.as_slice())
                    .execute(&self.pool)
                    .await?;
            }
            Write::Settled { job } => {
                sqlx::query(
                    "UPDATE duties SET settled_ms = ? WHERE job_id = ? AND settled_ms IS NULL",
                )
                .bind(now)
                .bind(job.0.as_slice())
                .execute(&self.pool)
                .await?;
            }
            Write::Submitted(record) => {
                sqlx::query(
                    "INSERT INTO client_jobs (job_id, record, created_ms) VALUES (?, ?, ?) \
                     ON CONFLICT (job_id) DO NOTHING",
                )
                .bind(record.job.0.as_slice())
                .bind(postcard::to_stdvec(record.as_ref()).expect("records encode"))
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            Write::Ended { job, ending } => {
                let done = sqlx::query("UPDATE client_jobs SET ending = ? WHERE job_id = ?")
                    .bind(postcard::to_stdvec(ending.as_ref()).expect("endings encode"))
                    .bind(job.0.as_slice())
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Corrupt {
                        job: hex::encode(job.0),
                        why: "its ending has no job to belong to".into(),
                    });
                }
            }
            Write::JobSettled { job } => {
                sqlx::query(
                    "UPDATE client_jobs SET settled_ms = ? WHERE job_id = ? AND settled_ms IS NULL",
                )
                .bind(now)
                .bind(job.0.as_slice())
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// The client jobs whose escrow slots are not all settled, oldest first.
    pub async fn open_jobs(&self) -> Result<Vec<OpenJob>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, record, ending FROM client_jobs WHERE settled_ms IS NULL \
             ORDER BY created_ms, job_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let job: Vec<u8> = row.try_get("job_id")?;
                let corrupt = |what: &str, e: postcard::Error| StoreError::Corrupt {
                    job: hex::encode(&job),
                    why: format!("{what}: {e}"),
                };
                let record = postcard::from_bytes(&row.try_get::<Vec<u8>, _>("record")?)
                    .map_err(|e| corrupt("record", e))?;
                let ending = row
                    .try_get::<Option<Vec<u8>>, _>("ending")?
                    .map(|e| postcard::from_bytes(&e).map_err(|e| corrupt("ending", e)))
                    .transpose()?;
                Ok(OpenJob { record, ending })
            })
            .collect()
    }

    /// The duties not settled yet, oldest first.
    pub async fn open_duties(&self) -> Result<Vec<Duty>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, client, announcement, salt, output, error, payer, escrow_id, \
             acceptance FROM duties WHERE settled_ms IS NULL ORDER BY created_ms, job_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(duty_of).collect()
    }

    /// Forgets duties and client jobs settled before `before_ms`.
    pub async fn prune(&self, before_ms: u64) -> Result<u64, StoreError> {
        let before = i64::try_from(before_ms).unwrap_or(i64::MAX);
        let mut forgotten = 0;
        for table in ["duties", "client_jobs"] {
            forgotten += sqlx::query(&format!("DELETE FROM {table} WHERE settled_ms < ?"))
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(forgotten)
    }
}

fn duty_of(row: &sqlx::sqlite::SqliteRow) -> Result<Duty, StoreError> {
    let job_bytes: Vec<u8> = row.try_get("job_id")?;
    let shown = hex::encode(&job_bytes);
    let corrupt = |why: String| StoreError::Corrupt {
        job: shown.clone(),
        why,
    };
    let bytes32 = |name: &str, v: Vec<u8>| -> Result<[u8; 32], StoreError> {
        v.try_into()
            .map_err(|_| corrupt(format!("{name} is not 32 bytes")))
    };
    let job = crate::protocol::Hash(bytes32("job_id", job_bytes.clone())?);
    let client = PeerId::from_bytes(&row.try_get::<Vec<u8>, _>("client")?)
        .map_err(|e| corrupt(format!("client: {e}")))?;
    let announcement = postcard::from_bytes(&row.try_get::<Vec<u8>, _>("announcement")?)
        .map_err(|e| corrupt(format!("announcement: {e}")))?;
    let salt = bytes32("salt", row.try_get("salt")?)?;
    let outcome = match (
        row.try_get::<Option<Vec<u8>>, _>("output")?,
        row.try_get::<Option<String>, _>("error")?,
    ) {
        (Some(output), None) => Outcome::Output(output),
        (None, Some(error)) => Outcome::Error(error),
        _ => return Err(corrupt("neither or both of output and error".into())),
    };
    let payer = row
        .try_get::<Option<Vec<u8>>, _>("payer")?
        .map(|p| bytes32("payer", p))
        .transpose()?;
    let escrow_id = row
        .try_get::<Option<i64>, _>("escrow_id")?
        .map(|id| u64::try_from(id).map_err(|_| corrupt(format!("escrow id {id}"))))
        .transpose()?;
    let acceptance = row
        .try_get::<Option<Vec<u8>>, _>("acceptance")?
        .map(|a| postcard::from_bytes(&a).map_err(|e| corrupt(format!("acceptance: {e}"))))
        .transpose()?;
    Ok(Duty {
        job,
        client,
        announcement,
        salt,
        outcome,
        payer,
        escrow_id,
        acceptance,
    })
}

/// Applies writes in order, on a task of its own, and hands back each one's `then` once
/// it is on disk (with whether it got there).
pub struct Writer<T> {
    tx: tokio::sync::mpsc::UnboundedSender<(Write, T)>,
}

impl<T: Send + 'static> Writer<T> {
    /// Starts the writer: `done` receives `(then, written)` for each write, in order.
    pub fn start(store: Store, done: impl Fn(T, bool) + Send + 'static) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Write, T)>();
        tokio::spawn(async move {
            while let Some((write, then)) = rx.recv().await {
                let written = match store.apply(&write).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(job = %write.job(), "writing the node's duties: {e}");
                        false
                    }
                };
                done(then, written);
            }
        });
        Self { tx }
    }

    /// Queues `write`; `then` comes back once it is applied.
    pub fn write(&self, write: Write, then: T) {
        let _ = self.tx.send((write, then));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duty(n: u8, outcome: Outcome) -> Duty {
        Duty {
            job: Hash::of(&[n]),
            client: PeerId::random(),
            announcement: JobAnnouncement {
                job_id: Hash::of(&[n]),
                spec_hash: Hash::of(b"spec"),
                capability: "wasm".into(),
                reward: 7,
                deadline_ms: 1_000,
                redundancy: 2,
                limits: Limits::default(),
                addrs: vec![b"/ip4/127.0.0.1/tcp/1".to_vec()],
                round: 0,
            },
            salt: [n; 32],
            outcome,
            payer: None,
            escrow_id: None,
            acceptance: None,
        }
    }

    #[tokio::test]
    async fn a_duty_survives_a_restart_until_it_is_settled() {
        let dir = tempfile::tempdir().unwrap();
        let first = duty(1, Outcome::Output(b"42".to_vec()));
        let second = duty(2, Outcome::Error("out of fuel".into()));
        {
            let store = Store::open(dir.path()).await.unwrap();
            store
                .apply(&Write::Duty(Box::new(first.clone())))
                .await
                .unwrap();
            store
                .apply(&Write::Duty(Box::new(second.clone())))
                .await
                .unwrap();
            store
                .apply(&Write::Escrow {
                    job: first.job,
                    escrow_id: 17,
                })
                .await
                .unwrap();
        }
        // Opened again, as after a restart: both are open, the first with its escrow job.
        let store = Store::open(dir.path()).await.unwrap();
        let open = store.open_duties().await.unwrap();
        assert_eq!(
            open,
            vec![
                Duty {
                    escrow_id: Some(17),
                    ..first.clone()
                },
                second.clone()
            ]
        );
        store
            .apply(&Write::Settled { job: first.job })
            .await
            .unwrap();
        assert_eq!(store.open_duties().await.unwrap(), vec![second]);
        // Settled duties are pruned, open ones never.
        assert_eq!(store.prune(u64::MAX).await.unwrap(), 1);
        assert_eq!(store.open_duties().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_client_job_and_its_verdicts_survive_a_restart_until_it_is_settled() {
        let dir = tempfile::tempdir().unwrap();
        let (ended, running) = (ClientRecord::sample(1), ClientRecord::sample(2));
        let (agreed, liar) = (PeerId::random(), PeerId::random());
        let ending = Ending::agreed_on_42(
            agreed,
            vec![
                (
                    agreed,
                    Some(SignedBid {
                        worker: 7u8.into(),
                        bid: ciro_bindings::bid::Bid {
                            spec_hash: 1u8.into(),
                            price: 5,
                            collateral: 6,
                            deadline: 100,
                            expiry: 200,
                            nonce: 3u8.into(),
                        },
                        signature: vec![8u8.into(), 9u8.into()],
                    }),
                    Verdict::Agreed {
                        result: Hash::of(b"42"),
                        salt: [9; 32],
                    },
                ),
                (
                    liar,
                    None,
                    Verdict::Wrong {
                        evidence: Hash::of(b"record"),
                    },
                ),
            ],
        );
        {
            let store = Store::open(dir.path()).await.unwrap();
            for r in [&ended, &running] {
                store
                    .apply(&Write::Submitted(Box::new(r.clone())))
                    .await
                    .unwrap();
            }
            store
                .apply(&Write::Ended {
                    job: ended.job,
                    ending: Box::new(ending.clone()),
                })
                .await
                .unwrap();
        }
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(
            store.open_jobs().await.unwrap(),
            vec![
                OpenJob {
                    record: ended.clone(),
                    ending: Some(ending),
                },
                OpenJob {
                    record: running.clone(),
                    ending: None,
                },
            ]
        );
        store
            .apply(&Write::JobSettled { job: ended.job })
            .await
            .unwrap();
        let open = store.open_jobs().await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].record, running);
        assert_eq!(store.prune(u64::MAX).await.unwrap(), 1);
        // An ending for a job never submitted is refused, not dropped in silence.
        let error = store
            .apply(&Write::Ended {
                job: Hash::of(b"unknown"),
                ending: Box::new(Ending {
                    completed: false,
                    error: None,
                    result: None,
                    expected: None,
                    verdicts: Vec::new(),
                }),
            })
            .await
            .unwrap_err();
        assert!(error.to_string().contains("no job to belong to"), "{error}");
    }

    #[tokio::test]
    async fn a_corrupt_client_job_is_a_clear_error() {
        let store = Store::memory().await.unwrap();
        let r = ClientRecord::sample(3);
        store
            .apply(&Write::Submitted(Box::new(r.clone())))
            .await
            .unwrap();
        sqlx::query("UPDATE client_jobs SET ending = x'ff'")
            .execute(&store.pool)
            .await
            .unwrap();
        let error = store.open_jobs().await.unwrap_err().to_string();
        assert!(error.contains(&hex::encode(r.job.0)), "{error}");
        assert!(error.contains("ending"), "{error}");
    }

    #[tokio::test]
    async fn a_corrupt_row_is_a_clear_error_not_a_lost_duty() {
        let store = Store::memory().await.unwrap();
        let d = duty(3, Outcome::Output(b"x".to_vec()));
        store
            .apply(&Write::Duty(Box::new(d.clone())))
            .await
            .unwrap();
        sqlx::query("UPDATE duties SET salt = x'00'")
            .execute(&store.pool)
            .await
            .unwrap();
        let error = store.open_duties().await.unwrap_err().to_string();
        assert!(error.contains(&hex::encode(d.job.0)), "{error}");
        assert!(error.contains("salt is not 32 bytes"), "{error}");
    }

    #[tokio::test]
    async fn the_writer_applies_in_order_and_says_what_got_to_disk() {
        let store = Store::memory().await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let writer = Writer::start(store.clone(), move |then: u32, ok| {
            let _ = tx.send((then, ok));
        });
        let d = duty(4, Outcome::Output(b"y".to_vec()));
        writer.write(Write::Duty(Box::new(d.clone())), 1);
        writer.write(Write::Settled { job: d.job }, 2);
        assert_eq!(rx.recv().await, Some((1, true)));
        assert_eq!(rx.recv().await, Some((2, true)));
        assert!(store.open_duties().await.unwrap().is_empty());
        // A write the database refuses comes back as not written.
        sqlx::query("DROP TABLE duties")
            .execute(&store.pool)
            .await
            .unwrap();
        writer.write(Write::Settled { job: d.job }, 3);
        assert_eq!(rx.recv().await, Some((3, false)));
    }
}
