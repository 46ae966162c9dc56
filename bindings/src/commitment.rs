//! A worker's committed result: what it submits on chain hides its result hash and names
//! the worker, so no other worker can copy it. The worker hands the opening (result hash and
//! salt) to its client off chain; the client checks it against the chain with
//! [`Opening::opens`] and accepts without revealing anything. The worker reveals it on chain
//! only to `finalize` after a silent client, or when disputed.
//!
//! The escrow computes the same hash in Cairo (`result_commitment` in
//! `contracts/src/escrow/interface.cairo`); a test on each side pins the same vector.

use serde::{Deserialize, Serialize};
use starknet::core::types::Felt;

/// `poseidon(result_hash, worker, salt)`, the escrow's `result_commitment`.
pub fn result_commitment(result_hash: Felt, worker: Felt, salt: Felt) -> Felt {
    starknet_crypto::poseidon_hash_many(&[result_hash, worker, salt])
}

/// What opens a commitment: the result hash and the salt it was committed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    pub result_hash: Felt,
    pub salt: Felt,
}

impl Opening {
    /// The commitment `worker` submits for this opening.
    pub fn commitment(&self, worker: Felt) -> Felt {
        result_commitment(self.result_hash, worker, self.salt)
    }

    /// Whether this opens `commitment`, as submitted by `worker`.
    pub fn opens(&self, commitment: Felt, worker: Felt) -> bool {
        commitment != Felt::ZERO && self.commitment(worker) == commitment
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `test_result_commitment_matches_the_rust_vector` in
    /// `contracts/src/tests/test_escrow.cairo` pins the same value.
    #[test]
    fn the_commitment_is_the_vector_the_cairo_tests_pin() {
        let committed = result_commitment(
            Felt::from_hex_unchecked("0xbeef"),
            Felt::from_hex_unchecked("0x3ae"),
            Felt::from_hex_unchecked("0x5a17"),
        );
        assert_eq!(
            format!("{committed:#x}"),
            "0x511e56909dd34815dcbad877849f6acb7c0884ae41290192ff6108a486b9865",
            "update test_result_commitment_matches_the_rust_vector too"
        );
    }

    #[test]
    fn a_commitment_binds_the_result_the_worker_and_the_salt() {
        let opening = Opening {
            result_hash: Felt::from(7u8),
            salt: Felt::from(9u8),
        };
        let worker = Felt::from(0x1234u32);
        let committed = opening.commitment(worker);
        assert!(opening.opens(committed, worker));
        // Copied by another worker, it opens for nobody but the first.
        assert!(!opening.opens(committed, Felt::from(0x5678u32)));
        let other_result = Opening {
            result_hash: Felt::from(8u8),
            ..opening
        };
        assert!(!other_result.opens(committed, worker));
        let other_salt = Opening {
            salt: Felt::from(10u8),
            ..opening
        };
        assert!(!other_salt.opens(committed, worker));
        assert!(!opening.opens(Felt::ZERO, worker));
    }
}
