//! Where a client learns a worker's reputation and stake when it scores bids.
//!
//! Bids carry the worker's own claims; selection never trusts them and asks a
//! [`ReputationSource`] instead. [`LocalTable`] is the source an operator fills by hand
//! (or a test fills); the chain-backed source reads the indexer's HTTP API.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use libp2p::PeerId;
use serde::Serialize;
use starknet::core::types::Felt;
use url::Url;

/// A worker's standing as the source knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Standing {
    /// 0..=1_000_000.
    pub reputation_ppm: u32,
    pub stake: u128,
}

impl Standing {
    /// What a worker the source has never heard of is scored as: an even prior, no stake.
    pub const UNKNOWN: Standing = Standing {
        reputation_ppm: 500_000,
        stake: 0,
    };
}

pub trait ReputationSource: Send + Sync {
    /// The standing of `worker`, backed on chain by `account` when the network settles on
    /// chain, or `None` when the source does not know it. Never waits: a source that has
    /// to ask elsewhere answers from what it has and refreshes in the background.
    fn standing(&self, worker: &PeerId, account: Option<Felt>) -> Option<Standing>;
}

/// A table of standings kept in memory.
#[derive(Clone, Default)]
pub struct LocalTable(Arc<RwLock<HashMap<PeerId, Standing>>>);

impl LocalTable {
    pub fn set(&self, worker: PeerId, standing: Standing) {
        self.0.write().expect("table lock").insert(worker, standing);
    }
}

impl ReputationSource for LocalTable {
    fn standing(&self, worker: &PeerId, _: Option<Felt>) -> Option<Standing> {
        self.0.read().expect("table lock").get(worker).copied()
    }
}

/// Standings from the indexer's HTTP API (`GET /v1/workers/{account}`: `score_ppm` and
/// `stake`), by the account that backs the worker. Answers come from a cache; an entry
/// older than `ttl`, or a missing one, is fetched again in the background, revalidated with
/// the `ETag` it came with (`If-None-Match`), so an unchanged standing costs the indexer
/// and the network a 304 and a few headers. While the indexer is unreachable the last
/// answers stand.
#[derive(Clone)]
pub struct IndexerSource {
    base: Url,
    http: reqwest::Client,
    ttl: Duration,
    cache: Arc<RwLock<HashMap<Felt, Cached>>>,
}

#[derive(Clone)]
struct Cached {
    standing: Option<Standing>,
    fetched: Instant,
    fetching: bool,
    /// The indexer's tag for `standing`.
    etag: Option<String>,
}

/// What a revalidation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The answer the tag names still stands (304).
    Unchanged,
    /// A new answer (or none: the indexer knows no such worker), and its tag.
    Changed {
        standing: Option<Standing>,
        etag: Option<String>,
    },
}

/// Why the indexer's standing of a worker could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the indexer URL: {0}")]
    Url(#[from] url::ParseError),
    #[error("asking the indexer: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the indexer's answer: {0}")]
    Answer(String),
}

impl IndexerSource {
    pub fn new(base: Url, ttl: Duration) -> Self {
        Self {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a client with a timeout builds"),
            ttl,
            cache: Arc::default(),
        }
    }

    /// Fetches `account`'s standing now.
    pub async fn fetch(&self, account: Felt) -> Result<Option<Standing>, FetchError> {
        match self.fetch_if_changed(account, None).await? {
            Fetched::Changed { standing, .. } => Ok(standing),
            Fetched::Unchanged => Err(FetchError::Answer("304 without a tag".into())),
        }
    }

    /// Fetches `account`'s standing unless the indexer says the answer tagged `etag` still
    /// stands.
    pub async fn fetch_if_changed(
        &self,
        account: Felt,
        etag: Option<&str>,
    ) -> Result<Fetched, FetchError> {
        #[derive(serde::Deserialize)]
        struct Worker {
            score_ppm: i64,
            stake: String,
        }
        let url = self.base.join(&format!("v1/workers/{account:#x}"))?;
        let mut request = self.http.get(url);
        if let Some(tag) = etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        let response = request.send().await?;
        match response.status() {
            reqwest::StatusCode::NOT_MODIFIED => return Ok(Fetched::Unchanged),
            reqwest::StatusCode::NOT_FOUND => {
                return Ok(Fetched::Changed {
                    standing: None,
                    etag: None,
                })
            }
            _ => {}
        }
        let response = response.error_for_status()?;
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let worker: Worker = response.json().await?;
        Ok(Fetched::Changed {
            standing: Some(Standing {
                reputation_ppm: worker.score_ppm.clamp(0, 1_000_000) as u32,
                stake: worker.stake.parse().map_err(|_| {
                    FetchError::Answer(format!("stake {:?} is not a number", worker.stake))
                })?,
            }),
            etag,
        })
    }

    fn refresh(&self, account: Felt, etag: Option<String>) {
        let source = self.clone();
        tokio::spawn(async move {
            let fetched = source.fetch_if_changed(account, etag.as_deref()).await;
            let mut cache = source.cache.write().expect("cache lock");
            let entry = cache.entry(account).or_insert(Cached {
                standing: None,
                fetched: Instant::now(),
                fetching: false,
                etag: None,
            });
            entry.fetching = false;
            match fetched {
                Ok(Fetched::Unchanged) => entry.fetched = Instant::now(),
                Ok(Fetched::Changed { standing, etag }) => {
                    entry.standing = standing;
                    entry.etag = etag;
                    entry.fetched = Instant::now();
                }
                Err(e) => tracing::debug!("indexer: {e}"),
            }
        });
    }
}

impl ReputationSource for IndexerSource {
    fn standing(&self, _: &PeerId, account: Option<Felt>) -> Option<Standing> {
        let account = account?;
        let now = Instant::now();
        let mut cache = self.cache.write().expect("cache lock");
        let entry = cache.entry(account).or_insert(Cached {
            standing: None,
            fetched: now - self.ttl - Duration::from_secs(1),
            fetching: false,
            etag: None,
        });
        if !entry.fetching && now.duration_since(entry.fetched) > self.ttl {
            entry.fetching = true;
            self.refresh(account, entry.etag.clone());
        }
        entry.standing
    }
}

/// How bids are weighed: each term is in 0..=1, the score is their weighted sum.
#[derive(Clone, Copy, Debug)]
pub struct Weights {
    pub reputation: f64,
    pub stake: f64,
    pub price: f64,
    pub speed: f64,
    /// Stake at or above this counts fully.
    pub stake_reference: u128,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            reputation: 0.5,
            stake: 0.2,
            price: 0.2,
            speed: 0.1,
            stake_reference: 1_000_000_000_000_000_000_000,
        }
    }
}

impl Weights {
    /// The score of a bid of `price` and `eta_ms` from a worker of `standing`, for a job
    /// paying `reward` within `timeout_ms`.
    pub fn score(
        &self,
        standing: Standing,
        price: u128,
        reward: u128,
        eta_ms: u32,
        timeout_ms: u32,
    ) -> f64 {
        let reputation = standing.reputation_ppm.min(1_000_000) as f64 / 1e6;
        let stake = if self.stake_reference == 0 {
            1.0
        } else {
            (standing.stake as f64 / self.stake_reference as f64).min(1.0)
        };
        let price = if reward == 0 {
            1.0
        } else {
            1.0 - (price as f64 / reward as f64).min(1.0)
        };
        let speed = 1.0 - (eta_ms as f64 / timeout_ms.max(1) as f64).min(1.0);
        self.reputation * reputation + self.stake * stake + self.price * price + self.speed * speed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reputation_and_stake_outweigh_a_cheaper_bid() {
        let w = Weights::default();
        let trusted = Standing {
            reputation_ppm: 950_000,
            stake: w.stake_reference,
        };
        let cheap_unknown = w.score(Standing::UNKNOWN, 0, 100, 100, 10_000);
        let trusted_dear = w.score(trusted, 80, 100, 100, 10_000);
        assert!(
            trusted_dear > cheap_unknown,
            "{trusted_dear} vs {cheap_unknown}"
        );
        // With equal standing, the cheaper and faster bid wins.
        assert!(w.score(trusted, 10, 100, 100, 10_000) > w.score(trusted, 90, 100, 100, 10_000));
        assert!(w.score(trusted, 10, 100, 100, 10_000) > w.score(trusted, 10, 100, 9_000, 10_000));
    }

    #[test]
    fn the_table_answers_what_was_set() {
        let table = LocalTable::default();
        let peer = PeerId::random();
        assert_eq!(table.standing(&peer, None), None);
        let s = Standing {
            reputation_ppm: 1,
            stake: 2,
        };
        table.set(peer, s);
        assert_eq!(table.standing(&peer, None), Some(s));
    }
}
