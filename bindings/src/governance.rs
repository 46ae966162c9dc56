//! Governance of the deployed suite: who holds which power on each contract, and the
//! timelocked upgrades (`ciro contracts upgrade announce|execute|cancel|status`).
//!
//! An upgrade is announced by the upgrade governor, waits the contract's upgrade delay (at
//! least 97 days: the longest exit plus the longest agreed job), and can be executed until
//! 14 days after that; it can be cancelled at any time. Every step emits an event the
//! indexer serves at `/v1/governance`.

use cainome::cairo_serde::ClassHash;
use starknet::accounts::Account as _;
use starknet::core::types::{Call, Felt};

use crate::contracts::token;
use crate::error::{ChainError, Result};
use crate::ops::Session;
use crate::Contract;

/// The upgrade a contract is waiting to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingUpgrade {
    /// The class it will run.
    pub class_hash: Felt,
    /// `poseidon` of the init data, zero for none.
    pub init_hash: Felt,
    /// Unix seconds from which it can be executed.
    pub ready_at: u64,
    /// Unix seconds after which it can no longer be executed.
    pub expires_at: u64,
}

impl PendingUpgrade {
    /// Where it stands at chain time `now`, in words.
    pub fn window(&self, now: u64) -> String {
        if now < self.ready_at {
            format!(
                "executable from {} (in {}) until {}",
                self.ready_at,
                duration(self.ready_at - now),
                self.expires_at
            )
        } else if now <= self.expires_at {
            format!(
                "executable now, until {} (for {})",
                self.expires_at,
                duration(self.expires_at - now)
            )
        } else {
            format!(
                "expired at {}: announce it again to run it",
                self.expires_at
            )
        }
    }
}

/// One contract's governance state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Governance {
    /// Which contract.
    pub contract: Contract,
    /// Its address.
    pub address: Felt,
    /// The class it runs now.
    pub class_hash: Felt,
    /// The governance admin.
    pub owner: Felt,
    /// Whether the wiring roles can still change (before the deploy's `end_setup`).
    pub setup_open: bool,
    /// Whether new business is paused.
    pub paused: bool,
    /// The delay an upgrade announced now must wait, in seconds.
    pub upgrade_delay: u64,
    /// The upgrade waiting for its delay, if any.
    pub pending: Option<PendingUpgrade>,
}

/// A step of a timelocked upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeStep {
    /// Announce `class_hash`, with `init` for its `upgrade_init` (empty for none).
    Announce {
        /// The class to run.
        class_hash: Felt,
        /// Calldata of `upgrade_init`.
        init: Vec<Felt>,
    },
    /// Run the pending upgrade; `init` must be the announced data.
    Execute {
        /// Calldata of `upgrade_init`, as announced.
        init: Vec<Felt>,
    },
    /// Withdraw the pending upgrade.
    Cancel,
}

impl UpgradeStep {
    /// The entry point it calls.
    pub fn entry_point(&self) -> &'static str {
        match self {
            Self::Announce { .. } => "announce_upgrade",
            Self::Execute { .. } => "execute_upgrade",
            Self::Cancel => "cancel_upgrade",
        }
    }
}

impl Session {
    /// The governance state of `contract`: class, owner, setup, pause, delay, pending upgrade.
    pub async fn governance(&self, contract: Contract) -> Result<Governance> {
        let address = self.deployment.address(contract)?;
        // The admin component has the same selectors on every contract.
        let reader = token::CiroTokenReader::new(address, self.chain.rpc());
        let view = |what: &str, e: cainome::cairo_serde::Error| {
            self.chain.error(format!("{contract}.{what}"), e)
        };
        let class_hash = self
            .chain
            .class_hash_at(address)
            .await?
            .ok_or_else(|| ChainError::Input(format!("no contract at {address:#x}")))?;
        let owner = reader.owner().call().await.map_err(|e| view("owner", e))?;
        let setup_open = reader
            .is_setup_open()
            .call()
            .await
            .map_err(|e| view("is_setup_open", e))?;
        let paused = reader
            .is_paused()
            .call()
            .await
            .map_err(|e| view("is_paused", e))?;
        let upgrade_delay = reader
            .upgrade_delay()
            .call()
            .await
            .map_err(|e| view("upgrade_delay", e))?;
        let pending = reader
            .pending_upgrade()
            .call()
            .await
            .map_err(|e| view("pending_upgrade", e))?;
        let pending = (pending.class_hash.0 != Felt::ZERO).then_some(PendingUpgrade {
            class_hash: pending.class_hash.0,
            init_hash: pending.init_hash,
            ready_at: pending.ready_at,
            expires_at: pending.expires_at,
        });
        Ok(Governance {
            contract,
            address,
            class_hash,
            owner: owner.0,
            setup_open,
            paused,
            upgrade_delay,
            pending,
        })
    }

    /// The call that takes `step` on `contract`.
    pub fn upgrade_call(&self, contract: Contract, step: &UpgradeStep) -> Result<Call> {
        let admin = token::CiroToken::new(self.deployment.address(contract)?, &self.account);
        Ok(match step {
            UpgradeStep::Announce { class_hash, init } => {
                admin.announce_upgrade_getcall(&ClassHash(*class_hash), init)
            }
            UpgradeStep::Execute { init } => admin.execute_upgrade_getcall(init),
            UpgradeStep::Cancel => admin.cancel_upgrade_getcall(),
        })
    }

    /// Checks `step` against the chain (the fee estimate runs it, so a call the contract
    /// would refuse fails here with its reason) and returns the estimated fee in FRI.
    pub async fn estimate_upgrade(&self, contract: Contract, step: &UpgradeStep) -> Result<u128> {
        let call = self.upgrade_call(contract, step)?;
        let label = format!("{contract}.{}", step.entry_point());
        let estimate = self
            .account
            .execute_v3(vec![call])
            .estimate_fee()
            .await
            .map_err(|e| self.chain.error(label, e))?;
        Ok(estimate.overall_fee)
    }

    /// Sends `step` on `contract` and waits for it.
    pub async fn upgrade(&self, contract: Contract, step: &UpgradeStep) -> Result<crate::Receipt> {
        let call = self.upgrade_call(contract, step)?;
        self.send(&format!("{contract}.{}", step.entry_point()), vec![call])
            .await
    }
}

/// `seconds` as days, hours and minutes, for people.
pub fn duration(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, minutes) = (rest / 3600, rest % 3600 / 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_upgrade_says_when_it_can_run() {
        let pending = PendingUpgrade {
            class_hash: Felt::ONE,
            init_hash: Felt::ZERO,
            ready_at: 1_000_000,
            expires_at: 1_000_000 + 14 * 86_400,
        };
        assert_eq!(
            pending.window(1_000_000 - 90_000),
            "executable from 1000000 (in 1 d 1 h) until 2209600"
        );
        assert!(pending
            .window(1_000_000)
            .starts_with("executable now, until 2209600"));
        assert!(pending.window(2_209_601).starts_with("expired at 2209600"));
    }

    #[test]
    fn durations_read_as_days_hours_and_minutes() {
        assert_eq!(duration(59), "0 min");
        assert_eq!(duration(3_660), "1 h 1 min");
        assert_eq!(duration(97 * 86_400), "97 d 0 h");
    }
}
