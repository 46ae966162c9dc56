//! Typed access to the CIRO Network contracts: every crate talks to the chain through here.
//!
//! - [`contracts`]: the cainome-generated bindings (invokes, views, typed events);
//! - [`artifacts`]: the committed classes, embedded, with their hashes;
//! - [`chain`]: an RPC connection, accounts, receipts;
//! - [`deployment`]: the `deployments/<network>.json` manifest and the deploy settings;
//! - [`deploy`]: the idempotent deploy of the whole suite;
//! - [`units`]: token amounts and capability names;
//! - [`bid`]: a worker's signed consent to a job (SNIP-12), as the escrow checks it;
//! - [`acceptance`]: a client's signed acceptance of a result, paid from its deposit in a batch;
//! - [`snip12`]: the escrow's typed-data domain, shared by bids and acceptances;
//! - [`commitment`]: a worker's committed result and its opening;
//! - [`ops`]: a signing [`ops::Session`] and what it does: stake, create and settle jobs, vote;
//! - [`error`]: errors, with reverts decoded to the contract's own message.

pub mod acceptance;
pub mod artifacts;
pub mod bid;
pub mod chain;
pub mod commitment;
pub mod contracts;
pub mod deploy;
pub mod deployment;
pub mod error;
pub mod governance;
pub mod ops;
pub mod reverts;
pub mod snip12;
pub mod units;

pub use artifacts::Contract;
pub use chain::{Account, Chain, Receipt};
pub use deployment::{DeployConfig, Deployment};
pub use error::{ChainError, Result};
