//! Objects shared by more than one contract: role names, job and dispute records, the
//! reputation record and basis-point arithmetic. Nothing here touches storage or calls out.

/// Denominator of every basis-point figure: 10_000 bps = 100%.
pub const BPS_DENOMINATOR: u16 = 10_000;

/// Role names, granted and revoked through the admin component.
pub mod roles {
    /// May mint CiroToken.
    pub const MINTER: felt252 = 'MINTER';
    /// May slash stake (the escrow and the disputes contract).
    pub const SLASHER: felt252 = 'SLASHER';
    /// May lock and unlock job collateral (the escrow).
    pub const ESCROW: felt252 = 'ESCROW';
    /// May write reputation records (the escrow and the disputes contract).
    pub const REPUTATION_WRITER: felt252 = 'REPUTATION_WRITER';
    /// May announce, cancel and execute timelocked upgrades.
    pub const UPGRADE_GOVERNOR: felt252 = 'UPGRADE_GOVERNOR';
    /// May pause.
    pub const SECURITY_AGENT: felt252 = 'SECURITY_AGENT';
    /// May unpause.
    pub const SECURITY_ADMIN: felt252 = 'SECURITY_ADMIN';
    /// May set parameters, within the bounds each contract enforces.
    pub const OPERATOR: felt252 = 'OPERATOR';

    /// Whether `role` wires one contract to another: its holders may slash, lock collateral
    /// or write reputation, so it is fixed once the setup ends.
    pub fn is_wiring(role: felt252) -> bool {
        role == SLASHER || role == ESCROW || role == REPUTATION_WRITER
    }
}

/// Returns `amount * bps / 10_000`, rounded down.
pub fn bps_of(amount: u256, bps: u16) -> u256 {
    amount * bps.into() / BPS_DENOMINATOR.into()
}

/// Where a job stands. `None` is the state of an id that was never created.
#[derive(Copy, Drop, Serde, PartialEq, Debug, starknet::Store, Default)]
pub enum JobState {
    #[default]
    None,
    /// Created, reward escrowed, waiting for a worker.
    Open,
    /// A worker is assigned and its collateral is locked.
    Assigned,
    /// The worker submitted a result hash; the challenge window runs.
    Submitted,
    /// The client disputed the result; arbitration decides.
    Disputed,
    /// The worker was paid. Terminal.
    Completed,
    /// The client got the reward back after a timeout or a lost dispute. Terminal.
    Refunded,
    /// The client cancelled before assignment. Terminal.
    Cancelled,
}

/// A job as the escrow stores it.
#[derive(Copy, Drop, Serde, PartialEq, Debug, starknet::Store)]
pub struct Job {
    pub client: starknet::ContractAddress,
    pub worker: starknet::ContractAddress,
    pub spec_hash: felt252,
    pub capability: felt252,
    pub reward: u256,
    pub collateral: u256,
    /// Unix seconds; a result must be submitted at or before it.
    pub deadline: u64,
    /// Seconds after submission during which the client may dispute.
    pub challenge_window: u64,
    /// What the worker submitted: `result_commitment(result_hash, worker, salt)`. It hides
    /// the result, so no other worker can copy it, and binds it to this worker.
    pub commitment: felt252,
    /// The result hash, once anyone revealed the commitment's opening; zero until then.
    pub result_hash: felt252,
    pub submitted_at: u64,
    pub dispute_id: u64,
    pub state: JobState,
    /// The protocol fee on the reward, as it was when the job was created: later changes by
    /// the owner never touch a job in flight.
    pub fee_bps: u16,
    /// The share of the collateral slashed on a timeout, fixed at creation.
    pub timeout_slash_bps: u16,
    /// What the client pays to dispute this job, fixed at creation: paid to the worker if
    /// the client loses, returned if it wins.
    pub dispute_bond: u256,
}

/// An arbitrator's ruling on a dispute.
#[derive(Copy, Drop, Serde, PartialEq, Debug, starknet::Store, Default)]
pub enum Ruling {
    /// The result was right: the worker is paid.
    #[default]
    WorkerRight,
    /// The result was wrong: the worker is slashed and the client refunded.
    ClientRight,
}

/// Where a dispute stands. `None` is the state of an id that was never opened.
#[derive(Copy, Drop, Serde, PartialEq, Debug, starknet::Store, Default)]
pub enum DisputeStatus {
    #[default]
    None,
    Open,
    Resolved,
}

/// A dispute as the disputes contract stores it.
#[derive(Copy, Drop, Serde, PartialEq, Debug, starknet::Store)]
pub struct Dispute {
    pub job_id: u64,
    pub client: starknet::ContractAddress,
    pub worker: starknet::ContractAddress,
    pub collateral: u256,
    /// The client's bond, held by the escrow: to the worker if the client loses.
    pub bond: u256,
    pub evidence_hash: felt252,
    pub opened_at: u64,
    /// The last second votes are taken, fixed when the dispute opened.
    pub voting_ends_at: u64,
    /// The votes one ruling needs, fixed when the dispute opened (never more than the
    /// arbitrators there were).
    pub quorum: u32,
    pub votes_worker: u32,
    pub votes_client: u32,
    pub status: DisputeStatus,
    /// Meaningful only once `status` is `Resolved`.
    pub ruling: Ruling,
}

/// A worker's on-chain track record.
#[derive(Copy, Drop, Serde, PartialEq, Debug, starknet::Store, Default)]
pub struct ReputationRecord {
    pub jobs_completed: u64,
    pub jobs_failed: u64,
    pub disputes_won: u64,
    pub disputes_lost: u64,
    pub total_earned: u256,
    pub total_slashed: u256,
    /// Unix seconds of the last recorded event.
    pub last_active: u64,
}

/// Whether `address` is the zero address. Written without `Zero`/`Zeroable`, whose
/// availability differs between Cairo editions, so the package compiles under any of them.
pub fn is_zero_address(address: starknet::ContractAddress) -> bool {
    let value: felt252 = address.into();
    value == 0
}

/// The zero address.
pub fn zero_address() -> starknet::ContractAddress {
    starknet::contract_address_const::<0>()
}
