//! Administration shared by every contract: an owner, named roles, a pause switch and an
//! owner-only class upgrade. Each contract decides which of its entry points the pause stops.

pub mod interface;
pub mod errors;
pub mod component;
