//! The generated bindings, one module per contract.
//!
//! Each module holds, for its contract:
//! - `<Name>`: invokes (`.send()` on a `SingleOwnerAccount`, or `_getcall` for a raw `Call`);
//! - `<Name>Reader`: views (`.call()`) on any provider;
//! - `Event`: the contract's event enum, decodable from an `EmittedEvent` with `TryFrom`;
//! - the ABI's structs and enums (`Job`, `Ruling`, `ReputationRecord`, ...).
//!
//! The admin component's own `Event` enum is renamed `AdminEvent` to stay apart from the
//! contract's. Paths are relative to the workspace root, where cargo runs the compiler.

/// The ERC20 token (`contracts/src/token`).
pub mod token {
    cainome::rs::abigen!(
        CiroToken,
        "contracts/artifacts/ciro_CiroToken.contract_class.json",
        type_aliases {
            ciro::admin::component::AdminComponent::Event as AdminEvent;
        },
        derives(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)
    );
}

/// Worker staking, capabilities and collateral (`contracts/src/staking`).
pub mod staking {
    cainome::rs::abigen!(
        Staking,
        "contracts/artifacts/ciro_Staking.contract_class.json",
        type_aliases {
            ciro::admin::component::AdminComponent::Event as AdminEvent;
        },
        derives(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)
    );
}

/// Job escrow and its state machine (`contracts/src/escrow`).
pub mod escrow {
    cainome::rs::abigen!(
        JobEscrow,
        "contracts/artifacts/ciro_JobEscrow.contract_class.json",
        type_aliases {
            ciro::admin::component::AdminComponent::Event as AdminEvent;
        },
        derives(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)
    );
}

/// Disputes and arbitration (`contracts/src/disputes`).
pub mod disputes {
    cainome::rs::abigen!(
        Disputes,
        "contracts/artifacts/ciro_Disputes.contract_class.json",
        type_aliases {
            ciro::admin::component::AdminComponent::Event as AdminEvent;
        },
        derives(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)
    );
}

/// On-chain reputation records (`contracts/src/reputation`).
pub mod reputation {
    cainome::rs::abigen!(
        Reputation,
        "contracts/artifacts/ciro_Reputation.contract_class.json",
        type_aliases {
            ciro::admin::component::AdminComponent::Event as AdminEvent;
        },
        derives(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)
    );
}
