//! Disputes: arbitration of contested results, by a quorum of arbitrators or, when the
//! voting period runs out, by a configured default ruling.

pub mod interface;
pub mod errors;
pub mod disputes;
