//! CiroToken: the ERC20 that rewards are paid and stake is posted in.

pub mod interface;
pub mod errors;
pub mod token;
