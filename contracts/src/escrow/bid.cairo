//! A worker's consent to one job: a SNIP-12 (revision 1) typed message its account signs,
//! checked by the escrow with the account's own `is_valid_signature` (SRC-6).
//!
//! The message binds the escrow, the job's spec hash and the worst terms the worker accepts:
//! the least reward (`price`), the most collateral and the time its result is due
//! (`deadline`, which becomes the job's deadline). `expiry` voids an unused bid, and each
//! `(worker, nonce)` is consumed once. The domain names the chain. `ciro_bindings::bid`
//! hashes the same message in Rust; a test on each side pins the same vector.

use core::poseidon::poseidon_hash_span;
use starknet::ContractAddress;

/// The terms a worker agrees to for one escrow job.
#[derive(Copy, Drop, Serde, PartialEq, Debug)]
pub struct Bid {
    /// The job's spec hash.
    pub spec_hash: felt252,
    /// The least reward the worker takes.
    pub price: u128,
    /// The most collateral the worker lets the job lock.
    pub collateral: u128,
    /// Unix seconds by which the result is due; the job's deadline becomes this.
    pub deadline: u64,
    /// Unix seconds after which the bid can no longer be used.
    pub expiry: u64,
    /// Any value the worker has not used in a bid to this escrow before.
    pub nonce: felt252,
}

/// What an SRC-6 account answers for a valid signature.
pub const VALIDATED: felt252 = 'VALID';

/// The SNIP-12 message prefix.
const STARKNET_MESSAGE: felt252 = 'StarkNet Message';

/// `starknet_keccak` of the revision 1 domain type:
/// `"StarknetDomain"("name":"shortstring","version":"shortstring","chainId":"shortstring","revision":"shortstring")`.
const DOMAIN_TYPE_HASH: felt252 =
    0x1ff2f602e42168014d405a94f75e8a93d640751d71d16311266e140d8b0a210;

/// The domain's name and version (`"1"` encodes as the number 1, as starknet.js does).
pub const DOMAIN_NAME: felt252 = 'CIRO JobEscrow';
pub const DOMAIN_VERSION: felt252 = 1;
const REVISION: felt252 = 1;

/// `starknet_keccak` of the bid type:
/// `"Bid"("escrow":"ContractAddress","spec_hash":"felt","price":"u128","collateral":"u128","deadline":"timestamp","expiry":"timestamp","nonce":"felt")`.
pub const BID_TYPE_HASH: felt252 =
    0x14cc7bc4926f07ecf5324a211ecd838b84586128344270982ab0ebc458d49e4;

/// The hash `worker`'s account signs for a bid to `escrow` on `chain_id`.
pub fn bid_hash(
    bid: @Bid, escrow: ContractAddress, worker: ContractAddress, chain_id: felt252,
) -> felt252 {
    let message = poseidon_hash_span(
        array![
            BID_TYPE_HASH,
            escrow.into(),
            *bid.spec_hash,
            (*bid.price).into(),
            (*bid.collateral).into(),
            (*bid.deadline).into(),
            (*bid.expiry).into(),
            *bid.nonce,
        ]
            .span(),
    );
    signed_message_hash(message, worker, chain_id)
}

/// The SNIP-12 hash `signer` signs for `message` (the struct hash of a message to the
/// escrow's domain) on `chain_id`.
pub fn signed_message_hash(
    message: felt252, signer: ContractAddress, chain_id: felt252,
) -> felt252 {
    let domain = poseidon_hash_span(
        array![DOMAIN_TYPE_HASH, DOMAIN_NAME, DOMAIN_VERSION, chain_id, REVISION].span(),
    );
    poseidon_hash_span(array![STARKNET_MESSAGE, domain, signer.into(), message].span())
}

/// The part of SRC-6 the escrow calls on a worker's or a client's account.
#[starknet::interface]
pub trait ISRC6Signature<TState> {
    fn is_valid_signature(self: @TState, hash: felt252, signature: Array<felt252>) -> felt252;
}
