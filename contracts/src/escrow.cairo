//! JobEscrow: the job lifecycle, with the client's reward held in escrow until the job settles.

pub mod interface;
pub mod errors;
pub mod bid;
pub mod escrow;
