//! A client's acceptance of one result, paid from its deposit: a SNIP-12 (revision 1) typed
//! message its account signs, checked by the escrow with the account's own
//! `is_valid_signature` (SRC-6) when a batch settles.
//!
//! Batched settlement keeps no job on chain. The client funds a deposit once; a job is agreed
//! and run off chain; when the client has checked the result (k of n agreeing, the worker's
//! commitment opening to it), it signs an acceptance. The acceptance names the worker, the job
//! (spec hash and capability), the amount paid, the protocol fee the client saw, the worker's
//! result commitment and a nonce. Anyone holding it (the worker, or the client itself) puts it
//! in `settle_batch`, which pays many of them in one transaction. Each `(client, nonce)` is
//! consumed once, and the domain names the chain and the escrow. `ciro_bindings::acceptance`
//! hashes the same message in Rust; a test on each side pins the same vector.

use core::poseidon::poseidon_hash_span;
use starknet::ContractAddress;
use crate::escrow::bid::signed_message_hash;

/// What a client signs to pay one result from its deposit.
#[derive(Copy, Drop, Serde, PartialEq, Debug)]
pub struct Acceptance {
    /// Who is paid; never the client.
    pub worker: ContractAddress,
    /// The job's spec hash.
    pub spec_hash: felt252,
    /// The capability the job needed, as recorded with the settlement.
    pub capability: felt252,
    /// What the client pays from its deposit, in the token's smallest unit; the worker gets
    /// it minus the fee.
    pub amount: u128,
    /// The protocol fee, in basis points, the job was agreed under. A batch pays it as long
    /// as it is not below the escrow's fee floor (see `IBatchSettlement::settle_batch`), so a
    /// later raise by the owner never touches an agreed job.
    pub fee_bps: u16,
    /// The worker's `result_commitment(result_hash, worker, salt)`: the result accepted.
    pub commitment: felt252,
    /// Any value the client has not used in an acceptance to this escrow before.
    pub nonce: felt252,
}

/// One entry of a batch: the client that pays, what it accepted, and its account's signature.
#[derive(Drop, Serde, PartialEq, Debug)]
pub struct Settlement {
    pub client: ContractAddress,
    pub acceptance: Acceptance,
    pub signature: Array<felt252>,
}

/// `starknet_keccak` of the acceptance type:
/// `"Acceptance"("escrow":"ContractAddress","worker":"ContractAddress","spec_hash":"felt","capability":"felt","amount":"u128","fee_bps":"u128","commitment":"felt","nonce":"felt")`.
pub const ACCEPTANCE_TYPE_HASH: felt252 =
    0x1ebdc3614595cd7de59b4c7d78e7e67f99c6f2101f37c6142c402b27f2d7dbf;

/// The hash `client`'s account signs for `acceptance` to `escrow` on `chain_id`.
pub fn acceptance_hash(
    acceptance: @Acceptance, escrow: ContractAddress, client: ContractAddress, chain_id: felt252,
) -> felt252 {
    let message = poseidon_hash_span(
        array![
            ACCEPTANCE_TYPE_HASH,
            escrow.into(),
            (*acceptance.worker).into(),
            *acceptance.spec_hash,
            *acceptance.capability,
            (*acceptance.amount).into(),
            (*acceptance.fee_bps).into(),
            *acceptance.commitment,
            *acceptance.nonce,
        ]
            .span(),
    );
    signed_message_hash(message, client, chain_id)
}
