use starknet::{ClassHash, ContractAddress};

/// The shortest upgrade delay: long enough for a staker who disagrees with an announced
/// upgrade to leave, and for every job agreed before it to settle, before new code runs.
/// It is the longest unstake window (30 days) plus the longest job (7 days), the longest
/// challenge window (30 days) and the longest voting period of a dispute (30 days): 97 days.
pub const MIN_UPGRADE_DELAY: u64 = 8_380_800;
/// The longest upgrade delay, one year, so a mistake cannot freeze the code for good.
pub const MAX_UPGRADE_DELAY: u64 = 31_536_000;
/// How long an announced upgrade stays executable once its delay has passed: 14 days.
/// After that it must be announced again, with a fresh delay.
pub const UPGRADE_EXPIRY: u64 = 1_209_600;

/// The upgrade waiting for its delay; `class_hash` is zero when none is.
#[derive(Copy, Drop, Serde, PartialEq, Debug, starknet::Store)]
pub struct PendingUpgrade {
    /// The class the contract will run.
    pub class_hash: ClassHash,
    /// `poseidon` of the calldata passed to the new class's `upgrade_init`, zero for none.
    pub init_hash: felt252,
    /// Unix seconds from which it can be executed.
    pub ready_at: u64,
    /// Unix seconds after which it can no longer be executed.
    pub expires_at: u64,
}

/// The administration surface every CIRO contract exposes.
///
/// Who may do what:
/// - the owner (governance admin) grants and revokes roles, names its successor, sets the
///   upgrade delay and ends the setup;
/// - `UPGRADE_GOVERNOR` announces, cancels and executes upgrades, which wait the upgrade
///   delay;
/// - `SECURITY_AGENT` pauses; `SECURITY_ADMIN` unpauses;
/// - `OPERATOR` sets the contract's parameters, within the bounds each contract enforces.
/// The roles that wire contracts together (`SLASHER`, `ESCROW`, `REPUTATION_WRITER`) can be
/// granted or revoked only until the setup ends; after that only a timelocked upgrade can
/// change who holds them.
#[starknet::interface]
pub trait IAdmin<TState> {
    /// The governance admin: it manages roles.
    fn owner(self: @TState) -> ContractAddress;
    /// The successor the owner named, until it accepts; zero when there is none.
    fn pending_owner(self: @TState) -> ContractAddress;
    /// Whether `account` holds `role`.
    fn has_role(self: @TState, role: felt252, account: ContractAddress) -> bool;
    /// Whether the contract is paused.
    fn is_paused(self: @TState) -> bool;
    /// Whether wiring roles can still be granted and revoked at once (before `end_setup`).
    fn is_setup_open(self: @TState) -> bool;
    /// The delay an upgrade announced now must wait, in seconds.
    fn upgrade_delay(self: @TState) -> u64;
    /// The upgrade waiting for its delay (`class_hash` zero when none).
    fn pending_upgrade(self: @TState) -> PendingUpgrade;
    /// Names `new_owner` as the successor (replacing any earlier one); the owner does not
    /// change until `new_owner` calls `accept_ownership`.
    /// Requirements: caller is the owner; `new_owner` is not zero.
    /// Emits `OwnershipTransferStarted`.
    fn transfer_ownership(ref self: TState, new_owner: ContractAddress);
    /// Takes the contract over. Requirements: caller is the pending owner.
    /// Emits `OwnershipTransferred`.
    fn accept_ownership(ref self: TState);
    /// Grants `role` to `account`. Requirements: caller is the owner; `account` is not zero;
    /// a wiring role only while the setup is open. Emits `RoleGranted` when the role was not
    /// held.
    fn grant_role(ref self: TState, role: felt252, account: ContractAddress);
    /// Revokes `role` from `account`. Requirements: caller is the owner; a wiring role only
    /// while the setup is open. Emits `RoleRevoked` when the role was held.
    fn revoke_role(ref self: TState, role: felt252, account: ContractAddress);
    /// Closes the setup: from now on the wiring roles are fixed until an upgrade.
    /// Requirements: caller is the owner; the setup is open. Emits `SetupEnded`.
    fn end_setup(ref self: TState);
    /// Stops the entry points the contract marks as pausable; exits and the settlement of
    /// work already agreed are never among them.
    /// Requirements: caller holds `SECURITY_AGENT`; not paused. Emits `Paused`.
    fn pause(ref self: TState);
    /// Resumes them. Requirements: caller holds `SECURITY_ADMIN`; paused. Emits `Unpaused`.
    fn unpause(ref self: TState);
    /// Sets the upgrade delay, between `MIN_UPGRADE_DELAY` and `MAX_UPGRADE_DELAY`. A longer
    /// delay applies at once; a shorter one only after the current delay has passed, so it
    /// can never shorten the notice of an upgrade announced in the meantime.
    /// Requirements: caller is the owner. Emits `UpgradeDelayChanged`.
    fn set_upgrade_delay(ref self: TState, delay: u64);
    /// Announces `new_class_hash`, with `init` for its `upgrade_init` (empty for none). It
    /// can be executed from now + the upgrade delay until `UPGRADE_EXPIRY` later.
    /// Requirements: caller holds `UPGRADE_GOVERNOR`; the hash is not zero; no upgrade is
    /// pending. Emits `UpgradeAnnounced`.
    fn announce_upgrade(ref self: TState, new_class_hash: ClassHash, init: Span<felt252>);
    /// Withdraws the pending upgrade. Requirements: caller holds `UPGRADE_GOVERNOR`; an
    /// upgrade is pending. Emits `UpgradeCancelled`.
    fn cancel_upgrade(ref self: TState);
    /// Replaces the contract's class with the pending one, then calls its `upgrade_init`
    /// with `init` when `init` is not empty.
    /// Requirements: caller holds `UPGRADE_GOVERNOR`; an upgrade is pending, its delay has
    /// passed and it has not expired; `init` is the announced data. Emits `Upgraded`.
    fn execute_upgrade(ref self: TState, init: Span<felt252>);
}
