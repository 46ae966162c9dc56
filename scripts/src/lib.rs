//! The CIRO Network operator toolkit behind the `ciro` binary.
//!
//! Each command group lives in its own module:
//! - [`contracts`] builds, checks and tests the Cairo contracts;
//! - [`deploy_cmd`] deploys them (`ciro contracts deploy`);
//! - `up` starts a whole local network (`ciro up`, and the end-to-end tests' harness);
//! - [`net`] resolves the network, the manifest and the signing account;
//!
//! This crate root only declares modules; it must never hold command logic itself.

#![warn(missing_docs)]

pub mod contracts;
pub mod deploy_cmd;
pub mod net;
#[cfg(feature = "devnet")]
pub mod up;
