//! Event processors: one file per event family, each folding its contract's events into the
//! view rows (`model`). Every event is decoded through `ciro_bindings` only.
//!
//! A processor is a pure function of (row, event): the engine applies it while ingesting,
//! and the same function replays an entity's remaining events after a reorg. Processors
//! never touch the database or the network.

pub mod disputes;
pub mod escrow;
pub mod governance;
pub mod reputation;
pub mod staking;

use ciro_bindings::contracts::token as token_abi;
use ciro_bindings::contracts::{disputes as disputes_abi, escrow as escrow_abi};
use ciro_bindings::contracts::{reputation as reputation_abi, staking as staking_abi};
use ciro_bindings::Contract;
use starknet::core::types::{EmittedEvent, Felt};

use crate::error::{IndexerError, Result};
use crate::model::{Dispute, Job, Worker};

/// The contracts whose events are indexed, in the order their events are merged within a
/// transaction. Of the token only the governance events are (see [`keys_of`]): balances are
/// not part of the view.
pub const INDEXED: [Contract; 5] = [
    Contract::Staking,
    Contract::Reputation,
    Contract::JobEscrow,
    Contract::Disputes,
    Contract::CiroToken,
];

/// The event keys fetched from `contract`: `None` for every event, or one list of the
/// selectors wanted (the token's governance events).
pub fn keys_of(contract: Contract) -> Option<Vec<Vec<Felt>>> {
    (contract == Contract::CiroToken).then(|| vec![governance::selectors()])
}

/// Where an event sits on the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The block.
    pub block_number: u64,
    /// The transaction.
    pub tx_hash: Felt,
    /// The transaction's position in its block.
    pub tx_index: u64,
    /// The event's position among the indexed contracts' events of its transaction.
    pub event_index: u64,
    /// Block time (Unix seconds).
    pub timestamp: u64,
}

/// A decoded event of one of the [`INDEXED`] contracts.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Staking: stake, capabilities, collateral, slashes.
    Staking(staking_abi::Event),
    /// Reputation records.
    Reputation(reputation_abi::Event),
    /// Job escrow.
    Escrow(escrow_abi::Event),
    /// Disputes.
    Disputes(disputes_abi::Event),
    /// The token: its governance events only.
    Token(token_abi::Event),
}

/// The entities an event concerns; the engine stores them with the event so an entity's
/// events can be replayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refs {
    /// A worker.
    pub worker: Option<Felt>,
    /// A job.
    pub job_id: Option<u64>,
    /// A dispute.
    pub dispute_id: Option<u64>,
}

/// One indexed event: raw keys and data, where it is, and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The emitting contract.
    pub contract: Contract,
    /// Its address.
    pub from_address: Felt,
    /// Raw keys, as emitted.
    pub keys: Vec<Felt>,
    /// Raw data, as emitted.
    pub data: Vec<Felt>,
    /// Where it is.
    pub at: Location,
    /// The decoded event.
    pub decoded: Decoded,
}

impl Event {
    /// Decodes raw keys and data emitted by `contract` at `from_address`.
    pub fn decode(
        contract: Contract,
        from_address: Felt,
        keys: Vec<Felt>,
        data: Vec<Felt>,
        at: Location,
    ) -> Result<Self> {
        let emitted = EmittedEvent {
            from_address,
            keys: keys.clone(),
            data: data.clone(),
            block_hash: None,
            block_number: Some(at.block_number),
            transaction_hash: at.tx_hash,
        };
        let bad = |detail: String| IndexerError::Decode {
            contract: contract.name().to_owned(),
            tx: format!("{:#x}", at.tx_hash),
            detail,
        };
        let decoded = match contract {
            Contract::Staking => {
                Decoded::Staking(staking_abi::Event::try_from(&emitted).map_err(bad)?)
            }
            Contract::Reputation => {
                Decoded::Reputation(reputation_abi::Event::try_from(&emitted).map_err(bad)?)
            }
            Contract::JobEscrow => {
                Decoded::Escrow(escrow_abi::Event::try_from(&emitted).map_err(bad)?)
            }
            Contract::Disputes => {
                Decoded::Disputes(disputes_abi::Event::try_from(&emitted).map_err(bad)?)
            }
            Contract::CiroToken if governance::name(&keys).is_some() => {
                Decoded::Token(token_abi::Event::try_from(&emitted).map_err(bad)?)
            }
            Contract::CiroToken => {
                return Err(bad("only the token's governance events are indexed".into()))
            }
        };
        Ok(Self {
            contract,
            from_address,
            keys,
            data,
            at,
            decoded,
        })
    }

    /// The event's name, e.g. `JobCreated` or `UpgradeAnnounced`.
    pub fn name(&self) -> &'static str {
        if let Some(name) = governance::name(&self.keys) {
            return name;
        }
        match &self.decoded {
            Decoded::Staking(e) => staking::name(e),
            Decoded::Reputation(e) => reputation::name(e),
            Decoded::Escrow(e) => escrow::name(e),
            Decoded::Disputes(e) => disputes::name(e),
            Decoded::Token(_) => "Token",
        }
    }

    /// The entities it concerns.
    pub fn refs(&self) -> Refs {
        match &self.decoded {
            Decoded::Staking(e) => staking::refs(e),
            Decoded::Reputation(e) => reputation::refs(e),
            Decoded::Escrow(e) => escrow::refs(e),
            Decoded::Disputes(e) => disputes::refs(e),
            Decoded::Token(_) => Refs::default(),
        }
    }
}

/// Folds `event` into `worker`. The caller passes only events whose refs name this worker.
pub fn apply_worker(worker: &mut Worker, event: &Event) -> Result<()> {
    match &event.decoded {
        Decoded::Staking(e) => staking::apply_worker(worker, e)?,
        Decoded::Reputation(e) => reputation::apply_worker(worker, e, &event.at)?,
        Decoded::Escrow(e) => escrow::apply_worker(worker, e),
        Decoded::Disputes(_) | Decoded::Token(_) => {}
    }
    let block = event.at.block_number;
    if worker.first_block == 0 || block < worker.first_block {
        worker.first_block = block;
    }
    worker.last_block = worker.last_block.max(block);
    worker.updated_at = worker.updated_at.max(event.at.timestamp);
    worker.refresh();
    Ok(())
}

/// Folds `event` into `job`. Only escrow events change a job.
pub fn apply_job(job: &mut Job, event: &Event) -> Result<()> {
    if let Decoded::Escrow(e) = &event.decoded {
        escrow::apply_job(job, e, &event.at)?;
    }
    Ok(())
}

/// Folds `event` into `dispute`. Only disputes events change a dispute.
pub fn apply_dispute(dispute: &mut Dispute, event: &Event) -> Result<()> {
    if let Decoded::Disputes(e) = &event.decoded {
        disputes::apply_dispute(dispute, e, &event.at)?;
    }
    Ok(())
}

/// A `u256` amount as `u128`, or a decode error.
pub(crate) fn units(value: &cainome::cairo_serde::U256) -> Result<u128> {
    ciro_bindings::units::from_u256(value).map_err(IndexerError::from)
}

/// A `u256` as a decimal string, whatever its size.
pub(crate) fn u256_text(value: &cainome::cairo_serde::U256) -> String {
    starknet::core::types::U256::from_words(value.low, value.high).to_string()
}

/// A non-zero address, or `None` for the zero address (an unassigned job's worker).
pub(crate) fn non_zero(address: Felt) -> Option<Felt> {
    (address != Felt::ZERO).then_some(address)
}
