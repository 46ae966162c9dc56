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
//! - publishes what those transactions did to reputation (their `ReputationUpdated`
//!   events), naming the transaction.
//!
//! Every step reads the slot's state before it sends anything and retries with backoff
//! while the RPC fails, so an outage delays settlement but never loses it, and the
//! escrow's own state machine makes a repeated step a no-op: nothing is paid twice.

use std::{collections::HashMap, sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use ciro_bindings::{
    bid,
    chain::Chain,
    commitment::Opening,
    contracts::escrow::{self, JobState},
    error::ChainError,
    ops::{JobTerms, Session},
    units, Contract, Deployment,
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

use crate::protocol::{Backing, Consent, Evidence, Hash, JobId, ReputationUpdate};
use ciro_bindings::contracts::disputes::{self, DisputeStatus};

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
    /// Act as an arbitrator: re-run disputed jobs from the evidence clients publish and
    /// vote (the account must be one of the disputes contract's arbitrators).
    pub arbitrate: bool,
    /// The most collateral this worker consents to lock for one job, base units; `None`
    /// offers all its free stake. A job asking more gets no consent from it.
    pub max_collateral: Option<u128>,
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
            arbitrate: false,
            max_collateral: None,
        }
    }
}

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

/// A worker's standing on the staking contract, as verified for a peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Backer {
    #[serde(serialize_with = "felt_hex")]
    pub account: Felt,
    pub active: bool,
    pub capabilities: Vec<String>,
    #[serde(serialize_with = "crate::gateway::decimal")]
    pub stake: u128,
    #[serde(serialize_with = "crate::gateway::decimal")]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its result is the agreed one; `salt` opens its on-chain commitment to it.
    Agreed { result: Hash, salt: [u8; 32] },
    /// Its result disagreed; `evidence` is the hash of the verification-failure record.
    Wrong { evidence: Hash },
    /// It delivered nothing the client could use (dropped, timed out, never ran).
    NoResult,
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
}

/// What a slot ended as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlotReport {
    pub escrow_id: u64,
    pub worker: Option<PeerId>,
    /// The slot's final state on chain: `completed`, `disputed`, `refunded`, `cancelled`,
    /// or `submitted` when it is left for `finalize` after the window.
    pub state: String,
    /// The transaction that settled it, if this node sent one.
    pub tx_hash: Option<String>,
}

/// What the chain tells the event loop.
#[derive(Debug)]
pub enum FromChain {
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
        verdict: Result<Backer, String>,
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
}

/// The chain side of a node.
pub struct Settler {
    session: Session,
    settings: ChainSettings,
    /// One transaction at a time from this account, so nonces never race.
    sending: Mutex<()>,
    /// Disputes whose evidence is being checked (which can wait for the worker's reveal):
    /// the evidence's later publications are not checked again meanwhile.
    checking: std::sync::Mutex<std::collections::HashSet<u64>>,
    out: mpsc::UnboundedSender<FromChain>,
}

/// A client job's messages, in order, to the task that settles it.
type JobMailbox = mpsc::UnboundedSender<ToChain>;

impl Settler {
    /// Connects, checks that the manifest belongs to this chain, and starts the settler.
    /// Returns the sender the event loop talks through, this node's signed backing and what
    /// it signs consents with.
    pub async fn start(
        settings: ChainSettings,
        me: PeerId,
        out: mpsc::UnboundedSender<FromChain>,
    ) -> anyhow::Result<(mpsc::UnboundedSender<ToChain>, Backing, Bidder)> {
        if settings.settle_margin_secs < CONSENT_MARGIN_SECS {
            anyhow::bail!(
                "the settle margin ({} s) must be at least the {CONSENT_MARGIN_SECS} s a worker's consent asks past the job's deadline",
                settings.settle_margin_secs
            );
        }
        let chain = Chain::connect(&settings.rpc_url).await?;
        if chain.chain_id() != settings.deployment.chain_id {
            anyhow::bail!(
                "the RPC at {} is chain {}, but the manifest was deployed on {:#x}",
                ciro_bindings::chain::redact(&settings.rpc_url),
                chain.chain_name(),
                settings.deployment.chain_id
            );
        }
        let account = chain.account(
            settings.account,
            SigningKey::from_secret_scalar(settings.private_key),
        );
        let backing = sign_backing(
            chain.chain_id(),
            settings.account,
            settings.private_key,
            &me,
        )?;
        let bidder = Bidder {
            chain_id: chain.chain_id(),
            escrow: settings.deployment.address(Contract::JobEscrow)?,
            account: settings.account,
            key: SigningKey::from_secret_scalar(settings.private_key),
        };
        let session = Session::new(chain, settings.deployment.clone(), account);
        let settler = Arc::new(Settler {
            session,
            settings,
            sending: Mutex::new(()),
            checking: Default::default(),
            out,
        });
        // What this account left unsettled in an earlier run: every escrow job up to now.
        // Jobs this run creates come after, so recovery never touches them.
        let existing = settler.session.job_count().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(settler.run(rx, existing));
        Ok((tx, backing, bidder))
    }

    /// How far back recovery looks, in escrow jobs.
    const RECOVERY_WINDOW: u64 = 10_000;

    /// Resumes the settlement an earlier run of this account left: as a client, its open
    /// slots are cancelled and its assigned ones claimed once their deadline passes; as a
    /// worker, its submitted slots are finalized once their window passes, if their result
    /// was revealed (this run does not know an earlier run's openings). A slot whose result
    /// this run cannot judge (submitted to a client) is left to the window.
    async fn recover(self: Arc<Self>, existing: u64) {
        let me = self.session.me();
        let first = existing.saturating_sub(Self::RECOVERY_WINDOW) + 1;
        let mut resumed = Vec::new();
        for escrow_id in first..=existing {
            let Ok(slot) = self.slot(escrow_id).await else {
                continue;
            };
            let client =
                slot.client.0 == me && matches!(slot.state, JobState::Open | JobState::Assigned);
            let worker = slot.worker.0 == me && slot.state == JobState::Submitted;
            if client || worker {
                resumed.push((escrow_id, client));
            }
        }
        if resumed.is_empty() {
            return;
        }
        tracing::info!(slots = ?resumed, "resuming the settlement of an earlier run");
        let work = resumed.into_iter().map(|(escrow_id, client)| {
            let settler = self.clone();
            async move {
                if client {
                    let report = settler
                        .settle_slot(JobId::default(), escrow_id, None, None, Verdict::NoResult)
                        .await;
                    let _ = settler.out.send(FromChain::Recovered(report));
                } else {
                    settler
                        .finalize_when_due(JobId::default(), escrow_id, None)
                        .await;
                }
            }
        });
        futures::future::join_all(work).await;
    }

    /// Handles the event loop's messages until it stops. Every piece of work runs in one
    /// `JoinSet`, so when the node stops (or is killed), its settlement stops with it, as
    /// a crashed process's would.
    async fn run(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<ToChain>, existing: u64) {
        let mut jobs: HashMap<JobId, JobMailbox> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.clone().watch_own_standing());
        tasks.spawn(self.clone().recover(existing));
        loop {
            let message = tokio::select! {
                message = rx.recv() => match message {
                    Some(message) => message,
                    None => return,
                },
                Some(_) = tasks.join_next() => continue,
            };
            match message {
                ToChain::Created {
                    job,
                    slots,
                    reward,
                    capability,
                    deadline_ms,
                } => {
                    let (mailbox, inbox) = mpsc::unbounded_channel();
                    jobs.insert(job, mailbox);
                    let settler = self.clone();
                    tasks.spawn(async move {
                        settler
                            .client_job(job, slots, reward, capability, deadline_ms, inbox)
                            .await
                    });
                }
                m @ (ToChain::Assigned { .. } | ToChain::Finished { .. }) => {
                    let (job, last) = match &m {
                        ToChain::Assigned { job, .. } => (*job, false),
                        ToChain::Finished { job, .. } => (*job, true),
                        _ => unreachable!(),
                    };
                    match jobs.get(&job) {
                        Some(mailbox) => {
                            let _ = mailbox.send(m);
                        }
                        None => tracing::warn!(%job, "no escrow for this job"),
                    }
                    if last {
                        jobs.remove(&job);
                    }
                }
                ToChain::Submit {
                    job,
                    escrow_id,
                    result,
                    salt,
                } => {
                    let settler = self.clone();
                    let opening = opening_of(&result, &salt);
                    tasks.spawn(async move { settler.submit(job, escrow_id, opening).await });
                }
                ToChain::Verify { peer, backing } => {
                    let settler = self.clone();
                    tasks.spawn(async move {
                        let verdict = settler.verify(&peer, &backing).await;
                        let _ = settler.out.send(FromChain::Verified {
                            peer,
                            backing,
                            verdict,
                        });
                    });
                }
                ToChain::Arbitrate { client, evidence } => {
                    let dispute_id = evidence.dispute_id;
                    if !self.checking.lock().expect("lock").insert(dispute_id) {
                        continue;
                    }
                    let settler = self.clone();
                    tasks.spawn(async move {
                        let checked = settler.check_evidence(&evidence).await;
                        settler.checking.lock().expect("lock").remove(&dispute_id);
                        match checked {
                            Ok(worker_result) => {
                                let _ = settler.out.send(FromChain::Rerun {
                                    client,
                                    evidence,
                                    worker_result,
                                });
                            }
                            Err(why) => tracing::info!(
                                dispute = evidence.dispute_id,
                                "not arbitrating: {why}"
                            ),
                        }
                    });
                }
                ToChain::Vote {
                    dispute_id,
                    worker_right,
                } => {
                    let settler = self.clone();
                    tasks.spawn(async move { settler.vote(dispute_id, worker_right).await });
                }
                ToChain::CheckReputation { from, update } => {
                    let settler = self.clone();
                    tasks.spawn(async move {
                        let genuine = settler.check_reputation(&update).await;
                        let _ = settler.out.send(FromChain::ReputationChecked {
                            from,
                            update,
                            genuine,
                        });
                    });
                }
            }
        }
    }

    /// Waits that double from 100 ms up to `max_backoff`, for as many retries as it takes.
    fn backoff(&self) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(self.settings.max_backoff)
            .without_max_times()
            .build()
    }

    /// Runs `step` until it succeeds or fails in a way no retry can fix (a revert, bad
    /// input, a shortfall). RPC failures are retried with backoff, for as long as it takes.
    async fn retry<T, F, Fut>(&self, what: &str, mut step: F) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ChainError>>,
    {
        let mut backoff = self.backoff();
        loop {
            match step().await {
                Ok(value) => return Ok(value),
                Err(e @ (ChainError::Unreachable { .. } | ChainError::Rpc { .. })) => {
                    let wait = backoff.next().unwrap_or(self.settings.max_backoff);
                    tracing::warn!("{what}: {e}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends one transaction's worth of work, alone.
    async fn send<T, F, Fut>(&self, what: &str, step: F) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ChainError>>,
    {
        let _one_at_a_time = self.sending.lock().await;
        self.retry(what, step).await
    }

    /// Sends `step` alone, if escrow job `escrow_id` is still in `expected` when read again
    /// under the lock (another step may have moved it): `None` when it was not.
    async fn send_while<T, F, Fut>(
        &self,
        what: &str,
        escrow_id: u64,
        expected: JobState,
        mut step: F,
    ) -> Result<Option<T>, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ChainError>>,
    {
        let expected = &expected;
        self.send(what, || {
            let step = step();
            async move {
                if self.session.job_status(escrow_id).await?.state != *expected {
                    return Ok(None);
                }
                step.await.map(Some)
            }
        })
        .await
    }

    async fn slot(&self, escrow_id: u64) -> Result<escrow::Job, ChainError> {
        self.retry("JobEscrow.job", || self.session.job_status(escrow_id))
            .await
    }

    /// Publishes the reputation changes of transaction `hash`.
    async fn publish_reputation(&self, hash: Felt) {
        let updates = self
            .retry("ReputationUpdated events", || {
                self.session.reputation_updates(hash)
            })
            .await
            .unwrap_or_default();
        for (block, update) in updates {
            let _ = self.out.send(FromChain::Reputation(ReputationUpdate {
                worker: update.worker.0.to_bytes_be(),
                reason: parse_cairo_short_string(&update.reason).unwrap_or_default(),
                jobs_completed: update.new.jobs_completed,
                jobs_failed: update.new.jobs_failed,
                disputes_won: update.new.disputes_won,
                disputes_lost: update.new.disputes_lost,
                tx_hash: hash.to_bytes_be(),
                block,
            }));
        }
    }

    // ----- verifying peers ------------------------------------------------------------

    async fn verify(&self, peer: &PeerId, backing: &Backing) -> Result<Backer, String> {
        let account = Felt::from_bytes_be(&backing.account);
        let hash = binding_hash(self.session.chain.chain_id(), account, peer);
        let mut calldata = vec![hash, Felt::from(backing.signature.len() as u64)];
        calldata.extend(backing.signature.iter().map(Felt::from_bytes_be));
        let call = FunctionCall {
            contract_address: account,
            entry_point_selector: get_selector_from_name("is_valid_signature")
                .expect("a valid name"),
            calldata,
        };
        let answer = self
            .retry("is_valid_signature", || async {
                match self
                    .session
                    .chain
                    .rpc()
                    .call(&call, BlockId::Tag(BlockTag::PreConfirmed))
                    .await
                {
                    Ok(answer) => Ok(answer.first().copied()),
                    // No such account, or it reverted on this signature: not valid.
                    Err(starknet::providers::ProviderError::StarknetError(_)) => Ok(None),
                    Err(e) => Err(self.session.chain.error("is_valid_signature", e)),
                }
            })
            .await
            .map_err(|e| e.to_string())?;
        if answer != Some(VALID) {
            return Err(format!(
                "account {account:#x} did not sign this peer id on this chain"
            ));
        }
        self.standing(account).await
    }

    async fn standing(&self, account: Felt) -> Result<Backer, String> {
        let status = self
            .retry("Staking views", || self.session.worker_status(account))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Backer {
            account,
            active: status.active,
            capabilities: status.capabilities,
            stake: status.stake,
            free: status.free,
        })
    }

    async fn watch_own_standing(self: Arc<Self>) {
        loop {
            match self.standing(self.settings.account).await {
                Ok(backer) => {
                    if self.out.send(FromChain::OwnStanding(backer)).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!("reading this node's stake: {e}"),
            }
            tokio::time::sleep(self.settings.standing_refresh).await;
        }
    }

    async fn check_reputation(&self, update: &ReputationUpdate) -> bool {
        let hash = Felt::from_bytes_be(&update.tx_hash);
        let Ok(events) = self
            .retry("ReputationUpdated events", || {
                self.session.reputation_updates(hash)
            })
            .await
        else {
            return false;
        };
        events.iter().any(|(block, e)| {
            *block == update.block
                && e.worker.0.to_bytes_be() == update.worker
                && e.new.jobs_completed == update.jobs_completed
                && e.new.jobs_failed == update.jobs_failed
                && e.new.disputes_won == update.disputes_won
                && e.new.disputes_lost == update.disputes_lost
        })
    }

    // ----- an arbitrator's side -------------------------------------------------------

    /// Checks `evidence` against the chain: the dispute is open and names this escrow job,
    /// this arbitrator has not voted, the escrow job is the evidence's job, and the
    /// dispute's evidence hash is this record's. Returns the worker's result hash once it
    /// is revealed, or zero (judged wrong) if it is not within the first half of the
    /// voting period.
    async fn check_evidence(&self, evidence: &Evidence) -> Result<Felt, String> {
        let reader = disputes::DisputesReader::new(
            self.session
                .deployment
                .address(Contract::Disputes)
                .map_err(|e| e.to_string())?,
            self.session.chain.rpc(),
        );
        let dispute = self
            .retry("Disputes.dispute", || {
                self.session.dispute_status(evidence.dispute_id)
            })
            .await
            .map_err(|e| e.to_string())?;
        if dispute.status != DisputeStatus::Open {
            return Err(format!("dispute {} is not open", evidence.dispute_id));
        }
        if dispute.job_id != evidence.escrow_id {
            return Err("the dispute is about another escrow job".into());
        }
        let voted = self
            .retry("Disputes.has_voted", || async {
                reader
                    .has_voted(
                        &evidence.dispute_id,
                        &cainome::cairo_serde::ContractAddress(self.session.me()),
                    )
                    .call()
                    .await
                    .map_err(|e| self.session.chain.error("Disputes.has_voted", e))
            })
            .await
            .map_err(|e| e.to_string())?;
        if voted {
            return Err("already voted".into());
        }
        let slot = self
            .slot(evidence.escrow_id)
            .await
            .map_err(|e| e.to_string())?;
        if slot.spec_hash != felt_of(&evidence.job_id) {
            return Err("the escrow job is not the evidence's job".into());
        }
        let worker = PeerId::from_bytes(&evidence.worker).map_err(|e| e.to_string())?;
        let record = crate::job::evidence_hash(
            &evidence.job_id,
            &worker,
            evidence.claimed,
            evidence.accepted,
        );
        let named = [
            Some(felt_of(&record)),
            evidence.accepted.as_ref().map(felt_of),
        ];
        if !named.contains(&Some(dispute.evidence_hash)) {
            return Err("the dispute's evidence hash is not this record's".into());
        }
        let reveal_by =
            dispute.opened_at + dispute.voting_ends_at.saturating_sub(dispute.opened_at) / 2;
        let mut slot = slot;
        while slot.result_hash == Felt::ZERO && self.chain_now().await <= reveal_by {
            tokio::time::sleep(self.settings.poll).await;
            slot = self
                .slot(evidence.escrow_id)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(slot.result_hash)
    }

    async fn vote(&self, dispute_id: u64, worker_right: bool) {
        let sent = self
            .send("Disputes.vote", || async {
                Ok(self
                    .session
                    .dispute_vote(dispute_id, worker_right)
                    .await?
                    .hash)
            })
            .await;
        match sent {
            Ok(hash) => {
                tracing::info!(dispute_id, worker_right, "voted");
                self.publish_reputation(hash).await;
                let _ = self.out.send(FromChain::Voted {
                    dispute_id,
                    worker_right,
                });
            }
            Err(e) => tracing::warn!(dispute_id, "voting: {e}"),
        }
    }

    // ----- a worker's side ------------------------------------------------------------

    async fn submit(&self, job: JobId, escrow_id: u64, opening: Opening) {
        let me = self.session.me();
        let slot = match self.slot(escrow_id).await {
            Ok(slot) => slot,
            Err(e) => {
                tracing::warn!(%job, escrow_id, "the client named an escrow job that cannot be read: {e}");
                return;
            }
        };
        if slot.worker.0 != me || slot.spec_hash != felt_of(&job) {
            tracing::warn!(%job, escrow_id, "the client named an escrow job that is not this worker's for this job");
            return;
        }
        if slot.state == JobState::Assigned {
            let sent = self
                .send_while(
                    "JobEscrow.submit_result",
                    escrow_id,
                    JobState::Assigned,
                    || self.session.job_submit(escrow_id, &opening),
                )
                .await;
            if let Err(e) = sent {
                tracing::warn!(%job, escrow_id, "submitting the result: {e}");
                return;
            }
        }
        tracing::info!(%job, escrow_id, "result committed on chain");
        let _ = self.out.send(FromChain::Submitted { job, escrow_id });
        self.finalize_when_due(job, escrow_id, Some(opening)).await;
    }

    /// Watches a submitted slot: if the client disputes it, the worker reveals its result
    /// for the arbitrators at once; if the client neither accepts nor disputes within the
    /// challenge window, the worker reveals and finalizes it in one transaction and is paid.
    /// Without the `opening` (a slot an earlier run submitted), only a revealed slot can
    /// be finalized.
    async fn finalize_when_due(&self, job: JobId, escrow_id: u64, opening: Option<Opening>) {
        loop {
            let slot = match self.slot(escrow_id).await {
                Ok(slot) => slot,
                Err(e) => {
                    tracing::warn!(escrow_id, "watching the submission: {e}");
                    return;
                }
            };
            let revealed = slot.result_hash != Felt::ZERO;
            if slot.state == JobState::Disputed && !revealed {
                if let Some(opening) = &opening {
                    self.reveal_disputed(job, escrow_id, opening).await;
                }
            }
            if slot.state != JobState::Submitted {
                let _ = self.out.send(FromChain::WorkSettled {
                    job,
                    disputed: slot.state == JobState::Disputed,
                });
                return;
            }
            // Finalizing reveals the result in the same transaction, unless it is already.
            let opening = match (revealed, &opening) {
                (true, _) => None,
                (false, Some(opening)) => Some(opening),
                (false, None) => {
                    tracing::warn!(
                        escrow_id,
                        "an earlier run committed this slot's result: without its opening it cannot be revealed"
                    );
                    return;
                }
            };
            let due = slot.submitted_at.saturating_add(slot.challenge_window);
            if self.chain_now().await > due {
                let sent = self
                    .send_while("JobEscrow.finalize", escrow_id, JobState::Submitted, || {
                        self.session.job_finalize(escrow_id, opening)
                    })
                    .await;
                match sent {
                    Ok(Some(receipt)) => {
                        tracing::info!(%job, escrow_id, "finalized after the challenge window");
                        self.publish_reputation(receipt.hash).await;
                        let _ = self.out.send(FromChain::Finalized { job, escrow_id });
                        return;
                    }
                    Ok(None) => return,
                    Err(ChainError::Reverted { message, .. })
                        if message.contains("window open") => {}
                    Err(e) => {
                        tracing::warn!(escrow_id, "finalizing: {e}");
                        return;
                    }
                }
            }
            tokio::time::sleep(self.settings.poll).await;
        }
    }

    /// Reveals a disputed slot's result for the arbitrators, if nobody did yet.
    async fn reveal_disputed(&self, job: JobId, escrow_id: u64, opening: &Opening) {
        let sent = self
            .send("JobEscrow.reveal", || async {
                let slot = self.session.job_status(escrow_id).await?;
                if slot.state != JobState::Disputed || slot.result_hash != Felt::ZERO {
                    return Ok(None);
                }
                self.session.job_reveal(escrow_id, opening).await.map(Some)
            })
            .await;
        match sent {
            Ok(Some(_)) => tracing::info!(%job, escrow_id, "revealed the disputed result"),
            Ok(None) => {}
            Err(e) => tracing::warn!(escrow_id, "revealing the disputed result: {e}"),
        }
    }

    // ----- a client's side ------------------------------------------------------------

    async fn create_slots(
        &self,
        job: JobId,
        count: u8,
        terms: &JobTerms,
    ) -> Result<Vec<u64>, ChainError> {
        // The escrow's job count before sending tells a retry after an answer lost in an
        // outage whether the slots were created already: they are the jobs after it whose
        // spec hash is this job's id.
        let _one_at_a_time = self.sending.lock().await;
        let before = self
            .retry("JobEscrow.job_count", || self.session.job_count())
            .await?;
        let mut backoff = self.backoff();
        loop {
            match self.session.job_create_many(terms, count, true).await {
                Ok((ids, _)) => return Ok(ids),
                Err(e @ (ChainError::Unreachable { .. } | ChainError::Rpc { .. })) => {
                    let wait = backoff.next().unwrap_or(self.settings.max_backoff);
                    tracing::warn!(%job, "creating the escrow: {e}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    if let Ok(ids) = self.created_since(before, job).await {
                        if !ids.is_empty() {
                            return Ok(ids);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// This client's escrow jobs for `job` created after the first `before`.
    async fn created_since(&self, before: u64, job: JobId) -> Result<Vec<u64>, ChainError> {
        let count = self.session.job_count().await?;
        let mut ids = Vec::new();
        for id in before + 1..=count {
            let slot = self.session.job_status(id).await?;
            if slot.client.0 == self.session.me() && slot.spec_hash == felt_of(&job) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    #[allow(clippy::too_many_arguments)]
    async fn client_job(
        &self,
        job: JobId,
        count: u8,
        reward: u128,
        capability: String,
        deadline_ms: u64,
        mut inbox: mpsc::UnboundedReceiver<ToChain>,
    ) {
        let refuse = |message: String| {
            tracing::warn!(%job, "{message}");
            let _ = self.out.send(FromChain::Refused { job, message });
        };
        let capability = match units::capability(&capability) {
            Ok(c) => c,
            Err(e) => return refuse(e.to_string()),
        };
        let left_ms = deadline_ms.saturating_sub(crate::node::now_ms());
        let terms = JobTerms {
            spec_hash: felt_of(&job),
            reward,
            capability,
            deadline_in: left_ms.div_ceil(1000) + self.settings.settle_margin_secs,
            challenge_window: self.settings.challenge_window_secs,
            collateral: self.settings.collateral,
        };
        let mut slots: Vec<(u64, Option<PeerId>)> =
            match self.create_slots(job, count, &terms).await {
                Ok(ids) => ids.into_iter().map(|id| (id, None)).collect(),
                Err(e) => return refuse(format!("creating the escrow: {e}")),
            };
        let _ = self.out.send(FromChain::Slots {
            job,
            escrow_ids: slots.iter().map(|(id, _)| *id).collect(),
        });
        tracing::info!(%job, slots = ?slots.iter().map(|s| s.0).collect::<Vec<_>>(), "escrow created");

        let (expected, verdicts) = loop {
            match inbox.recv().await {
                Some(ToChain::Assigned { worker, bid, .. }) => {
                    let account = bid.worker;
                    let escrow_id = match slots.iter_mut().find(|(_, w)| w.is_none()) {
                        Some((id, w)) => {
                            *w = Some(worker);
                            *id
                        }
                        None => match self.create_slots(job, 1, &terms).await {
                            Ok(ids) => {
                                let _ = self.out.send(FromChain::Slots {
                                    job,
                                    escrow_ids: ids.clone(),
                                });
                                slots.push((ids[0], Some(worker)));
                                ids[0]
                            }
                            Err(e) => {
                                refuse(format!("another escrow slot: {e}"));
                                continue;
                            }
                        },
                    };
                    let assigned = self
                        .send("JobEscrow.assign", || async {
                            let slot = self.session.job_status(escrow_id).await?;
                            match slot.state {
                                JobState::Open => {
                                    self.session.job_assign(escrow_id, &bid).await?;
                                    Ok(())
                                }
                                _ if slot.worker.0 == account => Ok(()),
                                other => Err(ChainError::Input(format!(
                                    "escrow job {escrow_id} is {other:?}"
                                ))),
                            }
                        })
                        .await;
                    match assigned {
                        Ok(()) => {
                            let _ = self.out.send(FromChain::Escrowed {
                                job,
                                worker,
                                escrow_id,
                            });
                        }
                        Err(e) => {
                            // The slot stays with nobody on chain; it is cancelled at the end.
                            if let Some(slot) = slots.iter_mut().find(|(id, _)| *id == escrow_id) {
                                slot.1 = None;
                            }
                            refuse(format!("assigning {worker} on chain: {e}"));
                        }
                    }
                }
                Some(ToChain::Finished {
                    expected, verdicts, ..
                }) => break (expected, verdicts),
                Some(_) => {}
                // The node stopped: settle nothing more.
                None => return,
            }
        };

        let verdicts: HashMap<PeerId, Verdict> = verdicts.into_iter().collect();
        let settling = slots.iter().map(|(escrow_id, worker)| {
            let verdict = worker
                .and_then(|w| verdicts.get(&w).cloned())
                .unwrap_or(Verdict::NoResult);
            self.settle_slot(job, *escrow_id, *worker, expected, verdict)
        });
        let reports = futures::future::join_all(settling).await;
        tracing::info!(%job, ?reports, "escrow settled");
        let _ = self.out.send(FromChain::Settled {
            job,
            slots: reports,
        });
    }

    /// Drives one slot to its end (see the module docs).
    async fn settle_slot(
        &self,
        job: JobId,
        escrow_id: u64,
        worker: Option<PeerId>,
        expected: Option<Hash>,
        verdict: Verdict,
    ) -> SlotReport {
        let mut tx_hash = None;
        let report = |state: &str, tx_hash: Option<Felt>| SlotReport {
            escrow_id,
            worker,
            state: state.into(),
            tx_hash: tx_hash.map(|h| format!("{h:#x}")),
        };
        loop {
            let slot = match self.slot(escrow_id).await {
                Ok(slot) => slot,
                Err(e) => {
                    tracing::warn!(escrow_id, "reading the escrow job: {e}");
                    return report("stuck", tx_hash);
                }
            };
            // What to send now, if anything; `None` waits for the chain to move.
            let deadline_passed = match slot.state {
                JobState::Assigned => self.chain_now().await > slot.deadline,
                _ => false,
            };
            let unconfirmed = worker.map(|worker| no_agreement_evidence(&job, worker));
            let committed = Committed {
                commitment: slot.commitment,
                worker: slot.worker.0,
            };
            let action = match slot_step(
                slot.state.clone(),
                deadline_passed,
                committed,
                &verdict,
                expected,
                unconfirmed,
            ) {
                SlotStep::Send(what, action) => Some((what, action)),
                SlotStep::Wait => None,
                SlotStep::Done(state) => return report(state, tx_hash),
            };
            let Some((what, action)) = action else {
                tokio::time::sleep(self.settings.poll).await;
                continue;
            };
            let sent = self
                .send_while(what, escrow_id, slot.state, || async {
                    let receipt = match action {
                        Action::Cancel => self.session.job_cancel(escrow_id).await?,
                        Action::Timeout => self.session.job_timeout(escrow_id).await?,
                        Action::Accept => self.session.job_accept(escrow_id).await?,
                        Action::Dispute(evidence) => {
                            let (dispute_id, receipt) =
                                self.session.job_dispute(escrow_id, evidence).await?;
                            if let Some(worker) = worker {
                                let _ = self.out.send(FromChain::Disputed {
                                    job,
                                    escrow_id,
                                    dispute_id,
                                    worker,
                                });
                            }
                            receipt
                        }
                    };
                    Ok(receipt.hash)
                })
                .await;
            match sent {
                Ok(Some(hash)) => {
                    tx_hash = Some(hash);
                    self.publish_reputation(hash).await;
                }
                Ok(None) => {}
                Err(ChainError::Reverted { message, .. })
                    if message.contains("deadline not passed") =>
                {
                    tokio::time::sleep(self.settings.poll).await
                }
                Err(e) => {
                    tracing::warn!(escrow_id, "{what}: {e}");
                    return report("stuck", tx_hash);
                }
            }
        }
    }

    /// The chain's clock: the newest block's time, or this machine's if that is later (the
    /// next block is stamped with the sequencer's clock, not the last block's).
    async fn chain_now(&self) -> u64 {
        let wall = crate::node::now_ms() / 1000;
        match self.session.chain_time().await {
            Ok(t) => t.max(wall),
            Err(_) => wall,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Cancel,
    Timeout,
    Accept,
    Dispute(Felt),
}

/// The client's next step for one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotStep {
    /// Send this transaction.
    Send(&'static str, Action),
    /// Wait for the chain to move (the deadline has not passed yet).
    Wait,
    /// Nothing more to send: the slot ends in this state.
    Done(&'static str),
}

/// The evidence hash for a slot whose worker delivered nothing the client could confirm:
/// the record names the worker with no claimed and no accepted result.
fn no_agreement_evidence(job: &JobId, worker: PeerId) -> Felt {
    felt_of(&crate::job::evidence_hash(job, &worker, None, None))
}

/// What a slot's worker committed to on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Committed {
    commitment: Felt,
    worker: Felt,
}

/// Decides a client's next step for a slot from its state on chain and the job's verdict.
///
/// - Open: cancel (the reward comes back). Assigned: claim the timeout once the deadline
///   passed.
/// - Submitted, its worker's result the agreed one: accept when the commitment on chain
///   opens to it with the salt the worker sent. Otherwise dispute, naming the verification
///   failure when there is one, else the agreed result: a worker that delivered nothing
///   (or something else) is never paid for a commitment, even one that opens to the agreed
///   result because it copied it.
/// - Submitted with no agreed result (no k workers agreed): dispute with the worker's
///   failure record, or `unconfirmed` (a record of no result) when it delivered nothing.
///   Letting such a slot finalize would pay whatever hash the worker put on chain.
/// - Any other state is the end.
fn slot_step(
    state: JobState,
    deadline_passed: bool,
    committed: Committed,
    verdict: &Verdict,
    expected: Option<Hash>,
    unconfirmed: Option<Felt>,
) -> SlotStep {
    const DISPUTE: &str = "JobEscrow.dispute";
    let opens_to_agreed = |result: &Hash, salt: &[u8; 32]| {
        let opening = opening_of(result, salt);
        expected == Some(*result) && opening.opens(committed.commitment, committed.worker)
    };
    match state {
        JobState::Open => SlotStep::Send("JobEscrow.cancel", Action::Cancel),
        JobState::Assigned if deadline_passed => {
            SlotStep::Send("JobEscrow.claim_timeout", Action::Timeout)
        }
        JobState::Assigned => SlotStep::Wait,
        JobState::Submitted => match (verdict, expected) {
            (Verdict::Agreed { result, salt }, _) if opens_to_agreed(result, salt) => {
                SlotStep::Send("JobEscrow.accept", Action::Accept)
            }
            (Verdict::Wrong { evidence }, _) => {
                SlotStep::Send(DISPUTE, Action::Dispute(felt_of(evidence)))
            }
            // A hash on chain that is not the one the worker committed to us, or a result
            // we never received: the evidence is the agreed result.
            (_, Some(agreed)) => SlotStep::Send(DISPUTE, Action::Dispute(felt_of(&agreed))),
            (_, None) => match unconfirmed {
                Some(evidence) => SlotStep::Send(DISPUTE, Action::Dispute(evidence)),
                // A slot recovered after a restart, with no record of its job: the window
                // runs out and the worker finalizes.
                None => SlotStep::Done("submitted"),
            },
        },
        JobState::Disputed => SlotStep::Done("disputed"),
        JobState::Completed => SlotStep::Done("completed"),
        JobState::Refunded => SlotStep::Done("refunded"),
        JobState::Cancelled => SlotStep::Done("cancelled"),
        JobState::None => SlotStep::Done("unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTHING: Committed = Committed {
        commitment: Felt::ZERO,
        worker: Felt::ZERO,
    };

    #[test]
    fn a_worker_offers_its_free_stake_up_to_its_own_cap() {
        assert_eq!(offered_collateral(500, None), 500);
        assert_eq!(offered_collateral(500, Some(20)), 20);
        // The cap never offers stake the worker does not have free.
        assert_eq!(offered_collateral(10, Some(20)), 10);
        assert_eq!(offered_collateral(500, Some(0)), 0);
    }

    #[test]
    fn a_slot_is_accepted_only_for_the_agreed_hash_and_disputed_otherwise() {
        let agreed = Hash::of(b"agreed");
        let salt = [7u8; 32];
        let worker = Felt::from(0xaaa_u32);
        let opening = opening_of(&agreed, &salt);
        let honest = Committed {
            commitment: opening.commitment(worker),
            worker,
        };
        let wrong = Committed {
            commitment: Felt::from(99u8),
            worker,
        };
        let evidence = Hash::of(b"failure record");
        let step = |committed, verdict: &Verdict, expected| {
            slot_step(
                JobState::Submitted,
                false,
                committed,
                verdict,
                expected,
                Some(Felt::ONE),
            )
        };
        let agreeing = Verdict::Agreed {
            result: agreed,
            salt,
        };
        assert_eq!(
            step(honest, &agreeing, Some(agreed)),
            SlotStep::Send("JobEscrow.accept", Action::Accept)
        );
        // A commitment to something else, or one the salt the worker sent does not open:
        // disputed, naming the agreed result.
        assert_eq!(
            step(wrong, &agreeing, Some(agreed)),
            SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&agreed)))
        );
        let other_salt = Verdict::Agreed {
            result: agreed,
            salt: [8u8; 32],
        };
        assert_eq!(
            step(honest, &other_salt, Some(agreed)),
            SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&agreed)))
        );
        assert_eq!(
            step(wrong, &Verdict::Wrong { evidence }, Some(agreed)),
            SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&evidence)))
        );
    }

    // A lazy worker that delivered nothing copied an honest worker's commitment (or,
    // before commitments, its plain hash). It used to be accepted because the hash on
    // chain was the agreed one; now only a worker whose own result agreed is paid.
    #[test]
    fn a_copied_commitment_is_disputed_not_accepted() {
        let agreed = Hash::of(b"agreed");
        let salt = [7u8; 32];
        let honest_worker = Felt::from(0xaaa_u32);
        let copied = opening_of(&agreed, &salt).commitment(honest_worker);
        let lazy = Committed {
            commitment: copied,
            worker: Felt::from(0xbbb_u32),
        };
        let no_result = Felt::from(3u8);
        // It delivered nothing.
        assert_eq!(
            slot_step(
                JobState::Submitted,
                false,
                lazy,
                &Verdict::NoResult,
                Some(agreed),
                Some(no_result),
            ),
            SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&agreed)))
        );
        // It even replayed the honest worker's result and salt off chain: the commitment
        // names the honest worker, so it does not open for the copier.
        assert_eq!(
            slot_step(
                JobState::Submitted,
                false,
                lazy,
                &Verdict::Agreed {
                    result: agreed,
                    salt
                },
                Some(agreed),
                Some(no_result),
            ),
            SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&agreed)))
        );
    }

    // No k workers agreed. Such a slot used to be left to finalize after the window, which
    // paid whatever hash the worker had put on chain, a liar's included. Now every
    // submitted slot is disputed: with its failure record, or a record of no result.
    #[test]
    fn without_agreement_every_submitted_slot_is_disputed() {
        let evidence = Hash::of(b"failure record");
        let no_result = Felt::from(7u8);
        let step = |verdict: &Verdict, unconfirmed| {
            slot_step(
                JobState::Submitted,
                false,
                NOTHING,
                verdict,
                None,
                unconfirmed,
            )
        };
        assert_eq!(
            step(&Verdict::Wrong { evidence }, Some(no_result)),
            SlotStep::Send("JobEscrow.dispute", Action::Dispute(felt_of(&evidence)))
        );
        assert_eq!(
            step(&Verdict::NoResult, Some(no_result)),
            SlotStep::Send("JobEscrow.dispute", Action::Dispute(no_result))
        );
        // A slot recovered after a restart has no job record to name: it is left.
        assert_eq!(step(&Verdict::NoResult, None), SlotStep::Done("submitted"));
    }

    #[test]
    fn open_slots_are_cancelled_and_missed_deadlines_claimed() {
        let v = Verdict::NoResult;
        assert_eq!(
            slot_step(JobState::Open, false, NOTHING, &v, None, None),
            SlotStep::Send("JobEscrow.cancel", Action::Cancel)
        );
        assert_eq!(
            slot_step(JobState::Assigned, false, NOTHING, &v, None, None),
            SlotStep::Wait
        );
        assert_eq!(
            slot_step(JobState::Assigned, true, NOTHING, &v, None, None),
            SlotStep::Send("JobEscrow.claim_timeout", Action::Timeout)
        );
        for (state, name) in [
            (JobState::Disputed, "disputed"),
            (JobState::Completed, "completed"),
            (JobState::Refunded, "refunded"),
            (JobState::Cancelled, "cancelled"),
        ] {
            assert_eq!(
                slot_step(state, true, NOTHING, &v, None, None),
                SlotStep::Done(name)
            );
        }
    }

    #[test]
    fn the_no_result_evidence_is_the_record_an_arbitrator_rebuilds() {
        let job = Hash::of(b"job");
        let worker = PeerId::random();
        let record = crate::job::VerificationFailure {
            worker,
            claimed: None,
            accepted: None,
            reason: "anything".into(),
            at_ms: 12,
        };
        assert_eq!(
            no_agreement_evidence(&job, worker),
            felt_of(&record.evidence_hash(&job))
        );
        assert_ne!(
            no_agreement_evidence(&job, worker),
            no_agreement_evidence(&job, PeerId::random())
        );
    }

    #[test]
    fn felts_of_hashes_are_in_the_field_and_distinct() {
        let a = felt_of(&Hash([0xff; 32]));
        assert!(a < Felt::MAX);
        assert_ne!(felt_of(&Hash::of(b"a")), felt_of(&Hash::of(b"b")));
    }

    #[test]
    fn a_binding_names_one_peer_on_one_chain() {
        let peer = PeerId::random();
        let other = PeerId::random();
        let chain = Felt::from(1u8);
        let account = Felt::from(7u8);
        let h = binding_hash(chain, account, &peer);
        assert_ne!(h, binding_hash(chain, account, &other));
        assert_ne!(h, binding_hash(Felt::from(2u8), account, &peer));
        assert_ne!(h, binding_hash(chain, Felt::from(8u8), &peer));

        let key = Felt::from(12345u32);
        let backing = sign_backing(chain, account, key, &peer).unwrap();
        let public = SigningKey::from_secret_scalar(key).verifying_key();
        let (r, s) = (
            Felt::from_bytes_be(&backing.signature[0]),
            Felt::from_bytes_be(&backing.signature[1]),
        );
        let sig = starknet::core::crypto::Signature { r, s };
        assert!(public.verify(&h, &sig).unwrap());
        assert!(!public
            .verify(&binding_hash(chain, account, &other), &sig)
            .unwrap());
    }

    #[test]
    fn a_consent_is_the_signed_bid_a_client_sends_to_the_escrow() {
        let key = Felt::from(4242u32);
        let chain_id = cairo_short_string_to_felt("SN_SEPOLIA").unwrap();
        let bidder = Bidder {
            chain_id,
            escrow: Felt::from(0xe5cu32),
            account: Felt::from(0xacc0u32),
            key: SigningKey::from_secret_scalar(key),
        };
        let job = Hash::of(b"job");
        let consent = bidder
            .consent(&job, 7, 500, 1_000_000_500, 1_000_000)
            .unwrap();
        // Due on chain a margin after the job's own deadline (in whole seconds).
        assert_eq!(consent.deadline, 1_000_000 + CONSENT_MARGIN_SECS);
        assert_eq!(consent.expiry, 1_000_000 + CONSENT_TTL_SECS);
        assert_eq!((consent.price, consent.collateral), (7, 500));

        let signed = signed_bid(&job, bidder.account, &consent);
        assert_eq!(signed.bid.spec_hash, felt_of(&job));
        let hash = signed
            .bid
            .hash(chain_id, bidder.escrow, bidder.account)
            .unwrap();
        let sig = starknet::core::crypto::Signature {
            r: signed.signature[0],
            s: signed.signature[1],
        };
        let public = SigningKey::from_secret_scalar(key).verifying_key();
        assert!(public.verify(&hash, &sig).unwrap());
        // The terms cannot be changed after signing.
        let mut raised = signed.bid;
        raised.collateral += 1;
        let raised = raised
            .hash(chain_id, bidder.escrow, bidder.account)
            .unwrap();
        assert!(!public.verify(&raised, &sig).unwrap());
        // Two consents never share a nonce.
        let again = bidder
            .consent(&job, 7, 500, 1_000_000_500, 1_000_000)
            .unwrap();
        assert_ne!(again.nonce, consent.nonce);
    }
}
