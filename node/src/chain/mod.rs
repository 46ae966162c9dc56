//! The node's link to Starknet: which peers the chain backs, and the settlement of jobs.
//!
//! The event loop never waits on the chain. It sends [`ToChain`] messages to the
//! [`Settler`], a task of its own, and hears back [`FromChain`] messages through its
//! internal channel. The settler
//!
//! - verifies a peer's [`Backing`]: the account's signature over the peer id, checked by the
//!   account contract itself (`is_valid_signature`), then the account's stake, status and
//!   capabilities on the staking contract;
//! - for a client, holds one escrow job per assigned worker ("slot"): `k` are created when
//!   the job is submitted (the rewards are held from the start), one more for each extra or
//!   replacement worker; each slot is assigned on chain to its worker, and settled once the
//!   job ends: accepted when the worker's result is the agreed one and its on-chain
//!   commitment opens to it with the salt the worker sent off chain, disputed with
//!   the verification failure's hash as evidence when it is not (and every submitted slot
//!   is disputed when no k workers agreed: an unconfirmed hash is never left to finalize),
//!   refunded by `claim_timeout` when the worker never submitted, cancelled when it was
//!   never used (the decision is [`slot_step`], a pure function);
//! - for a worker, submits a commitment to its result to its slot (`ciro_bindings::commitment`:
//!   it hides the result and names the worker, so no other worker can copy it), reveals it
//!   when disputed or to finalize after a silent client, and keeps its own standing
//!   (active, capabilities) fresh so it bids only while staked;
//! - for an arbitrator, waits for the disputed worker to reveal its result before judging
//!   it: a result never revealed is judged wrong;
//! - for a client that settles from a deposit ([`Batching::deposit`]), creates no escrow
//!   job at all: it holds the rewards of the jobs in flight against its deposit (topping it
//!   up), signs an acceptance of each agreed result that names the worker's commitment, and
//!   hands it to the worker; a worker checks it (signature, deposit, fee) and pays many in
//!   one `settle_batch`; the client settles what a worker leaves after
//!   [`Batching::fallback`] itself, and reports each job with the transaction that paid it;
//! - publishes what those transactions did to reputation (their `ReputationUpdated`
//!   events), naming the transaction.
//!
//! Every step reads the slot's state before it sends anything and retries with backoff
//! while the RPC fails, so an outage delays settlement but never loses it, and the
//! escrow's own state machine makes a repeated step a no-op: nothing is paid twice. A step
//! that keeps failing, or waits on a chain clock that does not move, is reported stuck
//! ([`attempts`]), and deadlines are compared with the chain's clock
//! ([`Session::clock`]), the one the contracts read, never this machine's.
//!
//! Where each part is: [`settler`] (the task, recovery, the loop that routes each
//! [`ToChain`] message, sending with retries), [`backing`] (peers' backing, this node's
//! standing, reputation checks), [`client`], [`worker`] and [`arbiter`] (each side's
//! transactions), [`slot`] (the client's decision for one slot), and [`batch`] (deposits,
//! acceptances and batches).

use std::{collections::HashMap, sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use ciro_bindings::{
    acceptance::{Acceptance, SignedAcceptance},
    bid,
    chain::Chain,
    commitment::Opening,
    contracts::escrow::{self, JobState},
    error::ChainError,
    ops::{JobTerms, Session},
    reverts, units, Contract, Deployment,
};
use libp2p::PeerId;
use serde::Serialize;
use starknet::{
    core::{
        crypto::compute_hash_on_elements,
        types::{BlockId, BlockTag, Felt, FunctionCall},
        utils::{cairo_short_string_to_felt, get_selector_from_name, parse_cairo_short_string},
    },
    providers::Provider as _,
    signers::SigningKey,
};
use tokio::sync::{mpsc, Mutex};
use url::Url;

pub use crate::job::{SlotProgress, SlotReport, SlotState};
use crate::metrics::Metrics;
use crate::protocol::{Accepted, Backing, Consent, Evidence, Hash, JobId, ReputationUpdate};
use ciro_bindings::contracts::disputes::{self, DisputeStatus};

mod arbiter;
mod attempts;
mod backing;
mod batch;
mod client;
mod settler;
mod slot;
#[cfg(test)]
mod tests;
mod worker;

use attempts::Attempts;
pub use settler::Settler;
use slot::*;

/// What `is_valid_signature` answers for a valid signature (`'VALID'`).
const VALID: Felt = Felt::from_hex_unchecked("0x56414c4944");

/// How a node reaches the chain and what it asks of workers there.
#[derive(Clone)]
pub struct ChainSettings {
    pub rpc_url: Url,
    pub deployment: Deployment,
    /// The node's account: it stakes (a worker) or pays (a client).
    pub account: Felt,
    pub private_key: Felt,
    /// Collateral a client asks each worker to lock, base units.
    pub collateral: u128,
    /// Seconds after a submission in which the client may dispute.
    pub challenge_window_secs: u64,
    /// Seconds the on-chain deadline lies beyond the job's own, for the worker's submission.
    pub settle_margin_secs: u64,
    /// How often a waiting settlement looks at the chain again.
    pub poll: Duration,
    /// How often a worker re-reads its own standing.
    pub standing_refresh: Duration,
    /// The longest wait between retries while the RPC fails.
    pub max_backoff: Duration,
    /// How many times a step against the chain fails before it is reported stuck (a WARN,
    /// `ciro_node_settlements_stuck`, the job's `settling`); it goes on, every `stuck_retry`.
    pub max_attempts: u32,
    /// How often a stuck settlement step is tried again: often enough that a step bound by
    /// a deadline (an assignment, whose consent runs out) goes through soon after the chain
    /// is back.
    pub stuck_retry: Duration,
    /// How far this machine's clock may run past a deadline the chain's clock has not
    /// reached before the slot is reported stuck: a chain that makes no blocks.
    pub clock_grace: Duration,
    /// Several transactions in flight at once, numbered by the session as they are
    /// submitted ([`Session::submit`]); off, each step waits for the one before it to be
    /// included, as the node used to.
    pub pipelined: bool,
    /// Act as an arbitrator: re-run disputed jobs from the evidence clients publish and
    /// vote (the account must be one of the disputes contract's arbitrators).
    pub arbitrate: bool,
    /// The most collateral this worker consents to lock for one job, base units; `None`
    /// offers all its free stake. A job asking more gets no consent from it.
    pub max_collateral: Option<u128>,
    /// Settling from a deposit with signed acceptances, many jobs to a transaction.
    pub batching: Batching,
}

/// How a node settles through the escrow's deposits: a client pays each agreed result with
/// a signed acceptance instead of an escrow job per worker, and whoever holds acceptances
/// (the worker, or the client when the worker does not) pays many in one `settle_batch`.
#[derive(Clone, Debug)]
pub struct Batching {
    /// As a client, settle from a deposit topped up by at least this much (base units)
    /// whenever the jobs in flight need more; `None` keeps one escrow job per worker, with
    /// collateral and disputes.
    pub deposit: Option<u128>,
    /// A batch goes on chain once this many acceptances wait…
    pub max_jobs: usize,
    /// …or once the oldest has waited this long.
    pub max_wait: Duration,
    /// A client settles an acceptance itself when its worker has not after this long.
    pub fallback: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            deposit: None,
            max_jobs: 50,
            max_wait: Duration::from_secs(2),
            fallback: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for ChainSettings {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainSettings")
            .field("rpc_url", &ciro_bindings::chain::redact(&self.rpc_url))
            .field("account", &format_args!("{:#x}", self.account))
            .field("collateral", &self.collateral)
            .finish_non_exhaustive()
    }
}

impl ChainSettings {
    /// Settings with the defaults for everything but where and who.
    pub fn new(rpc_url: Url, deployment: Deployment, account: Felt, private_key: Felt) -> Self {
        Self {
            rpc_url,
            deployment,
            account,
            private_key,
            collateral: 0,
            challenge_window_secs: 3600,
            settle_margin_secs: 120,
            poll: Duration::from_secs(2),
            standing_refresh: Duration::from_secs(10),
            max_backoff: Duration::from_secs(10),
            max_attempts: 8,
            stuck_retry: Duration::from_secs(10),
            clock_grace: CLOCK_GRACE,
            pipelined: true,
            arbitrate: false,
            max_collateral: None,
            batching: Batching::default(),
        }
    }
}

/// How far this machine's clock may run past a deadline the chain's clock has not reached
/// before the slot is reported stuck ([`ChainSettings::clock_grace`]'s default).
pub const CLOCK_GRACE: Duration = Duration::from_secs(60);

/// A felt from a 32-byte hash: the top six bits cleared, so it is always below the field's
/// prime and two different felts mean two different hashes.
pub fn felt_of(hash: &Hash) -> Felt {
    let mut bytes = hash.0;
    bytes[0] &= 0x03;
    Felt::from_bytes_be(&bytes)
}

/// The opening of a worker's commitment to `result` with its 32-byte `salt`, as the chain
/// reads them.
pub fn opening_of(result: &Hash, salt: &[u8; 32]) -> Opening {
    Opening {
        result_hash: felt_of(result),
        salt: Felt::from_bytes_be(salt),
    }
}

/// What an account signs to back a peer: a Pedersen hash of a domain tag, the chain id,
/// the account and the peer id's bytes (31 to a felt), so a backing is good for one peer on
/// one chain only.
pub fn binding_hash(chain_id: Felt, account: Felt, peer: &PeerId) -> Felt {
    let bytes = peer.to_bytes();
    let mut elements = vec![
        cairo_short_string_to_felt("ciro/peer/1").expect("a short string"),
        chain_id,
        account,
        Felt::from(bytes.len() as u64),
    ];
    elements.extend(bytes.chunks(31).map(Felt::from_bytes_be_slice));
    compute_hash_on_elements(&elements)
}

/// This node's backing: `account` signs [`binding_hash`] with `key`.
pub fn sign_backing(
    chain_id: Felt,
    account: Felt,
    key: Felt,
    peer: &PeerId,
) -> anyhow::Result<Backing> {
    let signature = SigningKey::from_secret_scalar(key)
        .sign(&binding_hash(chain_id, account, peer))
        .map_err(|e| anyhow::anyhow!("signing the backing: {e}"))?;
    Ok(Backing {
        account: account.to_bytes_be(),
        signature: vec![signature.r.to_bytes_be(), signature.s.to_bytes_be()],
    })
}

/// How long a worker's consent stays usable on chain, in seconds.
pub const CONSENT_TTL_SECS: u64 = 600;

/// Seconds a worker's consent gives it past the job's own deadline to get its result on
/// chain. A client's escrow deadline must leave at least this much
/// ([`ChainSettings::settle_margin_secs`] is checked against it).
pub const CONSENT_MARGIN_SECS: u64 = 30;

/// What a worker signs its consents with: its account's key, for one escrow on one chain.
#[derive(Clone)]
pub struct Bidder {
    chain_id: Felt,
    escrow: Felt,
    account: Felt,
    key: SigningKey,
}

impl std::fmt::Debug for Bidder {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bidder")
            .field("account", &format_args!("{:#x}", self.account))
            .finish_non_exhaustive()
    }
}

impl Bidder {
    /// The account that signs.
    pub fn account(&self) -> Felt {
        self.account
    }

    /// Signs the worker's consent to `job`: at least `price`, at most `collateral` locked,
    /// the result due on chain [`CONSENT_MARGIN_SECS`] after the job's own deadline (whole
    /// seconds), usable
    /// for [`CONSENT_TTL_SECS`] from `now_secs`.
    pub fn consent(
        &self,
        job: &JobId,
        price: u128,
        collateral: u128,
        job_deadline_ms: u64,
        now_secs: u64,
    ) -> anyhow::Result<Consent> {
        let nonce = Felt::from(rand::random::<u128>());
        let bid = bid::Bid {
            spec_hash: felt_of(job),
            price,
            collateral,
            // Rounded down: a client counts its escrow deadline from whole seconds too.
            deadline: job_deadline_ms / 1000 + CONSENT_MARGIN_SECS,
            expiry: now_secs + CONSENT_TTL_SECS,
            nonce,
        };
        let signed = bid.sign(self.chain_id, self.escrow, self.account, &self.key)?;
        Ok(Consent {
            price,
            collateral,
            deadline: bid.deadline,
            expiry: bid.expiry,
            nonce: nonce.to_bytes_be(),
            signature: signed.signature.iter().map(Felt::to_bytes_be).collect(),
        })
    }
}

/// The collateral a worker's consent offers: its free stake, capped by its own limit.
pub fn offered_collateral(free: u128, max: Option<u128>) -> u128 {
    max.map_or(free, |max| max.min(free))
}

/// The signed bid a client sends to the escrow for `worker`'s `consent` to `job`.
pub fn signed_bid(job: &JobId, worker: Felt, consent: &Consent) -> bid::SignedBid {
    bid::SignedBid {
        worker,
        bid: bid::Bid {
            spec_hash: felt_of(job),
            price: consent.price,
            collateral: consent.collateral,
            deadline: consent.deadline,
            expiry: consent.expiry,
            nonce: Felt::from_bytes_be(&consent.nonce),
        },
        signature: consent.signature.iter().map(Felt::from_bytes_be).collect(),
    }
}

/// What a client sends `worker` for its `signed` acceptance of the job's result.
pub fn accepted_message(job: &JobId, signed: &SignedAcceptance) -> Accepted {
    let a = &signed.acceptance;
    Accepted {
        job_id: *job,
        client: signed.client.to_bytes_be(),
        capability: a.capability.to_bytes_be(),
        amount: a.amount,
        fee_bps: a.fee_bps,
        commitment: a.commitment.to_bytes_be(),
        nonce: a.nonce.to_bytes_be(),
        signature: signed.signature.iter().map(Felt::to_bytes_be).collect(),
    }
}

/// The signed acceptance a worker (account `worker`) received in `message`.
pub fn signed_acceptance(worker: Felt, message: &Accepted) -> SignedAcceptance {
    SignedAcceptance {
        client: Felt::from_bytes_be(&message.client),
        acceptance: Acceptance {
            worker,
            spec_hash: felt_of(&message.job_id),
            capability: Felt::from_bytes_be(&message.capability),
            amount: message.amount,
            fee_bps: message.fee_bps,
            commitment: Felt::from_bytes_be(&message.commitment),
            nonce: Felt::from_bytes_be(&message.nonce),
        },
        signature: message.signature.iter().map(Felt::from_bytes_be).collect(),
    }
}

/// A worker's standing on the staking contract, as verified for a peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Backer {
    #[serde(serialize_with = "felt_hex")]
    pub account: Felt,
    pub active: bool,
    pub capabilities: Vec<String>,
    #[serde(serialize_with = "crate::json::decimal")]
    pub stake: u128,
    #[serde(serialize_with = "crate::json::decimal")]
    pub free: u128,
}

impl Backer {
    /// Whether this standing lets the worker take a job for `capability` needing
    /// `collateral`.
    pub fn backs(&self, capability: &str, collateral: u128) -> bool {
        self.active && self.capabilities.iter().any(|c| c == capability) && self.free >= collateral
    }
}

fn felt_hex<S: serde::Serializer>(felt: &Felt, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{felt:#x}"))
}

/// How a worker stands against the client's verdict on its work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Verdict {
    /// Its result is the agreed one; `salt` opens its on-chain commitment to it.
    Agreed { result: Hash, salt: [u8; 32] },
    /// Its result disagreed; `evidence` is the hash of the verification-failure record.
    Wrong { evidence: Hash },
    /// It delivered nothing the client could use (dropped, timed out, never ran).
    NoResult,
}

/// What an earlier run of this node left for the settler to resume, from its store.
#[derive(Clone, Debug, Default)]
pub struct Earlier {
    /// A worker's duties: each job and the opening of its commitment.
    pub duties: Vec<(JobId, Opening)>,
    /// A client's jobs whose slots are not all settled.
    pub jobs: Vec<ResumedJob>,
}

/// A client job an earlier run submitted: its escrow slots (their spec hash is the job's
/// id) are settled by the verdicts stored when it ended; paid from the deposit, its agreed
/// results are accepted again (the same acceptances: each is paid once). A job that had
/// not ended has no verdicts: its open slots are cancelled, its assigned ones claimed after
/// their deadline, and its submitted ones left to their window, as the worker's finalize
/// pays them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumedJob {
    pub job: JobId,
    pub reward: u128,
    pub capability: String,
    pub ended: bool,
    pub expected: Option<Hash>,
    pub workers: Vec<ResumedWorker>,
}

/// A worker of a resumed job: its verdict, and the consent it signed (naming its account),
/// with which a slot the earlier run had not assigned yet is assigned to it, if it is owed
/// pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumedWorker {
    pub peer: PeerId,
    pub verdict: Verdict,
    pub bid: bid::SignedBid,
}

/// What the event loop asks of the chain.
#[derive(Debug)]
pub enum ToChain {
    /// A client's new job: create `slots` escrow jobs of `reward` each.
    Created {
        job: JobId,
        slots: u8,
        reward: u128,
        capability: String,
        deadline_ms: u64,
    },
    /// A client assigned `worker` to the job; `bid` is its signed consent (its account is
    /// `bid.worker`).
    Assigned {
        job: JobId,
        worker: PeerId,
        bid: bid::SignedBid,
    },
    /// A client's job ended: settle every slot. `expected` is the agreed result, if any.
    Finished {
        job: JobId,
        expected: Option<Hash>,
        verdicts: Vec<(PeerId, Verdict)>,
    },
    /// A worker's committed result for its slot, and the salt it commits with.
    Submit {
        job: JobId,
        escrow_id: u64,
        result: Hash,
        salt: [u8; 32],
    },
    /// Check whether the chain backs `peer`.
    Verify { peer: PeerId, backing: Backing },
    /// Check a reputation update another peer published.
    CheckReputation {
        from: PeerId,
        update: ReputationUpdate,
    },
    /// An arbitrator heard `client`'s evidence: check it against the chain.
    Arbitrate { client: PeerId, evidence: Evidence },
    /// An arbitrator's ruling from its own re-run.
    Vote { dispute_id: u64, worker_right: bool },
    /// A worker bid for a job a client pays from its deposit: check that `backing` binds
    /// the client's peer to an account whose deposit can pay `amount` (the job's reward
    /// and what that client owes this worker already).
    CheckPayer {
        job: JobId,
        client: PeerId,
        backing: Backing,
        amount: u128,
    },
    /// A worker holds its client's signed acceptance of its result: check it and settle it
    /// in a batch. `resumed`: an earlier run held it, and a batch may have paid it since.
    Accepted {
        job: JobId,
        acceptance: SignedAcceptance,
        resumed: bool,
    },
}

/// Why the chain does not back a peer, or could not say.
#[derive(Debug, thiserror::Error)]
pub enum BackingError {
    #[error("account {0:#x} did not sign this peer id on this chain")]
    NotSigned(Felt),
    /// The chain could not be read: no verdict on the peer either way.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Why an arbitrator leaves a dispute's evidence alone.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("dispute {0} is not open")]
    NotOpen(u64),
    #[error("the dispute is about another escrow job")]
    OtherEscrowJob,
    #[error("already voted")]
    AlreadyVoted,
    #[error("the escrow job is not the evidence's job")]
    OtherJob,
    #[error("the evidence names no valid worker: {0}")]
    BadWorker(String),
    #[error("the dispute's evidence hash is not this record's")]
    OtherRecord,
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// What the chain tells the event loop.
#[derive(Debug)]
pub enum FromChain {
    /// A client's job is funded: its rewards are held in the deposit.
    Funded { job: JobId },
    /// A client's slots exist (the rewards are held).
    Slots { job: JobId, escrow_ids: Vec<u64> },
    /// A worker's slot is assigned on chain; tell the worker.
    Escrowed {
        job: JobId,
        worker: PeerId,
        escrow_id: u64,
    },
    /// The chain refused something for the job (not enough CIRO, an unbacked worker…).
    Refused { job: JobId, message: String },
    /// Every slot of the job is settled.
    Settled { job: JobId, slots: Vec<SlotReport> },
    /// A worker's result is on chain.
    Submitted { job: JobId, escrow_id: u64 },
    /// A worker finalized its slot after the client let the window pass: it is paid.
    Finalized { job: JobId, escrow_id: u64 },
    /// A slot an earlier run of this client left open is settled.
    Recovered(SlotReport),
    /// Where a slot's settlement stands while it does not go through at once (`None`: it
    /// went through).
    Progress {
        job: JobId,
        escrow_id: u64,
        progress: Option<SlotProgress>,
    },
    /// A client disputed `worker`'s slot; publish the evidence.
    Disputed {
        job: JobId,
        escrow_id: u64,
        dispute_id: u64,
        worker: PeerId,
    },
    /// The evidence matches an open dispute this arbitrator has not voted on: re-run the
    /// job and compare with `worker_result`, the hash the worker submitted.
    Rerun {
        client: PeerId,
        evidence: Evidence,
        worker_result: Felt,
    },
    /// A worker's slot left `Submitted` (accepted, finalized, disputed or refunded).
    WorkSettled { job: JobId, disputed: bool },
    /// This arbitrator's vote is on chain.
    Voted { dispute_id: u64, worker_right: bool },
    /// The verdict on a peer's backing: `Ok` with its standing, `Err` with why not.
    Verified {
        peer: PeerId,
        backing: Backing,
        verdict: Result<Backer, BackingError>,
    },
    /// This node's own standing, re-read.
    OwnStanding(Backer),
    /// A reputation change this node caused; publish it.
    Reputation(ReputationUpdate),
    /// The verdict on a reputation update another peer published.
    ReputationChecked {
        from: PeerId,
        update: ReputationUpdate,
        genuine: bool,
    },
    /// A client accepted `worker`'s result from its deposit: hand it the acceptance.
    Accepted {
        job: JobId,
        worker: PeerId,
        acceptance: SignedAcceptance,
    },
    /// The verdict on a client's deposit: `Ok` with the account that pays.
    PayerChecked {
        job: JobId,
        verdict: Result<Felt, PayerError>,
    },
    /// A worker's acceptance for the job will not pay (see [`AcceptanceError`]).
    AcceptanceRefused { job: JobId, error: AcceptanceError },
    /// A batch of acceptances is paid, in transaction `tx_hash`.
    BatchSettled {
        tx_hash: Felt,
        jobs: Vec<JobId>,
        amount: u128,
    },
}

/// Why a worker will not run a job for a client that pays from its deposit.
#[derive(Debug, thiserror::Error)]
pub enum PayerError {
    #[error("account {0:#x} did not sign the client's peer id on this chain")]
    NotSigned(Felt),
    #[error("the client's deposit has {available} free, the job needs {needed}")]
    Unfunded { available: u128, needed: u128 },
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Why a worker will not count on an acceptance its client sent.
#[derive(Debug, thiserror::Error)]
pub enum AcceptanceError {
    #[error("the client's account {0:#x} did not sign it")]
    NotSigned(Felt),
    #[error("it was settled already")]
    Used,
    #[error("the client's deposit ({held}) cannot pay {amount}")]
    Unfunded { held: u128, amount: u128 },
    #[error("its fee ({fee_bps} bps) is below the escrow's floor ({floor_bps} bps)")]
    FeeBelowFloor { fee_bps: u16, floor_bps: u16 },
    #[error("its fee ({fee_bps} bps) is above the {agreed_bps} bps jobs are agreed under")]
    FeeAboveTerms { fee_bps: u16, agreed_bps: u16 },
    #[error(transparent)]
    Chain(#[from] ChainError),
}
