//! The indexer's one error type. HTTP errors live apart, in `api::error`, so a client never
//! sees a database or RPC detail.

use ciro_bindings::ChainError;

/// Anything that can stop the indexer or one of its steps.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// Bad configuration: a flag, a file, an environment variable.
    #[error("config: {0}")]
    Config(String),
    /// The chain or the manifest.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// An RPC request failed; retried with backoff by the engine.
    #[error("RPC {action}: {detail}")]
    Rpc {
        /// What was asked, e.g. `getEvents 120..=180`.
        action: String,
        /// What the node said.
        detail: String,
    },
    /// The node's answer contradicts itself (an event's block hash that is not the block's).
    /// Retried: a load-balanced endpoint can mix nodes.
    #[error("inconsistent RPC answer: {0}")]
    Inconsistent(String),
    /// An event from one of our contracts that the bindings cannot decode. Never skipped:
    /// skipping would silently corrupt the view.
    #[error("cannot decode {contract} event in tx {tx}: {detail}")]
    Decode {
        /// The contract.
        contract: String,
        /// The transaction hash.
        tx: String,
        /// The decoder's message.
        detail: String,
    },
    /// The database.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database was built from another deployment or chain.
    #[error("database {database} indexes {indexed}, but the manifest is for {manifest}; use another database or a fresh one")]
    WrongDatabase {
        /// The database URL, redacted.
        database: String,
        /// What it holds.
        indexed: String,
        /// What the manifest says.
        manifest: String,
    },
    /// A value stored in the database that cannot be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Binding the HTTP listener, or serving.
    #[error("HTTP server on {addr}: {source}")]
    Http {
        /// The listen address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = IndexerError> = std::result::Result<T, E>;
