//! The committed contract classes (`contracts/artifacts/`), embedded in the binary.
//!
//! `ciro contracts build` writes them; `ciro contracts build --check` proves in CI that they
//! match the sources. Declaring needs the Sierra class and the Blake2s compiled class hash,
//! which `manifest.json` records.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use starknet::core::types::contract::SierraClass;
use starknet::core::types::{Felt, FlattenedSierraClass};

/// The five contracts, in deployment order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Contract {
    /// The CIRO ERC20 token.
    CiroToken,
    /// Worker staking.
    Staking,
    /// On-chain reputation.
    Reputation,
    /// Job escrow.
    JobEscrow,
    /// Disputes and arbitration.
    Disputes,
}

impl Contract {
    /// Every contract, in the order they are deployed.
    pub const ALL: [Contract; 5] = [
        Contract::CiroToken,
        Contract::Staking,
        Contract::Reputation,
        Contract::JobEscrow,
        Contract::Disputes,
    ];

    /// The contract's name, as in the Cairo source and the manifests.
    pub fn name(self) -> &'static str {
        match self {
            Contract::CiroToken => "CiroToken",
            Contract::Staking => "Staking",
            Contract::Reputation => "Reputation",
            Contract::JobEscrow => "JobEscrow",
            Contract::Disputes => "Disputes",
        }
    }

    /// The contract named `name`, in any case, by its name or a short one (`token`,
    /// `escrow`); `None` for any other name.
    pub fn parse(name: &str) -> Option<Contract> {
        let lower = name.to_ascii_lowercase();
        Self::ALL.into_iter().find(|c| {
            c.name().to_ascii_lowercase() == lower
                || matches!(
                    (c, lower.as_str()),
                    (Contract::CiroToken, "token") | (Contract::JobEscrow, "escrow")
                )
        })
    }

    fn sierra_json(self) -> &'static str {
        match self {
            Contract::CiroToken => {
                include_str!("../../contracts/artifacts/ciro_CiroToken.contract_class.json")
            }
            Contract::Staking => {
                include_str!("../../contracts/artifacts/ciro_Staking.contract_class.json")
            }
            Contract::Reputation => {
                include_str!("../../contracts/artifacts/ciro_Reputation.contract_class.json")
            }
            Contract::JobEscrow => {
                include_str!("../../contracts/artifacts/ciro_JobEscrow.contract_class.json")
            }
            Contract::Disputes => {
                include_str!("../../contracts/artifacts/ciro_Disputes.contract_class.json")
            }
        }
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What declaring a contract needs.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Which contract.
    pub contract: Contract,
    /// The Sierra class, flattened for `starknet_addDeclareTransaction`.
    pub class: Arc<FlattenedSierraClass>,
    /// Its class hash.
    pub class_hash: Felt,
    /// The Blake2s hash of its CASM, which Starknet ≥ 0.14.1 checks on declare.
    pub compiled_class_hash: Felt,
}

#[derive(Deserialize)]
struct ManifestFile {
    contracts: BTreeMap<String, ManifestEntry>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    class_hash: Felt,
    compiled_class_hash: Felt,
}

/// The artifact of `contract`. Parsed once; the class hash is recomputed and checked against
/// `manifest.json`, so a hand-edited artifact fails here rather than on chain.
pub fn artifact(contract: Contract) -> &'static Artifact {
    static ALL: OnceLock<Vec<Artifact>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let manifest: ManifestFile =
            serde_json::from_str(include_str!("../../contracts/artifacts/manifest.json"))
                .expect("contracts/artifacts/manifest.json is valid (checked in CI)");
        Contract::ALL
            .iter()
            .map(|&contract| {
                let entry = manifest
                    .contracts
                    .get(contract.name())
                    .unwrap_or_else(|| panic!("manifest.json lists {contract}"));
                let sierra: SierraClass = serde_json::from_str(contract.sierra_json())
                    .unwrap_or_else(|e| panic!("{contract}'s Sierra class parses: {e}"));
                let class = sierra
                    .flatten()
                    .unwrap_or_else(|e| panic!("{contract}'s ABI flattens: {e}"));
                let class_hash = class.class_hash();
                assert_eq!(
                    class_hash, entry.class_hash,
                    "{contract}: the class hash of the embedded artifact differs from manifest.json"
                );
                Artifact {
                    contract,
                    class: Arc::new(class),
                    class_hash,
                    compiled_class_hash: entry.compiled_class_hash,
                }
            })
            .collect()
    });
    &all[Contract::ALL
        .iter()
        .position(|&c| c == contract)
        .expect("every contract is in ALL")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_artifact_hashes_to_its_manifest_entry() {
        for contract in Contract::ALL {
            let artifact = artifact(contract);
            assert_eq!(artifact.contract, contract);
            assert_ne!(artifact.compiled_class_hash, Felt::ZERO);
        }
        let hashes: std::collections::HashSet<_> = Contract::ALL
            .iter()
            .map(|&c| artifact(c).class_hash)
            .collect();
        assert_eq!(hashes.len(), 5, "every contract has its own class hash");
    }
}
