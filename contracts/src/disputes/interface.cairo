use starknet::ContractAddress;
use crate::types::{Dispute, Ruling};

/// The longest voting period the owner may set: 30 days. It bounds how long a disputed
/// job's reward, bond and collateral can be held.
pub const MAX_VOTING_PERIOD: u64 = 2_592_000;

/// Opening a dispute, for the escrow only.
#[starknet::interface]
pub trait IDisputesEscrow<TState> {
    /// Opens a dispute over `job_id` and returns its id; the voting period and the quorum
    /// are fixed now. `bond` is the client's, held by the escrow.
    /// Requirements: caller is the escrow. Emits `DisputeOpened`.
    fn open(
        ref self: TState,
        job_id: u64,
        client: ContractAddress,
        worker: ContractAddress,
        collateral: u256,
        bond: u256,
        evidence_hash: felt252,
    ) -> u64;
}

/// Voting and resolution.
#[starknet::interface]
pub trait IDisputes<TState> {
    /// Casts the caller's vote; resolves the dispute when a ruling reaches the quorum (never
    /// more than the number of arbitrators).
    /// Requirements: caller is an arbitrator and not a party; the dispute is open and within
    /// its voting period; the caller has not voted on it. Emits `Voted` (and
    /// `DisputeResolved` when it settles the dispute).
    fn vote(ref self: TState, dispute_id: u64, ruling: Ruling);
    /// Resolves by the votes cast once the voting period has passed without a quorum: the
    /// ruling with more votes wins; a tie, no votes included, pays the worker if its result
    /// was revealed on the escrow and refunds the client otherwise.
    /// Callable by anyone. Requirements: the dispute is open; the voting period has passed.
    /// Emits `DisputeResolved`.
    fn resolve_timeout(ref self: TState, dispute_id: u64);
}

/// Read-only views.
#[starknet::interface]
pub trait IDisputesView<TState> {
    /// Requirements: the dispute exists.
    fn dispute(self: @TState, dispute_id: u64) -> Dispute;
    fn dispute_count(self: @TState) -> u64;
    fn has_voted(self: @TState, dispute_id: u64, arbitrator: ContractAddress) -> bool;
    fn is_arbitrator(self: @TState, account: ContractAddress) -> bool;
    fn arbitrator_count(self: @TState) -> u32;
    fn quorum(self: @TState) -> u32;
    /// The voting period of disputes opened from now on.
    fn voting_period(self: @TState) -> u64;
}

/// Administration. The court is fixed per dispute: an arbitrator added later cannot vote
/// on a dispute opened before, one removed later still can, and the quorum and voting
/// period are copied into the dispute when it opens.
#[starknet::interface]
pub trait IDisputesConfig<TState> {
    /// Votes on disputes opened from now on.
    /// Requirements: caller is the owner; not zero; not already an arbitrator; never
    /// removed before (a removed arbitrator cannot be brought back to reshape a court).
    /// Emits `ArbitratorAdded`.
    fn add_arbitrator(ref self: TState, arbitrator: ContractAddress);
    /// Votes on no dispute opened from now on; keeps its vote on those already open.
    /// Requirements: caller is the owner; an arbitrator; the arbitrators left are at least
    /// the quorum. Emits `ArbitratorRemoved`.
    fn remove_arbitrator(ref self: TState, arbitrator: ContractAddress);
    /// Applies to disputes opened afterwards.
    /// Requirements: caller holds `OPERATOR`; 0 < `quorum` <= the number of arbitrators.
    /// Emits `QuorumUpdated`.
    fn set_quorum(ref self: TState, quorum: u32);
    /// Applies to disputes opened afterwards; open ones keep their own end.
    /// Requirements: caller holds `OPERATOR`; 0 < `voting_period` <= `MAX_VOTING_PERIOD`.
    /// Emits `VotingPeriodUpdated`.
    fn set_voting_period(ref self: TState, voting_period: u64);
}
