//! Governance events of every contract, from the admin component they all embed: upgrades
//! announced, cancelled and run, roles granted and revoked, ownership, pause and the end of
//! the setup. They are what a staker watches to decide whether to stay (`/v1/governance`).
//!
//! The component is the same code in every contract, so its events have the same selectors
//! and layout everywhere; one decoder (the token's ABI) reads them for all five.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use ciro_bindings::contracts::token::{self as token_abi, AdminEvent};
use serde::Serialize;
use starknet::core::types::{EmittedEvent, Felt};
use starknet::core::utils::{get_selector_from_name, parse_cairo_short_string};
use utoipa::ToSchema;

use super::Event;
use crate::error::{IndexerError, Result};
use crate::model::hex;

/// The governance events, by name.
pub const NAMES: [&str; 11] = [
    "OwnershipTransferred",
    "OwnershipTransferStarted",
    "RoleGranted",
    "RoleRevoked",
    "Paused",
    "Unpaused",
    "Upgraded",
    "UpgradeAnnounced",
    "UpgradeCancelled",
    "UpgradeDelayChanged",
    "SetupEnded",
];

static SELECTORS: LazyLock<Vec<(Felt, &'static str)>> = LazyLock::new(|| {
    NAMES
        .iter()
        .map(|n| {
            (
                get_selector_from_name(n).expect("event names are ASCII"),
                *n,
            )
        })
        .collect()
});

/// The selectors of the governance events: the only events of the token that are indexed.
pub fn selectors() -> Vec<Felt> {
    SELECTORS.iter().map(|(s, _)| *s).collect()
}

/// The governance event's name, from its first key; `None` for any other event.
pub fn name(keys: &[Felt]) -> Option<&'static str> {
    let first = keys.first()?;
    SELECTORS.iter().find(|(s, _)| s == first).map(|(_, n)| *n)
}

/// One governance event, as `/v1/governance` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct GovernanceChange {
    /// The contract it happened on.
    pub contract: String,
    /// The event, e.g. `UpgradeAnnounced`.
    pub event: String,
    /// The block.
    pub block_number: u64,
    /// The transaction.
    pub tx_hash: String,
    /// Block time (Unix seconds).
    pub timestamp: u64,
    /// `RoleGranted`, `RoleRevoked`: the role, e.g. `OPERATOR`.
    pub role: Option<String>,
    /// The account the change concerns: the role's holder, the new or named owner, who
    /// paused or unpaused, who announced, cancelled or ended the setup.
    pub account: Option<String>,
    /// `UpgradeAnnounced`, `UpgradeCancelled`, `Upgraded`: the class.
    pub class_hash: Option<String>,
    /// `UpgradeAnnounced`: `poseidon` of the data for the new class's `upgrade_init` (zero
    /// for none).
    pub init_hash: Option<String>,
    /// `UpgradeAnnounced`: from when it can run (Unix seconds).
    pub ready_at: Option<u64>,
    /// `UpgradeAnnounced`: after when it can no longer run (Unix seconds).
    pub expires_at: Option<u64>,
    /// `UpgradeDelayChanged`: the new delay in seconds.
    pub delay: Option<u64>,
    /// `UpgradeDelayChanged`: when the new delay applies (Unix seconds).
    pub effective_at: Option<u64>,
}

/// An upgrade waiting for its delay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PendingUpgrade {
    /// The class the contract will run.
    pub class_hash: String,
    /// `poseidon` of the data passed to the new class's `upgrade_init`; zero for none.
    pub init_hash: String,
    /// From when it can run (Unix seconds): a staker who disagrees must have left by then.
    pub ready_at: u64,
    /// After when it can no longer run (Unix seconds).
    pub expires_at: u64,
    /// The announcing transaction.
    pub tx_hash: String,
    /// Its block.
    pub block_number: u64,
}

/// One contract's governance, folded from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ContractGovernance {
    /// The contract, e.g. `Staking`.
    pub contract: String,
    /// Its address.
    pub address: String,
    /// The governance admin, who grants and revokes roles.
    pub owner: Option<String>,
    /// The successor the owner named, until it accepts.
    pub pending_owner: Option<String>,
    /// Each role with its holders.
    pub roles: BTreeMap<String, BTreeSet<String>>,
    /// Whether the wiring roles (`SLASHER`, `ESCROW`, `REPUTATION_WRITER`) can still change:
    /// true until the deploy's `end_setup`. Stake only once it is false.
    pub setup_open: bool,
    /// Whether new business is paused (exits and settlements never are).
    pub paused: bool,
    /// The class it runs since its last upgrade; null while it runs the deployed class.
    pub upgraded_to: Option<String>,
    /// The upgrade waiting for its delay, if any.
    pub pending_upgrade: Option<PendingUpgrade>,
}

/// `GET /v1/governance`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Governance {
    /// Every contract with governance events, by name.
    pub contracts: Vec<ContractGovernance>,
    /// The latest governance events, newest first.
    pub changes: Vec<GovernanceChange>,
}

/// Decodes `event` through the admin component's ABI; `None` when it is no governance event.
fn decode(event: &Event) -> Result<Option<AdminEvent>> {
    if name(&event.keys).is_none() {
        return Ok(None);
    }
    let emitted = EmittedEvent {
        from_address: event.from_address,
        keys: event.keys.clone(),
        data: event.data.clone(),
        block_hash: None,
        block_number: Some(event.at.block_number),
        transaction_hash: event.at.tx_hash,
    };
    let decoded = token_abi::Event::try_from(&emitted).map_err(|detail| IndexerError::Decode {
        contract: event.contract.name().to_owned(),
        tx: hex(event.at.tx_hash),
        detail,
    })?;
    Ok(match decoded {
        token_abi::Event::AdminEvent(admin) => Some(admin),
        _ => None,
    })
}

/// How `/v1/governance` lists `admin`, emitted as `event`.
fn change(event: &Event, admin: &AdminEvent) -> GovernanceChange {
    let mut out = GovernanceChange {
        contract: event.contract.name().to_owned(),
        event: event.name().to_owned(),
        block_number: event.at.block_number,
        tx_hash: hex(event.at.tx_hash),
        timestamp: event.at.timestamp,
        role: None,
        account: None,
        class_hash: None,
        init_hash: None,
        ready_at: None,
        expires_at: None,
        delay: None,
        effective_at: None,
    };
    match admin {
        AdminEvent::OwnershipTransferred(e) => out.account = Some(hex(e.new_owner.0)),
        AdminEvent::OwnershipTransferStarted(e) => out.account = Some(hex(e.new_owner.0)),
        AdminEvent::RoleGranted(e) => {
            out.role = Some(role_name(e.role));
            out.account = Some(hex(e.account.0));
        }
        AdminEvent::RoleRevoked(e) => {
            out.role = Some(role_name(e.role));
            out.account = Some(hex(e.account.0));
        }
        AdminEvent::Paused(e) => out.account = Some(hex(e.account.0)),
        AdminEvent::Unpaused(e) => out.account = Some(hex(e.account.0)),
        AdminEvent::Upgraded(e) => out.class_hash = Some(hex(e.class_hash.0)),
        AdminEvent::UpgradeAnnounced(e) => {
            out.class_hash = Some(hex(e.class_hash.0));
            out.account = Some(hex(e.sender.0));
            out.init_hash = Some(hex(e.init_hash));
            out.ready_at = Some(e.ready_at);
            out.expires_at = Some(e.expires_at);
        }
        AdminEvent::UpgradeCancelled(e) => {
            out.class_hash = Some(hex(e.class_hash.0));
            out.account = Some(hex(e.sender.0));
        }
        AdminEvent::UpgradeDelayChanged(e) => {
            out.delay = Some(e.new_delay);
            out.effective_at = Some(e.effective_at);
        }
        AdminEvent::SetupEnded(e) => out.account = Some(hex(e.sender.0)),
    }
    out
}

/// A role's name: the short string it is on chain, or its hex when it is not one.
fn role_name(role: Felt) -> String {
    parse_cairo_short_string(&role).unwrap_or_else(|_| hex(role))
}

/// The governance of every contract from its events in chain order (oldest first); the
/// `latest` newest changes are listed.
pub fn fold(events: &[Event], latest: usize) -> Result<Governance> {
    let mut contracts: BTreeMap<String, ContractGovernance> = BTreeMap::new();
    let mut changes = Vec::new();
    for event in events {
        let Some(admin) = decode(event)? else {
            continue;
        };
        let entry = contracts
            .entry(event.contract.name().to_owned())
            .or_insert_with(|| ContractGovernance {
                contract: event.contract.name().to_owned(),
                address: hex(event.from_address),
                setup_open: true,
                ..ContractGovernance::default()
            });
        match &admin {
            AdminEvent::OwnershipTransferred(e) => {
                entry.owner = Some(hex(e.new_owner.0));
                entry.pending_owner = None;
            }
            AdminEvent::OwnershipTransferStarted(e) => {
                entry.pending_owner = Some(hex(e.new_owner.0));
            }
            AdminEvent::RoleGranted(e) => {
                let holders = entry.roles.entry(role_name(e.role)).or_default();
                holders.insert(hex(e.account.0));
            }
            AdminEvent::RoleRevoked(e) => {
                let role = role_name(e.role);
                if let Some(holders) = entry.roles.get_mut(&role) {
                    holders.remove(&hex(e.account.0));
                    if holders.is_empty() {
                        entry.roles.remove(&role);
                    }
                }
            }
            AdminEvent::Paused(_) => entry.paused = true,
            AdminEvent::Unpaused(_) => entry.paused = false,
            AdminEvent::SetupEnded(_) => entry.setup_open = false,
            AdminEvent::UpgradeAnnounced(e) => {
                entry.pending_upgrade = Some(PendingUpgrade {
                    class_hash: hex(e.class_hash.0),
                    init_hash: hex(e.init_hash),
                    ready_at: e.ready_at,
                    expires_at: e.expires_at,
                    tx_hash: hex(event.at.tx_hash),
                    block_number: event.at.block_number,
                });
            }
            AdminEvent::UpgradeCancelled(_) => entry.pending_upgrade = None,
            AdminEvent::Upgraded(e) => {
                entry.pending_upgrade = None;
                entry.upgraded_to = Some(hex(e.class_hash.0));
            }
            AdminEvent::UpgradeDelayChanged(_) => {}
        }
        changes.push(change(event, &admin));
    }
    changes.reverse();
    changes.truncate(latest);
    Ok(Governance {
        contracts: contracts.into_values().collect(),
        changes,
    })
}
