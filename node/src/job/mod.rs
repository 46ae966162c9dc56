//! A client's record of one job, and the rules it moves by: bids are scored and the best
//! assigned, commits precede payloads, a result stands once `k` workers agree on its hash
//! (k-of-n: on disagreement more workers are added, up to `2k`), dissenters become
//! verification-failure records, and workers that drop or time out are replaced.
//!
//! Pure state: the node feeds it events and the time, and acts on what it returns.

use libp2p::PeerId;
use serde::Serialize;

use crate::protocol::{Bid, Hash, JobId, Limits, Refusal};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Announced (or waiting for peers to announce to) and collecting bids.
    Bidding,
    /// Assigned; waiting for k agreeing results.
    Running,
    Completed,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentState {
    Offered,
    Accepted,
    Committed,
    Delivered,
    Refused,
    TimedOut,
    Dropped,
    /// Its payload did not match its commit.
    Broken,
}

impl AssignmentState {
    /// Still expected to deliver.
    fn in_progress(self) -> bool {
        matches!(self, Self::Offered | Self::Accepted | Self::Committed)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct BidRecord {
    pub worker: PeerId,
    pub price: u128,
    pub eta_ms: u32,
    pub stake_claim: u128,
    pub reputation_claim_ppm: u32,
    /// The selection score, from the reputation source's standing, not the claims.
    pub score: f64,
    pub received_ms: u64,
    /// The worker refused the assignment this bid won (busy); a new bid revives it.
    pub withdrawn: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct AssignmentRecord {
    pub worker: PeerId,
    pub state: AssignmentState,
    pub assigned_ms: u64,
    pub deadline_ms: u64,
    pub commit: Option<Hash>,
    /// The salt of the worker's on-chain commitment; secret until revealed.
    #[serde(skip)]
    pub salt: Option<[u8; 32]>,
    pub fuel_used: Option<u64>,
    pub finished_ms: Option<u64>,
    #[serde(skip)]
    pub output: Option<Outcome>,
}

/// What a worker delivered: an output, or a deterministic failure (out of fuel, a trap).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Output(#[serde(serialize_with = "crate::json::base64_bytes")] Vec<u8>),
    Error(String),
}

impl Outcome {
    /// What a commit for this outcome must name.
    pub fn hash(&self) -> Hash {
        match self {
            Self::Output(bytes) => Hash::of(bytes),
            Self::Error(message) => Hash::of(&[b"ciro/error\0", message.as_bytes()].concat()),
        }
    }
}

/// An outcome and its hash, computed once where input-sized work belongs: off the event
/// loop (an output runs to 8 MiB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashed {
    outcome: Outcome,
    hash: Hash,
}

impl Hashed {
    pub fn new(outcome: Outcome) -> Self {
        let hash = outcome.hash();
        Self { outcome, hash }
    }

    pub fn hash(&self) -> Hash {
        self.hash
    }

    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    pub fn into_outcome(self) -> Outcome {
        self.outcome
    }
}

impl From<Outcome> for Hashed {
    fn from(outcome: Outcome) -> Self {
        Self::new(outcome)
    }
}

/// A worker whose result disagreed with the accepted one, or broke its commit. In the
/// on-chain flow each becomes a dispute.
#[derive(Clone, Debug, Serialize)]
pub struct VerificationFailure {
    pub worker: PeerId,
    pub claimed: Option<Hash>,
    pub accepted: Option<Hash>,
    pub reason: String,
    pub at_ms: u64,
}

impl VerificationFailure {
    /// The hash a dispute names as its evidence (see [`evidence_hash`]).
    pub fn evidence_hash(&self, job: &JobId) -> Hash {
        evidence_hash(job, &self.worker, self.claimed, self.accepted)
    }
}

/// The hash a dispute names as its evidence: the job, the worker, what it claimed and what
/// was accepted, so an arbitrator handed the record can check it. `None` for both is the
/// record of a worker that delivered nothing the client could confirm.
pub fn evidence_hash(
    job: &JobId,
    worker: &PeerId,
    claimed: Option<Hash>,
    accepted: Option<Hash>,
) -> Hash {
    let none = [0u8; 32];
    Hash::of(
        &[
            b"ciro/evidence/1\0".as_slice(),
            &job.0,
            &worker.to_bytes(),
            &claimed.map_or(none, |h| h.0),
            &accepted.map_or(none, |h| h.0),
        ]
        .concat(),
    )
}

#[derive(Clone, Debug, Serialize)]
pub struct JobResult {
    pub hash: Hash,
    pub outcome: Outcome,
    pub agreeing: Vec<PeerId>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClientJob {
    pub id: JobId,
    pub spec_hash: Hash,
    pub capability: String,
    pub reward: u128,
    pub redundancy: u8,
    pub limits: Limits,
    pub module: Hash,
    pub input: Hash,
    pub created_ms: u64,
    pub deadline_ms: u64,
    pub status: JobStatus,
    pub error: Option<String>,
    pub announced_ms: Option<u64>,
    pub announcements: u32,
    #[serde(skip)]
    pub last_announced_ms: u64,
    pub selected_ms: Option<u64>,
    pub completed_ms: Option<u64>,
    pub bids: Vec<BidRecord>,
    pub assignments: Vec<AssignmentRecord>,
    pub result: Option<JobResult>,
    pub verification_failures: Vec<VerificationFailure>,
    /// Workers added beyond `redundancy` after a disagreement.
    pub extra_workers: u8,
    /// Its escrow jobs on chain, one per worker slot, when the network settles on chain.
    pub escrow_ids: Vec<u64>,
    /// What the chain refused for it (not enough CIRO, a worker it would not assign…).
    pub chain_errors: Vec<String>,
    /// How each slot ended on chain, once all have.
    pub settlement: Option<Vec<SlotReport>>,
    /// Slots still being settled that are not going through at once, and why: waiting for
    /// the chain's clock, retrying after a failure, or stuck. Empty once settled.
    pub settling: Vec<SlotProgress>,
    /// Disputes opened on chain against its workers.
    pub disputes: Vec<u64>,
    /// What made its id unique (see [`crate::protocol::job_id`]).
    #[serde(skip)]
    pub nonce: [u8; 16],
}

impl ClientJob {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: JobId,
        spec_hash: Hash,
        capability: String,
        reward: u128,
        redundancy: u8,
        limits: Limits,
        module: Hash,
        input: Hash,
        now_ms: u64,
        deadline_ms: u64,
    ) -> Self {
        Self {
            id,
            spec_hash,
            capability,
            reward,
            redundancy,
            limits,
            module,
            input,
            created_ms: now_ms,
            deadline_ms,
            status: JobStatus::Bidding,
            error: None,
            announced_ms: None,
            announcements: 0,
            last_announced_ms: 0,
            selected_ms: None,
            completed_ms: None,
            bids: Vec::new(),
            assignments: Vec::new(),
            result: None,
            verification_failures: Vec::new(),
            extra_workers: 0,
            escrow_ids: Vec::new(),
            chain_errors: Vec::new(),
            settlement: None,
            settling: Vec::new(),
            disputes: Vec::new(),
            nonce: [0; 16],
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.status, JobStatus::Bidding | JobStatus::Running)
    }

    /// The worker's latest assignment (a worker that refused once, busy, may be assigned
    /// again after it bids again).
    fn assignment_mut(&mut self, worker: &PeerId) -> Option<&mut AssignmentRecord> {
        self.assignments
            .iter_mut()
            .rev()
            .find(|a| a.worker == *worker)
    }

    pub fn assignment(&self, worker: &PeerId) -> Option<&AssignmentRecord> {
        self.assignments.iter().rev().find(|a| a.worker == *worker)
    }

    /// Records a bid. A worker bids once, or once more after it refused an assignment
    /// (it was busy); the job must still be open.
    pub fn add_bid(
        &mut self,
        worker: PeerId,
        bid: &Bid,
        score: f64,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        if !self.is_open() || now_ms > self.deadline_ms {
            return Err(Refusal::Closed);
        }
        if bid.price > self.reward {
            return Err(Refusal::BadRequest);
        }
        let record = BidRecord {
            worker,
            price: bid.price,
            eta_ms: bid.eta_ms,
            stake_claim: bid.stake_claim,
            reputation_claim_ppm: bid.reputation_claim_ppm,
            score,
            received_ms: now_ms,
            withdrawn: false,
        };
        match self.bids.iter_mut().find(|b| b.worker == worker) {
            // Withdrawn only by a refusal: the new bid takes its place.
            Some(old) if old.withdrawn => *old = record,
            Some(_) => {}
            None => self.bids.push(record),
        }
        Ok(())
    }

    /// How many more workers must be assigned now.
    pub fn wanted(&self) -> usize {
        if !self.is_open() {
            return 0;
        }
        let target = (self.redundancy + self.extra_workers) as usize;
        let live = self
            .assignments
            .iter()
            .filter(|a| a.state.in_progress() || a.state == AssignmentState::Delivered)
            .count();
        target.saturating_sub(live)
    }

    /// Bids not yet tried, best first.
    pub fn reserve(&self) -> Vec<&BidRecord> {
        let mut bids: Vec<&BidRecord> = self
            .bids
            .iter()
            .filter(|b| {
                !b.withdrawn
                    && self
                        .assignment(&b.worker)
                        .is_none_or(|a| a.state == AssignmentState::Refused)
            })
            .collect();
        bids.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.received_ms.cmp(&b.received_ms))
        });
        bids
    }

    /// Assigns the best untried bidders to fill [`Self::wanted`]; returns them.
    pub fn select(&mut self, now_ms: u64, grace_ms: u64) -> Vec<PeerId> {
        let chosen: Vec<PeerId> = self
            .reserve()
            .into_iter()
            .take(self.wanted())
            .map(|b| b.worker)
            .collect();
        let deadline = (now_ms + self.limits.timeout_ms as u64 + grace_ms).min(self.deadline_ms);
        for worker in &chosen {
            self.assignments.push(AssignmentRecord {
                worker: *worker,
                state: AssignmentState::Offered,
                assigned_ms: now_ms,
                deadline_ms: deadline,
                commit: None,
                salt: None,
                fuel_used: None,
                finished_ms: None,
                output: None,
            });
        }
        if !chosen.is_empty() {
            self.status = JobStatus::Running;
            self.selected_ms.get_or_insert(now_ms);
        }
        chosen
    }

    /// The worker's answer to its assignment.
    pub fn assign_reply(&mut self, worker: &PeerId, accepted: bool, now_ms: u64) {
        if let Some(a) = self.assignment_mut(worker) {
            if a.state == AssignmentState::Offered {
                a.state = if accepted {
                    AssignmentState::Accepted
                } else {
                    AssignmentState::Refused
                };
                if !accepted {
                    a.finished_ms = Some(now_ms);
                    if let Some(bid) = self.bids.iter_mut().find(|b| b.worker == *worker) {
                        bid.withdrawn = true;
                    }
                }
            }
        }
    }

    pub fn commit(
        &mut self,
        worker: &PeerId,
        hash: Hash,
        salt: [u8; 32],
        fuel_used: u64,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        let a = self.assignment_mut(worker).ok_or(Refusal::NotAssigned)?;
        if !matches!(
            a.state,
            AssignmentState::Offered | AssignmentState::Accepted
        ) || now_ms > a.deadline_ms
        {
            return Err(Refusal::Closed);
        }
        a.state = AssignmentState::Committed;
        a.commit = Some(hash);
        a.salt = Some(salt);
        a.fuel_used = Some(fuel_used);
        Ok(())
    }

    /// A worker's payload. It must match the worker's commit; then the results are
    /// compared.
    pub fn deliver(
        &mut self,
        worker: &PeerId,
        outcome: impl Into<Hashed>,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        let a = self.assignment_mut(worker).ok_or(Refusal::NotAssigned)?;
        if a.state != AssignmentState::Committed {
            return Err(Refusal::NoCommit);
        }
        let outcome: Hashed = outcome.into();
        let hash = outcome.hash();
        let commit = a.commit;
        a.finished_ms = Some(now_ms);
        if Some(hash) != commit {
            a.state = AssignmentState::Broken;
            self.verification_failures.push(VerificationFailure {
                worker: *worker,
                claimed: commit,
                accepted: None,
                reason: "payload does not match the worker's commit".into(),
                at_ms: now_ms,
            });
            self.verify(now_ms);
            return Err(Refusal::HashMismatch);
        }
        a.state = AssignmentState::Delivered;
        a.output = Some(outcome.into_outcome());
        self.verify(now_ms);
        Ok(())
    }

    /// A worker dropped off the network, or its request failed.
    pub fn lost(&mut self, worker: &PeerId, now_ms: u64) {
        if let Some(a) = self.assignment_mut(worker) {
            if a.state.in_progress() {
                a.state = AssignmentState::Dropped;
                a.finished_ms = Some(now_ms);
            }
        }
        self.verify(now_ms);
    }

    /// Times out overdue assignments and fails a job past its deadline. Returns true when
    /// something changed.
    pub fn expire(&mut self, now_ms: u64) -> bool {
        let mut changed = false;
        for a in &mut self.assignments {
            if a.state.in_progress() && now_ms > a.deadline_ms {
                a.state = AssignmentState::TimedOut;
                a.finished_ms = Some(now_ms);
                changed = true;
            }
        }
        if self.is_open() && now_ms > self.deadline_ms {
            self.fail("the deadline passed before k workers agreed", now_ms);
            changed = true;
        }
        if changed {
            self.verify(now_ms);
        }
        changed
    }

    /// Ends a job that is still open, without a result, for `reason`.
    pub fn abort(&mut self, reason: &str, now_ms: u64) {
        if self.is_open() {
            self.fail(reason, now_ms);
        }
    }

    /// Ends the job without a result. Every worker that committed to a result nobody
    /// agreed with gets a verification-failure record, so its slot is disputed: with no k
    /// agreeing results, a hash on chain is unconfirmed, and letting it finalize would pay
    /// a liar.
    fn fail(&mut self, reason: &str, now_ms: u64) {
        self.status = JobStatus::Failed;
        self.error = Some(reason.into());
        self.completed_ms = Some(now_ms);
        let k = self.redundancy;
        let unconfirmed: Vec<(PeerId, Hash)> = self
            .assignments
            .iter()
            .filter_map(|a| a.commit.map(|commit| (a.worker, commit)))
            .filter(|(worker, _)| {
                !self
                    .verification_failures
                    .iter()
                    .any(|f| f.worker == *worker)
            })
            .collect();
        for (worker, claimed) in unconfirmed {
            self.verification_failures.push(VerificationFailure {
                worker,
                claimed: Some(claimed),
                accepted: None,
                reason: format!("no {k} workers agreed with this result"),
                at_ms: now_ms,
            });
        }
    }

    /// k-of-n: settles the job once `redundancy` delivered results share a hash.
    fn verify(&mut self, now_ms: u64) {
        let k = self.redundancy as usize;
        let delivered: Vec<(PeerId, Hash)> = self
            .assignments
            .iter()
            .filter(|a| a.state == AssignmentState::Delivered)
            .map(|a| (a.worker, a.commit.expect("delivered implies committed")))
            .collect();
        let mut tally: Vec<(Hash, usize)> = Vec::new();
        for (_, hash) in &delivered {
            match tally.iter_mut().find(|(h, _)| h == hash) {
                Some((_, n)) => *n += 1,
                None => tally.push((*hash, 1)),
            }
        }
        let winner = self
            .result
            .as_ref()
            .map(|r| r.hash)
            .or_else(|| tally.iter().find(|(_, n)| *n >= k).map(|(h, _)| *h));

        if let Some(hash) = winner {
            // Record every dissenter once, including late ones after completion.
            for (worker, claimed) in &delivered {
                let known = self
                    .verification_failures
                    .iter()
                    .any(|f| f.worker == *worker);
                if *claimed != hash && !known {
                    self.verification_failures.push(VerificationFailure {
                        worker: *worker,
                        claimed: Some(*claimed),
                        accepted: Some(hash),
                        reason: format!("result disagrees with the {k} agreeing workers"),
                        at_ms: now_ms,
                    });
                }
            }
            if self.result.is_none() {
                let outcome = self
                    .assignments
                    .iter()
                    .find(|a| a.commit == Some(hash) && a.output.is_some())
                    .and_then(|a| a.output.clone())
                    .expect("a winning hash has a delivered output");
                let agreeing = delivered
                    .iter()
                    .filter(|(_, h)| *h == hash)
                    .map(|(w, _)| *w)
                    .collect();
                self.result = Some(JobResult {
                    hash,
                    outcome,
                    agreeing,
                });
                self.status = JobStatus::Completed;
                self.completed_ms = Some(now_ms);
            }
            return;
        }
        if !self.is_open() {
            return;
        }
        // No agreement yet. If the delivered results disagree so that the workers still
        // running cannot produce k agreeing, add a worker, up to 2k in all.
        let running = self
            .assignments
            .iter()
            .filter(|a| a.state.in_progress())
            .count();
        let best = tally.iter().map(|(_, n)| *n).max().unwrap_or(0);
        if tally.len() > 1 && best + running < k {
            let limit = self.redundancy;
            if self.extra_workers < limit {
                self.extra_workers += (k - best - running) as u8;
                self.extra_workers = self.extra_workers.min(limit);
            } else if running == 0 {
                self.fail("results disagree and no k workers agreed", now_ms);
            }
        }
    }
}

/// What an escrow slot of a job ended as on chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlotReport {
    /// The escrow job; 0 for a job paid from the client's deposit.
    pub escrow_id: u64,
    pub worker: Option<PeerId>,
    pub state: SlotState,
    /// The transaction that settled it: one this node sent, or the batch that paid its
    /// acceptance.
    pub tx_hash: Option<String>,
    /// For a job paid from the client's deposit: the acceptance's nonce (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acceptance: Option<String>,
}

/// Why an escrow slot is not settled yet, while its settler works on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlotProgress {
    pub escrow_id: u64,
    pub state: Progress,
    /// The step it is on, e.g. `JobEscrow.claim_timeout`.
    pub step: &'static str,
    /// What holds it, in words.
    pub reason: String,
    /// Failed attempts of this step so far.
    pub attempts: u32,
    /// When it entered this state.
    pub since_ms: u64,
}

/// Where a slot's settlement stands while it is not through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Progress {
    /// Waiting for the chain: a deadline or window the chain's clock has not passed.
    Waiting,
    /// A step failed and is tried again after a backoff.
    Retrying,
    /// Past its retry limit, or waiting on a chain clock that has stopped: it is still
    /// tried, less often, and reported (a WARN and `ciro_node_settlements_stuck`).
    Stuck,
}

impl ClientJob {
    /// Records where a slot's settlement stands, replacing what was said of it before.
    pub fn progress(&mut self, progress: SlotProgress) {
        self.settling.retain(|p| p.escrow_id != progress.escrow_id);
        self.settling.push(progress);
    }

    /// The slot went through its step: nothing holds it now.
    pub fn progressed(&mut self, escrow_id: u64) {
        self.settling.retain(|p| p.escrow_id != escrow_id);
    }
}

/// How an escrow slot ended, as its settler left it. It serializes (and compares with a
/// `&str`) as its lowercase name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotState {
    /// Accepted: the worker was paid.
    Completed,
    /// Disputed: the arbitrators decide.
    Disputed,
    /// Refunded to the client by `claim_timeout`.
    Refunded,
    /// Never used, and cancelled.
    Cancelled,
    /// Left for the worker to `finalize` after the challenge window.
    Submitted,
    /// The escrow has no such job.
    Unknown,
    /// The settler gave up on it: reading or sending kept failing.
    Stuck,
    /// Paid from the client's deposit, the worker's result not accepted (wrong, or never
    /// delivered): nothing is paid to it.
    Unpaid,
}

impl SlotState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Disputed => "disputed",
            Self::Refunded => "refunded",
            Self::Cancelled => "cancelled",
            Self::Submitted => "submitted",
            Self::Unknown => "unknown",
            Self::Stuck => "stuck",
            Self::Unpaid => "unpaid",
        }
    }
}

impl std::fmt::Display for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for SlotState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests;
