//! A worker's consent to one job: a SNIP-12 (revision 1) typed message, signed by the
//! worker's Starknet account, that the escrow checks with the account's own
//! `is_valid_signature` (SRC-6) before it locks anything.
//!
//! The signed message binds the escrow contract, the job's spec hash and the worst terms the
//! worker accepts: the least reward (`price`), the most collateral, and the time by which
//! its result is due (the escrow job's deadline becomes exactly this). `expiry` voids a bid
//! nobody used, and each `(worker, nonce)` is consumed on chain once. The domain names the
//! chain, so a bid is good on one network only.
//!
//! The escrow hashes the same message in Cairo (`contracts/src/escrow/bid.cairo`); the test
//! below pins both to the same vector.

use serde::{Deserialize, Serialize};
use serde_json::json;
use starknet::{
    core::types::{typed_data::TypedData, Felt},
    signers::SigningKey,
};

use crate::error::Result;
use crate::snip12;

/// The `Bid` type as SNIP-12 revision 1 encodes it; its `starknet_keccak` is the type hash.
pub const BID_TYPE: &str = "\"Bid\"(\"escrow\":\"ContractAddress\",\"spec_hash\":\"felt\",\"price\":\"u128\",\"collateral\":\"u128\",\"deadline\":\"timestamp\",\"expiry\":\"timestamp\",\"nonce\":\"felt\")";

/// The terms a worker agrees to for one escrow job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid {
    /// The job's spec hash (the escrow job's `spec_hash`).
    pub spec_hash: Felt,
    /// The least reward the worker takes, in the token's smallest unit.
    pub price: u128,
    /// The most collateral the worker lets the job lock.
    pub collateral: u128,
    /// Unix seconds by which the worker's result is due on chain.
    pub deadline: u64,
    /// Unix seconds (chain time) after which the bid can no longer be used.
    pub expiry: u64,
    /// Any value the worker has not used in a bid to this escrow before.
    pub nonce: Felt,
}

/// A bid with its worker and the worker account's signature over it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBid {
    pub worker: Felt,
    pub bid: Bid,
    pub signature: Vec<Felt>,
}

impl From<Bid> for crate::contracts::escrow::Bid {
    fn from(bid: Bid) -> Self {
        Self {
            spec_hash: bid.spec_hash,
            price: bid.price,
            collateral: bid.collateral,
            deadline: bid.deadline,
            expiry: bid.expiry,
            nonce: bid.nonce,
        }
    }
}

impl Bid {
    /// The SNIP-12 typed data `worker` signs for `escrow` on `chain_id`.
    pub fn typed_data(&self, chain_id: Felt, escrow: Felt) -> Result<TypedData> {
        snip12::typed_data(
            chain_id,
            "Bid",
            json!([
                { "name": "escrow", "type": "ContractAddress" },
                { "name": "spec_hash", "type": "felt" },
                { "name": "price", "type": "u128" },
                { "name": "collateral", "type": "u128" },
                { "name": "deadline", "type": "timestamp" },
                { "name": "expiry", "type": "timestamp" },
                { "name": "nonce", "type": "felt" }
            ]),
            json!({
                "escrow": format!("{escrow:#x}"),
                "spec_hash": format!("{:#x}", self.spec_hash),
                "price": self.price.to_string(),
                "collateral": self.collateral.to_string(),
                "deadline": self.deadline.to_string(),
                "expiry": self.expiry.to_string(),
                "nonce": format!("{:#x}", self.nonce)
            }),
        )
    }

    /// The hash `worker`'s account signs and the escrow checks.
    pub fn hash(&self, chain_id: Felt, escrow: Felt, worker: Felt) -> Result<Felt> {
        snip12::message_hash(&self.typed_data(chain_id, escrow)?, worker)
    }

    /// Signs the bid with the key of a single-key account.
    pub fn sign(
        self,
        chain_id: Felt,
        escrow: Felt,
        worker: Felt,
        key: &SigningKey,
    ) -> Result<SignedBid> {
        let signature = snip12::sign(self.hash(chain_id, escrow, worker)?, key)?;
        Ok(SignedBid {
            worker,
            bid: self,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use starknet::core::utils::{cairo_short_string_to_felt, starknet_keccak};

    use super::*;

    /// The vector `test_bid_hash_matches_the_rust_vector` in
    /// `contracts/src/tests/test_escrow.cairo` checks too.
    fn vector() -> (Bid, Felt, Felt, Felt) {
        let bid = Bid {
            spec_hash: Felt::from_hex_unchecked("0x5bec"),
            price: 40_000_000_000_000_000_000,
            collateral: 60_000_000_000_000_000_000,
            deadline: 1_003_600,
            expiry: 1_000_600,
            nonce: Felt::from(7u8),
        };
        let chain_id = cairo_short_string_to_felt("SN_SEPOLIA").unwrap();
        (
            bid,
            chain_id,
            Felt::from_hex_unchecked("0xe5c"),
            Felt::from_hex_unchecked("0x3ae"),
        )
    }

    #[test]
    fn the_bid_hash_is_the_vector_the_cairo_tests_pin() {
        let (bid, chain_id, escrow, worker) = vector();
        let hash = bid.hash(chain_id, escrow, worker).unwrap();
        assert_eq!(
            format!("{hash:#x}"),
            "0x3e8d041d70ea49852b1642f7f9fcfffdea97c759aed86d1dc1cbc04a52242af",
            "update test_bid_hash_matches_the_rust_vector too"
        );
    }

    #[test]
    fn the_type_hash_is_the_one_the_escrow_uses() {
        // `BID_TYPE_HASH` in `contracts/src/escrow/bid.cairo`.
        assert_eq!(
            format!("{:#x}", starknet_keccak(BID_TYPE.as_bytes())),
            "0x14cc7bc4926f07ecf5324a211ecd838b84586128344270982ab0ebc458d49e4"
        );
    }

    #[test]
    fn every_term_and_the_signer_change_the_hash() {
        let (bid, chain_id, escrow, worker) = vector();
        let base = bid.hash(chain_id, escrow, worker).unwrap();
        let variants = [
            Bid {
                spec_hash: Felt::from(1u8),
                ..bid
            },
            Bid {
                price: bid.price - 1,
                ..bid
            },
            Bid {
                collateral: bid.collateral + 1,
                ..bid
            },
            Bid {
                deadline: bid.deadline + 1,
                ..bid
            },
            Bid {
                expiry: bid.expiry + 1,
                ..bid
            },
            Bid {
                nonce: Felt::from(8u8),
                ..bid
            },
        ];
        for other in variants {
            assert_ne!(
                other.hash(chain_id, escrow, worker).unwrap(),
                base,
                "{other:?}"
            );
        }
        assert_ne!(bid.hash(chain_id, Felt::ONE, worker).unwrap(), base);
        assert_ne!(bid.hash(chain_id, escrow, Felt::ONE).unwrap(), base);
        let mainnet = cairo_short_string_to_felt("SN_MAIN").unwrap();
        assert_ne!(bid.hash(mainnet, escrow, worker).unwrap(), base);
    }

    #[test]
    fn a_signature_verifies_against_the_key_that_made_it() {
        let (bid, chain_id, escrow, worker) = vector();
        let key = SigningKey::from_secret_scalar(Felt::from(0x1234u16));
        let signed = bid.sign(chain_id, escrow, worker, &key).unwrap();
        let hash = bid.hash(chain_id, escrow, worker).unwrap();
        let ok = key
            .verifying_key()
            .verify(
                &hash,
                &starknet::core::crypto::Signature {
                    r: signed.signature[0],
                    s: signed.signature[1],
                },
            )
            .unwrap();
        assert!(ok);
    }
}
