//! The CIRO Network operator toolkit behind the `ciro` binary.
//!
//! Each command group lives in its own module; `contracts` builds, checks
//! and tests the Cairo contracts. This crate root only declares modules; it
//! must never hold command logic itself.

#![warn(missing_docs)]

pub mod contracts;
