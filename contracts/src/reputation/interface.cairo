use starknet::ContractAddress;
use crate::types::ReputationRecord;

/// Writes, for holders of `REPUTATION_WRITER` (the escrow and the disputes contract). Each
/// emits `ReputationUpdated` with the old and new record.
#[starknet::interface]
pub trait IReputationWriter<TState> {
    /// A job was paid: `jobs_completed` + 1, `total_earned` + `earned`.
    /// Requirements: caller holds `REPUTATION_WRITER`; `worker` is not zero.
    fn record_job_completed(ref self: TState, worker: ContractAddress, earned: u256);
    /// `jobs` jobs settled in one batch were paid: `jobs_completed` + `jobs`, `total_earned` +
    /// `earned`. Requirements: caller holds `REPUTATION_WRITER`; `worker` is not zero; `jobs`
    /// > 0.
    fn record_jobs_completed(ref self: TState, worker: ContractAddress, jobs: u32, earned: u256);
    /// A job timed out: `jobs_failed` + 1, `total_slashed` + `slashed`.
    /// Requirements: caller holds `REPUTATION_WRITER`; `worker` is not zero.
    fn record_job_failed(ref self: TState, worker: ContractAddress, slashed: u256);
    /// A dispute was resolved. Won: `disputes_won` + 1, `jobs_completed` + 1, `total_earned` +
    /// `amount`. Lost: `disputes_lost` + 1, `jobs_failed` + 1, `total_slashed` + `amount`.
    /// Requirements: caller holds `REPUTATION_WRITER`; `worker` is not zero.
    fn record_dispute(ref self: TState, worker: ContractAddress, won: bool, amount: u256);
}

/// Reads.
#[starknet::interface]
pub trait IReputationView<TState> {
    /// The worker's record; all zero for a worker never seen.
    fn reputation_of(self: @TState, worker: ContractAddress) -> ReputationRecord;
}

/// Why a record changed, carried in `ReputationUpdated.reason`.
pub mod reasons {
    pub const JOB_COMPLETED: felt252 = 'job_completed';
    /// Several jobs paid at once; the count is the change in `jobs_completed`.
    pub const JOBS_COMPLETED: felt252 = 'jobs_completed';
    pub const JOB_FAILED: felt252 = 'job_failed';
    pub const DISPUTE_WON: felt252 = 'dispute_won';
    pub const DISPUTE_LOST: felt252 = 'dispute_lost';
}
