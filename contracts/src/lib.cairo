//! CIRO Network contracts.
//!
//! Five contracts, each in its own folder with its interface and errors:
//! - `token`: CiroToken, the ERC20 everything is paid and staked in;
//! - `staking`: worker stake, capabilities, two-step exits, job collateral and slashing;
//! - `escrow`: JobEscrow, the job lifecycle with the reward held in escrow;
//! - `disputes`: arbitration of contested results;
//! - `reputation`: one on-chain record per worker.
//!
//! `admin` is the component every contract embeds (owner, roles, pause, upgrade) and
//! `types` holds the objects shared across contracts. Paths inside the package are always
//! `crate::` paths, never the package name.

pub mod types;
pub mod admin;
pub mod token;
pub mod staking;
pub mod reputation;
pub mod escrow;
pub mod disputes;

#[cfg(test)]
mod tests;
