use starknet::ContractAddress;

/// The exit window used when the constructor is given zero: 7 days.
pub const DEFAULT_UNSTAKE_WINDOW: u64 = 604_800;
/// The longest exit window the owner may set: 30 days, so no setting can hold a worker's
/// stake forever.
pub const MAX_UNSTAKE_WINDOW: u64 = 2_592_000;
/// The most capability tags a worker may register.
pub const MAX_CAPABILITIES: u32 = 32;
/// The most exits a worker may have waiting at once; it bounds the work a slash does.
pub const MAX_PENDING_EXITS: u32 = 16;

/// What a worker does with its own stake.
#[starknet::interface]
pub trait IStakingWorker<TState> {
    /// Posts the first stake; the caller must have approved `amount` to this contract.
    /// Requirements: not paused; `amount` > 0; the caller holds no stake yet.
    /// Emits `Staked`.
    fn stake(ref self: TState, amount: u256);
    /// Adds to an existing stake. Requirements: not paused; `amount` > 0; the caller is staked.
    /// Emits `StakeIncreased`.
    fn increase_stake(ref self: TState, amount: u256);
    /// Replaces the caller's capability tags (short strings such as 'wasm' or 'gpu:h100').
    /// Requirements: the caller is staked; 1 to `MAX_CAPABILITIES` tags, none zero, no
    /// duplicates. Emits `CapabilitiesRegistered`.
    fn register(ref self: TState, capabilities: Span<felt252>);
    /// Starts the exit of `amount`; it can be withdrawn once the exit window has passed. Each
    /// intent has its own clock, so a later intent never delays an earlier one.
    /// Requirements: `amount` > 0; `amount` <= free stake (stake minus pending exits minus
    /// locked collateral); fewer than `MAX_PENDING_EXITS` exits waiting. Emits `UnstakeIntent`.
    fn unstake_intent(ref self: TState, amount: u256);
    /// Pays out every exit whose window has passed.
    /// Requirements: an exit is pending and at least one has matured. Emits `Unstaked`.
    fn unstake_action(ref self: TState) -> u256;
}

/// Collateral and slashing, for the escrow and the disputes contract.
#[starknet::interface]
pub trait IStakingJobs<TState> {
    /// Locks `amount` of `worker`'s free stake as collateral for `job_id`.
    /// Requirements: caller holds `ESCROW`; `amount` > 0; nothing locked for this job yet;
    /// enough free stake. Emits `CollateralLocked`.
    fn lock(ref self: TState, worker: ContractAddress, amount: u256, job_id: u64);
    /// Releases the collateral locked for `job_id` and returns how much was released.
    /// Requirements: caller holds `ESCROW`; collateral is locked for this job.
    /// Emits `CollateralUnlocked`.
    fn unlock(ref self: TState, worker: ContractAddress, job_id: u64) -> u256;
    /// Takes up to `amount` of `worker`'s stake and sends it to `beneficiary`. Never takes more
    /// than the worker holds; returns what was taken. When the remaining stake no longer covers
    /// them, locked collateral shrinks first, then pending exits (the newest exits first).
    /// Requirements: caller holds `SLASHER`; `amount` > 0; `beneficiary` is not zero.
    /// Emits `Slashed` when anything was taken.
    fn slash(
        ref self: TState,
        worker: ContractAddress,
        amount: u256,
        reason: felt252,
        beneficiary: ContractAddress,
    ) -> u256;
}

/// Read-only views.
#[starknet::interface]
pub trait IStakingView<TState> {
    /// Total stake held for `worker`, including pending exits and locked collateral.
    fn stake_of(self: @TState, worker: ContractAddress) -> u256;
    /// Collateral locked for open jobs.
    fn locked_of(self: @TState, worker: ContractAddress) -> u256;
    /// Stake waiting in the exit window.
    fn pending_unstake_of(self: @TState, worker: ContractAddress) -> u256;
    /// Stake that can be locked or exited now.
    fn free_stake_of(self: @TState, worker: ContractAddress) -> u256;
    /// Whether the free stake (not leaving, not locked as collateral) reaches the minimum
    /// stake.
    fn is_active(self: @TState, worker: ContractAddress) -> bool;
    fn capabilities_of(self: @TState, worker: ContractAddress) -> Array<felt252>;
    fn has_capability(self: @TState, worker: ContractAddress, capability: felt252) -> bool;
    /// Collateral locked for one job.
    fn collateral_of(self: @TState, worker: ContractAddress, job_id: u64) -> u256;
    /// The earliest time at which a pending exit matures, or 0 when none is pending.
    fn next_unlock_at(self: @TState, worker: ContractAddress) -> u64;
    fn min_stake(self: @TState) -> u256;
    fn unstake_window(self: @TState) -> u64;
    fn token(self: @TState) -> ContractAddress;
}

/// Configuration, by the operator.
#[starknet::interface]
pub trait IStakingConfig<TState> {
    /// Requirements: caller holds `OPERATOR`. Emits `MinStakeUpdated`.
    fn set_min_stake(ref self: TState, min_stake: u256);
    /// Applies to new intents only. Requirements: caller holds `OPERATOR`;
    /// 0 < `window` <= `MAX_UNSTAKE_WINDOW`. Emits `UnstakeWindowUpdated`.
    fn set_unstake_window(ref self: TState, window: u64);
}
