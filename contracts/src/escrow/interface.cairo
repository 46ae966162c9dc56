use starknet::ContractAddress;
use crate::escrow::acceptance::{Acceptance, Settlement};
use crate::escrow::bid::Bid;
use crate::types::Job;

/// The longest challenge window a job may set: 30 days. It keeps `submitted_at + window`
/// far from overflowing, and bounds how long a worker's payout can be held.
pub const MAX_CHALLENGE_WINDOW: u64 = 2_592_000;

/// The furthest deadline a job may set, from its creation: 7 days. It bounds how long a
/// worker's collateral can be locked by one job.
pub const MAX_JOB_DURATION: u64 = 604_800;

/// What a worker submits for `result_hash`: a Poseidon hash of the result hash, the
/// worker's address and a secret salt. Others see only this until it is revealed, so no
/// worker can copy another's result, and the worker's address in it means a copied
/// commitment can never be revealed by the copier.
pub fn result_commitment(result_hash: felt252, worker: ContractAddress, salt: felt252) -> felt252 {
    core::poseidon::poseidon_hash_span(array![result_hash, worker.into(), salt].span())
}

/// The highest protocol fee the owner may set: 1_000 bps (10 %).
pub const MAX_FEE_BPS: u16 = 1_000;

/// How long a client waits between asking to withdraw from its deposit and withdrawing: one
/// day. Until then the deposit still pays the acceptances the client signed, so a worker
/// holding one has a day to settle it once `WithdrawalRequested` shows.
pub const WITHDRAWAL_DELAY: u64 = 86_400;

/// How long acceptances signed under the fee before a raise still settle at it: one day, as
/// long as a worker has to settle before a client can withdraw.
pub const FEE_GRACE: u64 = WITHDRAWAL_DELAY;

/// A client's pending withdrawal from its deposit; all zero when there is none.
#[derive(Copy, Drop, Serde, PartialEq, Debug, starknet::Store, Default)]
pub struct Withdrawal {
    pub amount: u256,
    /// Unix seconds from which `withdraw` pays it.
    pub available_at: u64,
}

/// The job lifecycle, for clients, workers and anyone settling.
#[starknet::interface]
pub trait IJobEscrow<TState> {
    /// Creates a job and pulls `reward` from the caller (approve it first). Returns the job id.
    /// Requirements: not paused; `reward` > 0; `spec_hash` and `capability` not zero;
    /// `deadline` in the future and at most `MAX_JOB_DURATION` away;
    /// 0 < `challenge_window` <= `MAX_CHALLENGE_WINDOW`.
    /// Emits `JobCreated`.
    fn create_job(
        ref self: TState,
        spec_hash: felt252,
        reward: u256,
        capability: felt252,
        deadline: u64,
        challenge_window: u64,
        collateral: u256,
    ) -> u64;
    /// Assigns `worker` on the terms of its signed `bid` and locks the job's collateral. The
    /// job's deadline becomes the bid's.
    /// Requirements: not paused; caller is the client; the worker is not the client; the job
    /// is Open; the bid is for this job's spec hash, asks no more than its reward, allows at
    /// least its collateral, is not expired, was not used before, and its deadline is in the
    /// future and not after the job's; `signature` is valid for `bid_hash(worker, bid)`
    /// according to the worker's account (SRC-6 `is_valid_signature`); the worker is active,
    /// holds the capability and has enough free stake.
    /// Emits `JobAssigned`.
    fn assign(
        ref self: TState,
        job_id: u64,
        worker: ContractAddress,
        bid: Bid,
        signature: Array<felt252>,
    );
    /// Records the worker's committed result, `result_commitment(result_hash, worker, salt)`;
    /// the worker gives the client the opening (result hash and salt) off chain.
    /// Requirements: caller is the assigned worker; the job is Assigned; not past the
    /// deadline; `commitment` not zero. Emits `ResultSubmitted`.
    fn submit_result(ref self: TState, job_id: u64, commitment: felt252);
    /// Opens the job's commitment on chain, for anyone who holds the opening: needed to
    /// `finalize`, and what arbitrators judge in a dispute.
    /// Requirements: the job is Submitted or Disputed; not revealed yet; `result_hash` not
    /// zero; `result_commitment(result_hash, worker, salt)` is the job's commitment.
    /// Emits `ResultRevealed`.
    fn reveal(ref self: TState, job_id: u64, result_hash: felt252, salt: felt252);
    /// Pays the worker (reward minus the protocol fee, which goes to the treasury), releases
    /// the collateral and records the success. The client checked the opening off chain, so
    /// nothing is revealed.
    /// Requirements: caller is the client; the job is Submitted. Emits `JobCompleted`.
    fn accept(ref self: TState, job_id: u64);
    /// Settles like `accept`, for anyone, once the challenge window passed without a dispute
    /// and the result was revealed.
    /// Requirements: the job is Submitted and revealed; the challenge window has passed.
    /// Emits `JobCompleted`.
    fn finalize(ref self: TState, job_id: u64);
    /// Refunds the client before any assignment.
    /// Requirements: caller is the client; the job is Open. Emits `JobCancelled`.
    fn cancel(ref self: TState, job_id: u64);
    /// After a missed deadline: refunds the client, slashes the timeout share of the
    /// collateral to the treasury (never to the client, who could provoke a timeout by
    /// withholding the job's inputs) and records a failure. Callable by anyone; the client
    /// gets the refund. Requirements: the job is Assigned and the deadline has passed, or
    /// the job is Submitted, never revealed, and a second challenge window has passed since
    /// the first ended (a commitment its worker will not open is no result).
    /// Emits `JobTimedOut`.
    fn claim_timeout(ref self: TState, job_id: u64);
    /// Contests the result and opens a dispute, pulling the job's dispute bond from the
    /// client (approve it first): a client that disputes a right result loses the bond to the
    /// worker. Returns the dispute id.
    /// Requirements: caller is the client; the job is Submitted; the challenge window is open;
    /// `evidence_hash` not zero. Emits `JobDisputed`.
    fn dispute(ref self: TState, job_id: u64, evidence_hash: felt252) -> u64;
}

/// Batched settlement: clients pay accepted results from a deposit, many in one transaction.
/// Jobs settled this way never exist on chain as escrow jobs: each is one `JobSettled` event
/// and one consumed `(client, nonce)`. A job whose result the client does not accept is not
/// signed, so it never enters a batch; it goes through an escrow job and its dispute path.
/// Pausing stops `deposit` only: withdrawals and settlement of accepted work always go through.
#[starknet::interface]
pub trait IBatchSettlement<TState> {
    /// Pulls `amount` from the caller (approve it first) into its deposit, which pays the
    /// acceptances it signs. Requirements: not paused; `amount` > 0. Emits `Deposited`.
    fn deposit(ref self: TState, amount: u256);
    /// Asks to withdraw `amount` from the caller's deposit once `WITHDRAWAL_DELAY` has passed,
    /// replacing any earlier request (and restarting its delay). Until it is withdrawn the
    /// deposit still pays acceptances.
    /// Requirements: 0 < `amount` <= the caller's deposit. Emits `WithdrawalRequested`.
    fn request_withdrawal(ref self: TState, amount: u256);
    /// Pays the caller its requested withdrawal, or what is left of its deposit if that is
    /// less, and clears the request. Returns the amount paid.
    /// Requirements: a withdrawal was requested and its delay has passed. Emits `Withdrawn`.
    fn withdraw(ref self: TState) -> u256;
    /// Pays every settlement from its client's deposit in one transaction: the worker gets the
    /// amount minus the acceptance's fee, the treasury the fees (one transfer), each worker one
    /// transfer and one reputation record per run of consecutive settlements naming it (so a
    /// batch grouped by worker is cheapest). Returns the number of settlements.
    /// Requirements, for each settlement: the worker is neither zero nor the client; the amount
    /// and the commitment are not zero; the fee is at least `fee_floor_bps` and at most
    /// `MAX_FEE_BPS`; `(client, nonce)` was not used; the client's deposit covers the amount;
    /// `signature` is valid for `acceptance_hash(client, acceptance)` according to the
    /// client's account (SRC-6). One failing settlement fails the batch. There must be at
    /// least one. Emits `JobSettled` for each.
    fn settle_batch(ref self: TState, settlements: Array<Settlement>) -> u32;
}

/// The disputes contract's hook to settle a disputed job's funds.
#[starknet::interface]
pub trait IEscrowSettlement<TState> {
    /// Releases the collateral and pays the worker its reward and the client's bond (worker
    /// right, returns the reward's payout) or refunds the client its reward and bond (client
    /// right, returns 0). Slashing is the caller's.
    /// Requirements: caller is the disputes contract; the job is Disputed.
    /// Emits `JobCompleted` or `JobRefunded`.
    fn settle_dispute(ref self: TState, job_id: u64, worker_right: bool) -> u256;
}

/// Read-only views.
#[starknet::interface]
pub trait IEscrowView<TState> {
    /// Requirements: the job exists.
    fn job(self: @TState, job_id: u64) -> Job;
    /// The number of jobs created; ids run from 1 to this.
    fn job_count(self: @TState) -> u64;
    /// The SNIP-12 hash `worker`'s account signs for `bid` to this escrow on this chain.
    fn bid_hash(self: @TState, worker: ContractAddress, bid: Bid) -> felt252;
    /// `result_commitment(result_hash, worker, salt)`, for clients and workers off chain.
    fn result_commitment(
        self: @TState, result_hash: felt252, worker: ContractAddress, salt: felt252,
    ) -> felt252;
    /// Whether `worker`'s bid with `nonce` was used.
    fn is_bid_used(self: @TState, worker: ContractAddress, nonce: felt252) -> bool;
    /// The SNIP-12 hash `client`'s account signs for `acceptance` to this escrow on this chain.
    fn acceptance_hash(self: @TState, client: ContractAddress, acceptance: Acceptance) -> felt252;
    /// Whether `client`'s acceptance with `nonce` was settled.
    fn is_acceptance_used(self: @TState, client: ContractAddress, nonce: felt252) -> bool;
    /// What `client` holds in its deposit.
    fn deposit_of(self: @TState, client: ContractAddress) -> u256;
    /// `client`'s pending withdrawal; all zero if none.
    fn withdrawal_of(self: @TState, client: ContractAddress) -> Withdrawal;
    /// The lowest fee an acceptance may carry now: the current fee, or for `FEE_GRACE` after a
    /// raise, the fee before it.
    fn fee_floor_bps(self: @TState) -> u16;
    fn fee_bps(self: @TState) -> u16;
    fn timeout_slash_bps(self: @TState) -> u16;
    /// The bond a client pays to dispute a job created now (each job keeps its own).
    fn dispute_bond(self: @TState) -> u256;
    fn treasury(self: @TState) -> ContractAddress;
    fn token(self: @TState) -> ContractAddress;
    fn staking(self: @TState) -> ContractAddress;
    fn reputation(self: @TState) -> ContractAddress;
    fn disputes(self: @TState) -> ContractAddress;
}

/// Configuration: parameters by the operator, wiring by the owner.
#[starknet::interface]
pub trait IEscrowConfig<TState> {
    /// Applies to jobs created afterwards, and to acceptances signed under it; after a raise,
    /// acceptances at the old fee still settle for `FEE_GRACE`.
    /// Requirements: caller holds `OPERATOR`; `fee_bps` <= `MAX_FEE_BPS`. Emits `FeeUpdated`.
    fn set_fee_bps(ref self: TState, fee_bps: u16);
    /// Applies to jobs created afterwards. Requirements: caller holds `OPERATOR`;
    /// `bps` <= 10_000. Emits `TimeoutSlashUpdated`.
    fn set_timeout_slash_bps(ref self: TState, bps: u16);
    /// Applies to jobs created afterwards. Requirements: caller holds `OPERATOR`.
    /// Emits `DisputeBondUpdated`.
    fn set_dispute_bond(ref self: TState, bond: u256);
    /// Requirements: caller is the owner; not zero. Emits `TreasuryUpdated`.
    fn set_treasury(ref self: TState, treasury: ContractAddress);
    /// Wires the disputes contract (deployed after the escrow).
    /// Requirements: caller is the owner; the setup is open (after it, only an upgrade
    /// rewires the court); not zero. Emits `DisputesUpdated`.
    fn set_disputes(ref self: TState, disputes: ContractAddress);
}
