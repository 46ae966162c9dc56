//! JobEscrow: the job lifecycle, with the client's reward held in escrow until the job settles,
//! and batched settlement of results clients accepted off chain, paid from their deposits.

pub mod interface;
pub mod errors;
pub mod bid;
pub mod acceptance;
pub mod escrow;
