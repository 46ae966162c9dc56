//! Fetching from the chain: block headers and the indexed contracts' events, turned into a
//! [`Batch`]. Never writes anything.
//!
//! Events are asked for by block *hash* (`from_block`/`to_block` are the hashes of headers
//! fetched first), one contract address at a time, page by page with continuation tokens.
//! A node that lags behind those blocks answers "block not found" instead of an empty list,
//! so an empty answer is one the node gave for blocks it has: it can advance the cursor.

use std::sync::Arc;

use ciro_bindings::chain::Rpc;
use ciro_bindings::Contract;
use futures::{StreamExt, TryStreamExt};
use starknet::core::types::{
    BlockId, BlockStatus, EmittedEvent, EventFilter, Felt, MaybePreConfirmedBlockWithTxHashes,
};
use starknet::providers::Provider;

use crate::error::{IndexerError, Result};
use crate::processors::{Event, Location};
use crate::store::{Batch, BlockRow};

/// A block header, with its transactions in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: Felt,
    /// Its parent's hash.
    pub parent_hash: Felt,
    /// Block time (Unix seconds).
    pub timestamp: u64,
    /// Its transactions, in order.
    pub transactions: Vec<Felt>,
}

/// Reads headers and events for the indexed contracts.
#[derive(Debug, Clone)]
pub struct Fetcher {
    rpc: Arc<Rpc>,
    contracts: Vec<(Contract, Felt)>,
    page_size: u64,
    concurrency: usize,
}

fn rpc_error(action: impl Into<String>, e: impl std::fmt::Display) -> IndexerError {
    IndexerError::Rpc {
        action: action.into(),
        detail: e.to_string(),
    }
}

impl Header {
    /// The Pedersen hash of the block's transaction hashes, in order.
    pub fn tx_digest(&self) -> Felt {
        starknet::core::crypto::compute_hash_on_elements(&self.transactions)
    }

    /// Whether `stored` is this block: same hash and same transactions.
    pub fn is(&self, stored: &BlockRow) -> bool {
        self.hash == stored.hash && self.tx_digest() == stored.txs
    }
}

impl Fetcher {
    /// A fetcher for `contracts` (their order is the merge order within a transaction).
    pub fn new(
        rpc: Arc<Rpc>,
        contracts: Vec<(Contract, Felt)>,
        page_size: u64,
        concurrency: usize,
    ) -> Self {
        Self {
            rpc,
            contracts,
            page_size,
            concurrency,
        }
    }

    /// The number of the newest block accepted on L2 (the `latest` tag; pre-confirmed
    /// blocks are never indexed).
    pub async fn head(&self) -> Result<u64> {
        self.rpc
            .block_number()
            .await
            .map_err(|e| rpc_error("blockNumber", e))
    }

    /// One accepted block's header, or `None` if the node does not have it (yet).
    pub async fn header(&self, number: u64) -> Result<Option<Header>> {
        let block = match self
            .rpc
            .get_block_with_tx_hashes(BlockId::Number(number))
            .await
        {
            Ok(b) => b,
            Err(starknet::providers::ProviderError::StarknetError(
                starknet::core::types::StarknetError::BlockNotFound,
            )) => return Ok(None),
            Err(e) => return Err(rpc_error(format!("getBlockWithTxHashes {number}"), e)),
        };
        match block {
            MaybePreConfirmedBlockWithTxHashes::Block(b)
                if matches!(
                    b.status,
                    BlockStatus::AcceptedOnL2 | BlockStatus::AcceptedOnL1
                ) =>
            {
                Ok(Some(Header {
                    number: b.block_number,
                    hash: b.block_hash,
                    parent_hash: b.parent_hash,
                    timestamp: b.timestamp,
                    transactions: b.transactions,
                }))
            }
            _ => Ok(None),
        }
    }

    /// Headers `from..=to`, all of which must be accepted; fetched a few at a time.
    pub async fn headers(&self, from: u64, to: u64) -> Result<Vec<Header>> {
        let headers: Vec<Header> = futures::stream::iter(from..=to)
            .map(|n| async move {
                self.header(n).await?.ok_or_else(|| IndexerError::Rpc {
                    action: format!("getBlockWithTxHashes {n}"),
                    detail: "block not found or not yet accepted on L2".into(),
                })
            })
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        for pair in headers.windows(2) {
            if pair[1].parent_hash != pair[0].hash {
                return Err(IndexerError::Inconsistent(format!(
                    "block {} does not follow block {} (the chain changed while reading)",
                    pair[1].number, pair[0].number
                )));
            }
        }
        Ok(headers)
    }

    /// One contract's events between two fetched headers, all pages.
    pub async fn contract_events(
        &self,
        (contract, address): (Contract, Felt),
        first: &Header,
        last: &Header,
    ) -> Result<Vec<EmittedEvent>> {
        let filter = EventFilter {
            from_block: Some(BlockId::Hash(first.hash)),
            to_block: Some(BlockId::Hash(last.hash)),
            address: Some(address),
            keys: crate::processors::keys_of(contract),
        };
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .rpc
                .get_events(filter.clone(), token, self.page_size)
                .await
                .map_err(|e| {
                    rpc_error(
                        format!("getEvents {address:#x} {}..={}", first.number, last.number),
                        e,
                    )
                })?;
            out.extend(page.events);
            match page.continuation_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }

    /// Every indexed contract's events between two headers, one list per contract.
    pub async fn events(&self, first: &Header, last: &Header) -> Result<Vec<Vec<EmittedEvent>>> {
        futures::future::try_join_all(
            self.contracts
                .iter()
                .map(|pair| self.contract_events(*pair, first, last)),
        )
        .await
    }

    /// Fetches blocks `from..=to` and their events as a batch.
    pub async fn batch(&self, from: u64, to: u64) -> Result<Batch> {
        let headers = self.headers(from, to).await?;
        let (first, last) = (&headers[0], headers.last().expect("from <= to"));
        let events = self.events(first, last).await?;
        assemble(&self.contracts, &headers, events)
    }
}

/// Merges per-contract event lists into chain order and decodes them. Checks that every
/// event lies in one of `headers` with the same block hash and in one of its transactions.
pub fn assemble(
    contracts: &[(Contract, Felt)],
    headers: &[Header],
    per_contract: Vec<Vec<EmittedEvent>>,
) -> Result<Batch> {
    let first = headers[0].number;
    let header_of = |n: Option<u64>| -> Result<&Header> {
        n.and_then(|n| n.checked_sub(first))
            .and_then(|i| headers.get(i as usize))
            .ok_or_else(|| {
                IndexerError::Inconsistent(format!(
                    "event in block {n:?}, outside the range {first}..={}",
                    first + headers.len() as u64 - 1
                ))
            })
    };
    // (block, tx index, contract rank, position in the contract's list) orders events as
    // the chain does, except across contracts inside one transaction.
    let mut keyed = Vec::new();
    for (rank, ((contract, address), events)) in contracts.iter().zip(per_contract).enumerate() {
        for (pos, e) in events.into_iter().enumerate() {
            let header = header_of(e.block_number)?;
            if e.block_hash != Some(header.hash) || e.from_address != *address {
                return Err(IndexerError::Inconsistent(format!(
                    "event in tx {:#x} names block hash {:?} or address {:#x}, expected {:#x} and {address:#x}",
                    e.transaction_hash, e.block_hash, e.from_address, header.hash
                )));
            }
            let tx_index = header
                .transactions
                .iter()
                .position(|t| *t == e.transaction_hash)
                .ok_or_else(|| {
                    IndexerError::Inconsistent(format!(
                        "tx {:#x} is not in block {}",
                        e.transaction_hash, header.number
                    ))
                })? as u64;
            keyed.push((
                (header.number, tx_index, rank, pos),
                *contract,
                header.timestamp,
                e,
            ));
        }
    }
    keyed.sort_by_key(|k| k.0);
    let mut events = Vec::with_capacity(keyed.len());
    let mut counts = vec![0u64; headers.len()];
    let mut last_tx = None;
    let mut index = 0;
    for ((block, tx_index, _, _), contract, timestamp, e) in keyed {
        if last_tx != Some((block, tx_index)) {
            last_tx = Some((block, tx_index));
            index = 0;
        }
        counts[(block - first) as usize] += 1;
        events.push(Event::decode(
            contract,
            e.from_address,
            e.keys,
            e.data,
            Location {
                block_number: block,
                tx_hash: e.transaction_hash,
                tx_index,
                event_index: index,
                timestamp,
            },
        )?);
        index += 1;
    }
    let blocks = headers
        .iter()
        .zip(counts)
        .map(|(h, events)| BlockRow {
            number: h.number,
            hash: h.hash,
            parent_hash: h.parent_hash,
            timestamp: h.timestamp,
            events,
            txs: h.tx_digest(),
        })
        .collect();
    Ok(Batch { blocks, events })
}

#[cfg(test)]
mod tests {
    use starknet::core::utils::get_selector_from_name;

    use super::*;

    fn header(number: u64, hash: u64, parent: u64, txs: &[u64]) -> Header {
        Header {
            number,
            hash: Felt::from(hash),
            parent_hash: Felt::from(parent),
            timestamp: 1000 + number,
            transactions: txs.iter().map(|t| Felt::from(*t)).collect(),
        }
    }

    /// A `CapabilitiesRegistered` event from `at`, as a node returns it.
    fn registered(at: u64, block: u64, hash: u64, tx: u64, cap: u64) -> EmittedEvent {
        EmittedEvent {
            from_address: Felt::from(at),
            keys: vec![
                get_selector_from_name("CapabilitiesRegistered").unwrap(),
                Felt::from(0x77u64),
            ],
            data: vec![Felt::ONE, Felt::from(cap)],
            block_hash: Some(Felt::from(hash)),
            block_number: Some(block),
            transaction_hash: Felt::from(tx),
        }
    }

    fn contracts() -> Vec<(Contract, Felt)> {
        vec![
            (Contract::Staking, Felt::from(0x5u64)),
            (Contract::Reputation, Felt::from(0x6u64)),
        ]
    }

    #[test]
    fn events_come_out_in_chain_order_with_per_transaction_indexes() {
        let headers = [header(10, 0xa, 0x9, &[1, 2]), header(11, 0xb, 0xa, &[3])];
        let staking = vec![
            registered(5, 10, 0xa, 2, 0x61),
            registered(5, 10, 0xa, 2, 0x62),
            registered(5, 11, 0xb, 3, 0x63),
        ];
        let batch = assemble(&contracts(), &headers, vec![staking, vec![]]).unwrap();
        let at: Vec<(u64, u64, u64)> = batch
            .events
            .iter()
            .map(|e| (e.at.block_number, e.at.tx_index, e.at.event_index))
            .collect();
        assert_eq!(at, [(10, 1, 0), (10, 1, 1), (11, 0, 0)]);
        assert_eq!(batch.events[2].at.timestamp, 1011);
        assert_eq!(batch.events[0].name(), "CapabilitiesRegistered");
        let counts: Vec<u64> = batch.blocks.iter().map(|b| b.events).collect();
        assert_eq!(counts, [2, 1]);
    }

    #[test]
    fn an_answer_that_contradicts_the_headers_is_refused() {
        let headers = [header(10, 0xa, 0x9, &[1])];
        let wrong_hash = registered(5, 10, 0xdead, 1, 0x61);
        let wrong_tx = registered(5, 10, 0xa, 9, 0x61);
        let outside = registered(5, 12, 0xa, 1, 0x61);
        let wrong_address = registered(6, 10, 0xa, 1, 0x61);
        for (event, slot) in [
            (wrong_hash, 0),
            (wrong_tx, 0),
            (outside, 0),
            (wrong_address, 0),
        ] {
            let mut lists = vec![vec![], vec![]];
            lists[slot].push(event);
            let err = assemble(&contracts(), &headers, lists).unwrap_err();
            assert!(matches!(err, IndexerError::Inconsistent(_)), "{err}");
        }
        // A forged selector is a decode error, never skipped.
        let mut forged = registered(5, 10, 0xa, 1, 0x61);
        forged.keys[0] = Felt::from(0x1234u64);
        let err = assemble(&contracts(), &headers, vec![vec![forged], vec![]]).unwrap_err();
        assert!(matches!(err, IndexerError::Decode { .. }), "{err}");
    }
}
