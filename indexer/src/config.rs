//! The indexer's one `Config`: documented defaults, overridden by a TOML file, then by
//! environment variables, then by flags. It never touches the network or the database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{IndexerError, Result};

/// What `ciro devnet` serves.
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:5050/rpc";

/// Every setting, with its default. A TOML file may set any of them (unknown keys are
/// refused); see `indexer/README.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The Starknet JSON-RPC endpoint. Default: `http://127.0.0.1:5050/rpc`.
    pub rpc_url: Url,
    /// The deployment manifest naming the contracts. Default: `deployments/devnet.json`.
    pub manifest: PathBuf,
    /// `sqlite://file.db`, a plain file path, `sqlite::memory:`, or `postgres://...`.
    /// Default: `ciro-indexer.db` (SQLite, created if missing).
    pub database: String,
    /// Where the HTTP API listens. Default: `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Re-index from this block, dropping what was indexed at and after it. A one-off
    /// command, so only a flag sets it (a file or variable would re-index at every start).
    /// Default: resume from the cursor, or start at the deployment's first block.
    #[serde(skip)]
    pub from_block: Option<u64>,
    /// Blocks per `getEvents` range. Default: 200.
    pub range_blocks: u64,
    /// Events per `getEvents` page (the node's chunk size). Default: 1000.
    pub page_size: u64,
    /// How often to ask for new blocks once caught up, in milliseconds. Default: 1000.
    pub poll_ms: u64,
    /// Block headers fetched at once. Default: 8.
    pub header_concurrency: usize,
    /// Seconds between progress lines. Default: 10.
    pub log_every_secs: u64,
    /// The longest wait between retries of a failing RPC or database step, in milliseconds.
    /// Default: 30000.
    pub max_backoff_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rpc_url: Url::parse(DEFAULT_RPC_URL).expect("a valid URL"),
            manifest: PathBuf::from("deployments/devnet.json"),
            database: "ciro-indexer.db".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            from_block: None,
            range_blocks: 200,
            page_size: 1000,
            poll_ms: 1000,
            header_concurrency: 8,
            log_every_secs: 10,
            max_backoff_ms: 30_000,
        }
    }
}

/// Where the chain is: flags of `ciro-indexer` (`ciro indexer run` takes them from its
/// global `--network`, `--rpc-url` and `--manifest`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ChainArgs {
    /// Starknet JSON-RPC endpoint [default: http://127.0.0.1:5050/rpc].
    #[arg(long, env = "CIRO_RPC_URL")]
    pub rpc_url: Option<Url>,
    /// Deployment manifest [default: deployments/devnet.json].
    #[arg(long, env = "CIRO_MANIFEST")]
    pub manifest: Option<PathBuf>,
}

/// The flags of `ciro indexer run` and `ciro-indexer`. Each one also reads an environment
/// variable; a flag beats the variable, which beats `--config`, which beats the default.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct IndexerArgs {
    /// A TOML file with any of the settings below (keys as in `indexer/README.md`).
    #[arg(long, env = "CIRO_INDEXER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database: a SQLite file path, `sqlite::memory:`, or a `postgres://` URL
    /// [default: ciro-indexer.db].
    #[arg(long, env = "CIRO_INDEXER_DATABASE")]
    pub database: Option<String>,
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "CIRO_INDEXER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Re-index from this block instead of resuming from the cursor (this run only).
    #[arg(long)]
    pub from_block: Option<u64>,
    /// Blocks per getEvents range [default: 200].
    #[arg(long, env = "CIRO_INDEXER_RANGE_BLOCKS")]
    pub range_blocks: Option<u64>,
    /// Events per getEvents page [default: 1000].
    #[arg(long, env = "CIRO_INDEXER_PAGE_SIZE")]
    pub page_size: Option<u64>,
    /// Poll interval once caught up, in ms [default: 1000].
    #[arg(long, env = "CIRO_INDEXER_POLL_MS")]
    pub poll_ms: Option<u64>,
}

impl Config {
    /// Defaults, then `args.config`'s file, then the flags and variables in `chain` and
    /// `args`.
    pub fn load(args: &IndexerArgs, chain: &ChainArgs) -> Result<Self> {
        let mut config = match &args.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        let ChainArgs { rpc_url, manifest } = chain.clone();
        let IndexerArgs {
            config: _,
            database,
            listen,
            from_block,
            range_blocks,
            page_size,
            poll_ms,
        } = args.clone();
        if let Some(v) = rpc_url {
            config.rpc_url = v;
        }
        if let Some(v) = manifest {
            config.manifest = v;
        }
        if let Some(v) = database {
            config.database = v;
        }
        if let Some(v) = listen {
            config.listen = v;
        }
        if from_block.is_some() {
            config.from_block = from_block;
        }
        if let Some(v) = range_blocks {
            config.range_blocks = v;
        }
        if let Some(v) = page_size {
            config.page_size = v;
        }
        if let Some(v) = poll_ms {
            config.poll_ms = v;
        }
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file; unknown keys and bad values are errors naming the file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| IndexerError::Config(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| IndexerError::Config(format!("{}: {}", path.display(), e.message())))
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("range_blocks", self.range_blocks),
            ("page_size", self.page_size),
            ("poll_ms", self.poll_ms),
            ("header_concurrency", self.header_concurrency as u64),
            ("max_backoff_ms", self.max_backoff_ms),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(IndexerError::Config(format!("{name} must be at least 1")));
            }
        }
        if self.page_size > 1024 {
            return Err(IndexerError::Config(
                "page_size must be at most 1024 (nodes refuse larger chunks)".into(),
            ));
        }
        Ok(())
    }

    /// The poll interval.
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("indexer.toml");
        std::fs::write(&file, "database = \"from-file.db\"\npoll_ms = 50\n").unwrap();
        let args = IndexerArgs {
            config: Some(file),
            poll_ms: Some(7),
            ..Default::default()
        };
        let config = Config::load(&args, &ChainArgs::default()).unwrap();
        assert_eq!(config.database, "from-file.db");
        assert_eq!(config.poll_ms, 7);
        assert_eq!(config.range_blocks, Config::default().range_blocks);
    }

    #[test]
    fn unknown_keys_and_zero_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("indexer.toml");
        std::fs::write(&file, "databse = \"typo.db\"\n").unwrap();
        let err = Config::from_file(&file).unwrap_err().to_string();
        assert!(err.contains("unknown field `databse`"), "{err}");

        let args = IndexerArgs {
            range_blocks: Some(0),
            ..Default::default()
        };
        let err = Config::load(&args, &ChainArgs::default())
            .unwrap_err()
            .to_string();
        assert_eq!(err, "config: range_blocks must be at least 1");
    }
}
