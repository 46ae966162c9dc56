//! A client's acceptance of one result, paid from its deposit in the escrow: a SNIP-12
//! (revision 1) typed message signed by the client's Starknet account, which the escrow's
//! `settle_batch` checks with the account's own `is_valid_signature` (SRC-6).
//!
//! Batched settlement keeps no job on chain. A client funds a deposit once; jobs are agreed and
//! run off chain; once a client has checked a result (k of n agreeing, and the worker's
//! commitment opening to it) it signs an acceptance and hands it to the worker. Any holder puts
//! acceptances in `settle_batch`, which pays many in one transaction and emits one
//! `JobSettled` per job. Each `(client, nonce)` pays once; a deposit leaves only a day after
//! the client asked, so a worker holding an acceptance has that day to settle it.
//!
//! The escrow hashes the same message in Cairo (`contracts/src/escrow/acceptance.cairo`); the
//! test below and `test_acceptance_hash_matches_the_rust_vector` pin the same vector.

use serde::{Deserialize, Serialize};
use serde_json::json;
use starknet::{
    core::types::{typed_data::TypedData, Felt},
    signers::SigningKey,
};

use crate::contracts::escrow;
use crate::error::Result;
use crate::snip12;

/// The `Acceptance` type as SNIP-12 revision 1 encodes it; its `starknet_keccak` is the type
/// hash.
pub const ACCEPTANCE_TYPE: &str = "\"Acceptance\"(\"escrow\":\"ContractAddress\",\"worker\":\"ContractAddress\",\"spec_hash\":\"felt\",\"capability\":\"felt\",\"amount\":\"u128\",\"fee_bps\":\"u128\",\"commitment\":\"felt\",\"nonce\":\"felt\")";

/// What a client signs to pay one result from its deposit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    /// Who is paid; never the client.
    pub worker: Felt,
    /// The job's spec hash.
    pub spec_hash: Felt,
    /// The capability the job needed.
    pub capability: Felt,
    /// What the client pays, in the token's smallest unit; the worker gets it minus the fee.
    pub amount: u128,
    /// The protocol fee the job was agreed under (the escrow's `fee_bps` when agreed).
    pub fee_bps: u16,
    /// The worker's result commitment: the result accepted.
    pub commitment: Felt,
    /// Any value the client has not used in an acceptance to this escrow before.
    pub nonce: Felt,
}

/// An acceptance with its client and the client account's signature: one batch entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAcceptance {
    pub client: Felt,
    pub acceptance: Acceptance,
    pub signature: Vec<Felt>,
}

impl From<&SignedAcceptance> for escrow::Settlement {
    fn from(signed: &SignedAcceptance) -> Self {
        let a = &signed.acceptance;
        Self {
            client: cainome::cairo_serde::ContractAddress(signed.client),
            acceptance: escrow::Acceptance {
                worker: cainome::cairo_serde::ContractAddress(a.worker),
                spec_hash: a.spec_hash,
                capability: a.capability,
                amount: a.amount,
                fee_bps: a.fee_bps,
                commitment: a.commitment,
                nonce: a.nonce,
            },
            signature: signed.signature.clone(),
        }
    }
}

impl Acceptance {
    /// The SNIP-12 typed data the client signs for `escrow` on `chain_id`.
    pub fn typed_data(&self, chain_id: Felt, escrow: Felt) -> Result<TypedData> {
        snip12::typed_data(
            chain_id,
            "Acceptance",
            json!([
                { "name": "escrow", "type": "ContractAddress" },
                { "name": "worker", "type": "ContractAddress" },
                { "name": "spec_hash", "type": "felt" },
                { "name": "capability", "type": "felt" },
                { "name": "amount", "type": "u128" },
                { "name": "fee_bps", "type": "u128" },
                { "name": "commitment", "type": "felt" },
                { "name": "nonce", "type": "felt" }
            ]),
            json!({
                "escrow": format!("{escrow:#x}"),
                "worker": format!("{:#x}", self.worker),
                "spec_hash": format!("{:#x}", self.spec_hash),
                "capability": format!("{:#x}", self.capability),
                "amount": self.amount.to_string(),
                "fee_bps": self.fee_bps.to_string(),
                "commitment": format!("{:#x}", self.commitment),
                "nonce": format!("{:#x}", self.nonce)
            }),
        )
    }

    /// The hash `client`'s account signs and the escrow checks.
    pub fn hash(&self, chain_id: Felt, escrow: Felt, client: Felt) -> Result<Felt> {
        snip12::message_hash(&self.typed_data(chain_id, escrow)?, client)
    }

    /// Signs the acceptance with the key of the client's single-key account.
    pub fn sign(
        self,
        chain_id: Felt,
        escrow: Felt,
        client: Felt,
        key: &SigningKey,
    ) -> Result<SignedAcceptance> {
        let signature = snip12::sign(self.hash(chain_id, escrow, client)?, key)?;
        Ok(SignedAcceptance {
            client,
            acceptance: self,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use starknet::core::utils::{cairo_short_string_to_felt, starknet_keccak};

    use super::*;

    /// The vector `test_acceptance_hash_matches_the_rust_vector` in
    /// `contracts/src/tests/test_batch.cairo` checks too.
    fn vector() -> (Acceptance, Felt, Felt, Felt) {
        let acceptance = Acceptance {
            worker: Felt::from_hex_unchecked("0x3ae"),
            spec_hash: Felt::from_hex_unchecked("0x5bec"),
            capability: Felt::from_hex_unchecked("0x7761736d"),
            amount: 40_000_000_000_000_000_000,
            fee_bps: 250,
            commitment: Felt::from_hex_unchecked("0xc0"),
            nonce: Felt::from(7u8),
        };
        let chain_id = cairo_short_string_to_felt("SN_SEPOLIA").unwrap();
        (
            acceptance,
            chain_id,
            Felt::from_hex_unchecked("0xe5c"),
            Felt::from_hex_unchecked("0xc11e"),
        )
    }

    #[test]
    fn the_acceptance_hash_is_the_vector_the_cairo_tests_pin() {
        let (acceptance, chain_id, escrow, client) = vector();
        let hash = acceptance.hash(chain_id, escrow, client).unwrap();
        assert_eq!(
            format!("{hash:#x}"),
            "0x1ff439eabfb349414ba0778007a797359383e40da1c5cbc5511743c5275b8b9",
            "update test_acceptance_hash_matches_the_rust_vector too"
        );
    }

    #[test]
    fn the_type_hash_is_the_one_the_escrow_uses() {
        // `ACCEPTANCE_TYPE_HASH` in `contracts/src/escrow/acceptance.cairo`.
        assert_eq!(
            format!("{:#x}", starknet_keccak(ACCEPTANCE_TYPE.as_bytes())),
            "0x1ebdc3614595cd7de59b4c7d78e7e67f99c6f2101f37c6142c402b27f2d7dbf"
        );
    }

    #[test]
    fn every_term_and_the_signer_change_the_hash() {
        let (a, chain_id, escrow, client) = vector();
        let base = a.hash(chain_id, escrow, client).unwrap();
        let one = Felt::ONE;
        let variants = [
            Acceptance { worker: one, ..a },
            Acceptance {
                spec_hash: one,
                ..a
            },
            Acceptance {
                capability: one,
                ..a
            },
            Acceptance {
                amount: a.amount + 1,
                ..a
            },
            Acceptance {
                fee_bps: a.fee_bps + 1,
                ..a
            },
            Acceptance {
                commitment: one,
                ..a
            },
            Acceptance { nonce: one, ..a },
        ];
        for other in variants {
            assert_ne!(
                other.hash(chain_id, escrow, client).unwrap(),
                base,
                "{other:?}"
            );
        }
        assert_ne!(a.hash(chain_id, one, client).unwrap(), base);
        assert_ne!(a.hash(chain_id, escrow, one).unwrap(), base);
        let mainnet = cairo_short_string_to_felt("SN_MAIN").unwrap();
        assert_ne!(a.hash(mainnet, escrow, client).unwrap(), base);
    }
}
