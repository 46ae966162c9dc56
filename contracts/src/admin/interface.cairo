use starknet::{ClassHash, ContractAddress};

/// The administration surface every CIRO contract exposes.
#[starknet::interface]
pub trait IAdmin<TState> {
    /// The account allowed to administer the contract.
    fn owner(self: @TState) -> ContractAddress;
    /// The successor the owner named, until it accepts; zero when there is none.
    fn pending_owner(self: @TState) -> ContractAddress;
    /// Whether `account` holds `role`.
    fn has_role(self: @TState, role: felt252, account: ContractAddress) -> bool;
    /// Whether the contract is paused.
    fn is_paused(self: @TState) -> bool;
    /// Names `new_owner` as the successor (replacing any earlier one); the owner does not
    /// change until `new_owner` calls `accept_ownership`.
    /// Requirements: caller is the owner; `new_owner` is not zero.
    /// Emits `OwnershipTransferStarted`.
    fn transfer_ownership(ref self: TState, new_owner: ContractAddress);
    /// Takes the contract over. Requirements: caller is the pending owner.
    /// Emits `OwnershipTransferred`.
    fn accept_ownership(ref self: TState);
    /// Grants `role` to `account`. Requirements: caller is the owner; `account` is not zero.
    /// Emits `RoleGranted` when the role was not held.
    fn grant_role(ref self: TState, role: felt252, account: ContractAddress);
    /// Revokes `role` from `account`. Requirements: caller is the owner.
    /// Emits `RoleRevoked` when the role was held.
    fn revoke_role(ref self: TState, role: felt252, account: ContractAddress);
    /// Stops the entry points the contract marks as pausable. Requirements: caller is the owner;
    /// not paused. Emits `Paused`.
    fn pause(ref self: TState);
    /// Resumes them. Requirements: caller is the owner; paused. Emits `Unpaused`.
    fn unpause(ref self: TState);
    /// Replaces the contract's class. Requirements: caller is the owner; the hash is not zero.
    /// Emits `Upgraded`.
    fn upgrade(ref self: TState, new_class_hash: ClassHash);
}
