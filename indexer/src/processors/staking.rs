//! Staking events: a worker's stake, capabilities, queued exits, locked collateral and slashes.

use ciro_bindings::contracts::staking::Event;
use ciro_bindings::units::capability_name;

use super::{units, Refs};
use crate::error::Result;
use crate::model::Worker;

/// The event's name.
pub fn name(e: &Event) -> &'static str {
    match e {
        Event::Staked(_) => "Staked",
        Event::StakeIncreased(_) => "StakeIncreased",
        Event::CapabilitiesRegistered(_) => "CapabilitiesRegistered",
        Event::UnstakeIntent(_) => "UnstakeIntent",
        Event::Unstaked(_) => "Unstaked",
        Event::CollateralLocked(_) => "CollateralLocked",
        Event::CollateralUnlocked(_) => "CollateralUnlocked",
        Event::Slashed(_) => "Slashed",
        Event::MinStakeUpdated(_) => "MinStakeUpdated",
        Event::UnstakeWindowUpdated(_) => "UnstakeWindowUpdated",
        Event::AdminEvent(_) => "Admin",
    }
}

/// The worker and, for collateral, the job.
pub fn refs(e: &Event) -> Refs {
    let worker = |w: &cainome::cairo_serde::ContractAddress| Some(w.0);
    match e {
        Event::Staked(e) => Refs {
            worker: worker(&e.worker),
            ..Refs::default()
        },
        Event::StakeIncreased(e) => Refs {
            worker: worker(&e.worker),
            ..Refs::default()
        },
        Event::CapabilitiesRegistered(e) => Refs {
            worker: worker(&e.worker),
            ..Refs::default()
        },
        Event::UnstakeIntent(e) => Refs {
            worker: worker(&e.worker),
            ..Refs::default()
        },
        Event::Unstaked(e) => Refs {
            worker: worker(&e.worker),
            ..Refs::default()
        },
        Event::CollateralLocked(e) => Refs {
            worker: worker(&e.worker),
            job_id: Some(e.job_id),
            dispute_id: None,
        },
        Event::CollateralUnlocked(e) => Refs {
            worker: worker(&e.worker),
            job_id: Some(e.job_id),
            dispute_id: None,
        },
        Event::Slashed(e) => Refs {
            worker: worker(&e.worker),
            ..Refs::default()
        },
        Event::MinStakeUpdated(_) | Event::UnstakeWindowUpdated(_) | Event::AdminEvent(_) => {
            Refs::default()
        }
    }
}

/// Folds a staking event into the worker's position. Events carry the new values, which
/// are taken as they are; a slash also trims locked collateral and queued exits exactly as
/// the contract does (`locked <= stake`, `pending <= stake - locked`).
pub fn apply_worker(w: &mut Worker, e: &Event) -> Result<()> {
    match e {
        Event::Staked(e) => {
            w.stake = units(&e.new_stake)?;
            w.slashed_since_stake = false;
        }
        Event::StakeIncreased(e) => {
            w.stake = units(&e.new_stake)?;
            w.slashed_since_stake = false;
        }
        Event::CapabilitiesRegistered(e) => {
            w.capabilities = e.capabilities.iter().map(|c| capability_name(*c)).collect();
        }
        Event::UnstakeIntent(e) => {
            w.pending_unstake = units(&e.new_pending)?;
            w.unlock_at = Some(e.unlock_at);
        }
        Event::Unstaked(e) => {
            w.stake = units(&e.new_stake)?;
            w.pending_unstake = w.pending_unstake.saturating_sub(units(&e.amount)?);
        }
        Event::CollateralLocked(e) => w.locked = units(&e.new_locked)?,
        Event::CollateralUnlocked(e) => w.locked = units(&e.new_locked)?,
        Event::Slashed(e) => {
            w.stake = units(&e.new_stake)?;
            w.locked = w.locked.min(w.stake);
            w.pending_unstake = w.pending_unstake.min(w.stake - w.locked);
            w.slashes += 1;
            w.total_slashed += units(&e.amount)?;
            w.slashed_since_stake = true;
        }
        Event::MinStakeUpdated(_) | Event::UnstakeWindowUpdated(_) | Event::AdminEvent(_) => {}
    }
    Ok(())
}
