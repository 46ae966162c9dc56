//! Reputation: one track record per worker, written only by the escrow and the disputes
//! contract.

pub mod interface;
pub mod errors;
pub mod reputation;
