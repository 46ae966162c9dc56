//! Staking: workers post CiroToken as stake, declare capabilities, lock collateral for jobs,
//! leave through a two-step exit, and can be slashed.

pub mod interface;
pub mod errors;
pub mod staking;
