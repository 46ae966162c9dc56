//! The view the indexer builds: workers, jobs and disputes as rows, folded from events by
//! the processors. These types are also what the HTTP API serves. Amounts are base units of
//! CIRO (18 decimals) written as decimal strings, because they exceed JSON's safe integers.

use serde::{Serialize, Serializer};
use starknet::core::types::Felt;
use utoipa::ToSchema;

use crate::score::ScoreState;

/// A felt as stored and served: `0x` and 64 lowercase hex digits.
pub fn hex(felt: Felt) -> String {
    format!("{felt:#066x}")
}

/// Serializes a `u128` amount as a decimal string.
pub fn amount<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string())
}

/// Serializes an optional `u128` amount as a decimal string or null.
pub fn opt_amount<S: Serializer>(value: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_str(&v.to_string()),
        None => s.serialize_none(),
    }
}

/// Where a worker stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// Staked and not leaving.
    #[default]
    Active,
    /// Has stake queued to leave (`UnstakeIntent`).
    Exiting,
    /// Slashed, and has not added stake since.
    Slashed,
    /// No stake left.
    Exited,
}

impl WorkerStatus {
    /// Every status, in the order the API lists them.
    pub const ALL: [WorkerStatus; 4] = [Self::Active, Self::Exiting, Self::Slashed, Self::Exited];

    /// The stored and served name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Exiting => "exiting",
            Self::Slashed => "slashed",
            Self::Exited => "exited",
        }
    }

    /// From the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A worker: staking position, capabilities, counters and score.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, Default)]
pub struct Worker {
    /// The worker's account address.
    pub address: String,
    /// Where it stands.
    pub status: WorkerStatus,
    /// Total stake, base units.
    #[serde(serialize_with = "amount")]
    #[schema(value_type = String)]
    pub stake: u128,
    /// Collateral locked for running jobs, base units.
    #[serde(serialize_with = "amount")]
    #[schema(value_type = String)]
    pub locked: u128,
    /// Stake queued to leave, base units.
    #[serde(serialize_with = "amount")]
    #[schema(value_type = String)]
    pub pending_unstake: u128,
    /// When the latest queued exit matures (Unix seconds), if any.
    pub unlock_at: Option<u64>,
    /// Registered capability tags.
    pub capabilities: Vec<String>,
    /// Jobs assigned to it.
    pub jobs_assigned: u64,
    /// Jobs completed (on-chain reputation record).
    pub jobs_completed: u64,
    /// Jobs failed by timeout (on-chain reputation record).
    pub jobs_failed: u64,
    /// Disputes ruled for it.
    pub disputes_won: u64,
    /// Disputes ruled against it.
    pub disputes_lost: u64,
    /// `Slashed` events; a lost dispute emits two (the client's share, the treasury's).
    pub slashes: u64,
    /// Paid out to it, base units.
    #[serde(serialize_with = "amount")]
    #[schema(value_type = String)]
    pub total_earned: u128,
    /// Taken from its stake, base units.
    #[serde(serialize_with = "amount")]
    #[schema(value_type = String)]
    pub total_slashed: u128,
    /// Reputation score in [0, 1]; see `score` in the API description.
    pub score: f64,
    /// The score in parts per million, the value lists are ordered and paginated by.
    pub score_ppm: i64,
    /// The block of its first event.
    pub first_block: u64,
    /// The block of its latest event.
    pub last_block: u64,
    /// Block time of its latest event (Unix seconds).
    pub updated_at: u64,
    /// The decayed sums behind the score.
    #[serde(skip)]
    pub score_state: ScoreState,
    /// Slashed since it last added stake.
    #[serde(skip)]
    pub slashed_since_stake: bool,
    /// Score points produced since it was loaded, to be stored.
    #[serde(skip)]
    pub new_points: Vec<ScorePoint>,
}

impl Worker {
    /// An empty worker at `address`.
    pub fn new(address: String) -> Self {
        let mut w = Self {
            address,
            ..Self::default()
        };
        w.refresh();
        w
    }

    /// Recomputes the derived fields: status and score.
    pub fn refresh(&mut self) {
        self.status = if self.slashed_since_stake {
            WorkerStatus::Slashed
        } else if self.pending_unstake > 0 {
            WorkerStatus::Exiting
        } else if self.stake == 0 {
            WorkerStatus::Exited
        } else {
            WorkerStatus::Active
        };
        self.score = self.score_state.score();
        self.score_ppm = self.score_state.ppm();
        if self.pending_unstake == 0 {
            self.unlock_at = None;
        }
    }
}

/// One step of a worker's score, with the event that caused it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ScorePoint {
    /// What happened: job_completed, job_failed, dispute_won or dispute_lost.
    pub reason: String,
    /// The score after it, in [0, 1].
    pub score: f64,
    /// The block.
    pub block_number: u64,
    /// The transaction.
    pub tx_hash: String,
    /// The transaction's position in its block.
    pub tx_index: u64,
    /// The event's index in the transaction (among the CIRO contracts' events).
    pub event_index: u64,
    /// Block time (Unix seconds).
    pub timestamp: u64,
}

/// A job's state, as the escrow contract moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Created, waiting for a worker.
    #[default]
    Open,
    /// A worker is assigned.
    Assigned,
    /// A result is submitted; the challenge window runs.
    Submitted,
    /// The worker was paid.
    Completed,
    /// The client cancelled before assignment.
    Cancelled,
    /// The deadline passed without a result (the escrow itself records this as `Refunded`;
    /// the view keeps the two apart).
    TimedOut,
    /// The client contested the result.
    Disputed,
    /// The client won the dispute.
    Refunded,
}

impl JobState {
    /// Every state, for validating filters.
    pub const ALL: [JobState; 8] = [
        Self::Open,
        Self::Assigned,
        Self::Submitted,
        Self::Completed,
        Self::Cancelled,
        Self::TimedOut,
        Self::Disputed,
        Self::Refunded,
    ];

    /// The stored and served name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Assigned => "assigned",
            Self::Submitted => "submitted",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
            Self::Disputed => "disputed",
            Self::Refunded => "refunded",
        }
    }

    /// From the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A job, mirrored from the escrow contract's events.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, Default)]
pub struct Job {
    /// The escrow's job id.
    pub job_id: u64,
    /// Who pays.
    pub client: String,
    /// The assigned worker, once assigned.
    pub worker: Option<String>,
    /// Where it stands.
    pub state: JobState,
    /// Hash of the job specification.
    pub spec_hash: String,
    /// The capability it needs.
    pub capability: String,
    /// Escrowed reward, base units.
    #[serde(serialize_with = "amount")]
    #[schema(value_type = String)]
    pub reward: u128,
    /// Collateral the worker locks, base units. Any `u256` the client chose, so kept as
    /// text: the escrow does not bound it at creation.
    pub collateral: String,
    /// Result deadline (Unix seconds).
    pub deadline: u64,
    /// Seconds the client has to contest a result.
    pub challenge_window: u64,
    /// The worker's commitment to its result (`result_commitment(result_hash, worker,
    /// salt)`), once submitted.
    pub commitment: Option<String>,
    /// The result's hash, once the commitment is revealed (a client that accepts does not
    /// reveal it).
    pub result_hash: Option<String>,
    /// When the challenge window ends (Unix seconds).
    pub challenge_ends_at: Option<u64>,
    /// The dispute, if contested.
    pub dispute_id: Option<u64>,
    /// Paid to the worker, base units.
    #[serde(serialize_with = "opt_amount")]
    #[schema(value_type = Option<String>)]
    pub payout: Option<u128>,
    /// Paid to the treasury, base units.
    #[serde(serialize_with = "opt_amount")]
    #[schema(value_type = Option<String>)]
    pub fee: Option<u128>,
    /// Returned to the client, base units.
    #[serde(serialize_with = "opt_amount")]
    #[schema(value_type = Option<String>)]
    pub refund: Option<u128>,
    /// Slashed from the worker to the client on timeout, base units.
    #[serde(serialize_with = "opt_amount")]
    #[schema(value_type = Option<String>)]
    pub slashed: Option<u128>,
    /// Block time of creation (Unix seconds).
    pub created_at: u64,
    /// Block time of the latest change (Unix seconds).
    pub updated_at: u64,
    /// The creation block.
    pub created_block: u64,
    /// The block of the latest change.
    pub updated_block: u64,
    /// The creation transaction.
    pub created_tx: String,
}

/// Where a dispute stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// Votes are accepted.
    #[default]
    Open,
    /// Settled.
    Resolved,
}

/// A dispute, mirrored from the disputes contract's events.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, Default)]
pub struct Dispute {
    /// The dispute id.
    pub dispute_id: u64,
    /// The contested job.
    pub job_id: u64,
    /// The client.
    pub client: String,
    /// The worker.
    pub worker: String,
    /// Hash of the client's evidence.
    pub evidence_hash: String,
    /// When voting ends (Unix seconds).
    pub voting_ends_at: u64,
    /// Votes for the worker.
    pub votes_worker: u64,
    /// Votes for the client.
    pub votes_client: u64,
    /// Open or resolved.
    pub status: DisputeStatus,
    /// `worker` or `client`, once resolved.
    pub ruling: Option<String>,
    /// Resolved by the voting period running out.
    pub by_timeout: Option<bool>,
    /// Paid to the worker, base units.
    #[serde(serialize_with = "opt_amount")]
    #[schema(value_type = Option<String>)]
    pub payout: Option<u128>,
    /// The client's dispute bond, base units: the worker's if the worker is right, the
    /// client's back otherwise.
    #[serde(serialize_with = "opt_amount")]
    #[schema(value_type = Option<String>)]
    pub bond: Option<u128>,
    /// Slashed to the treasury, base units.
    #[serde(serialize_with = "opt_amount")]
    #[schema(value_type = Option<String>)]
    pub slashed_to_treasury: Option<u128>,
    /// Block time of opening (Unix seconds).
    pub opened_at: u64,
    /// Block time of resolution (Unix seconds).
    pub resolved_at: Option<u64>,
    /// The opening block.
    pub opened_block: u64,
    /// The block of the latest change.
    pub updated_block: u64,
}
