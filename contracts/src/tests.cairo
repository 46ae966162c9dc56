//! Cairo tests: one module per contract for every external function, plus multi-contract
//! flows. Helpers that deploy the suite and impersonate callers live in `utils`.

mod utils;
mod mock_account;
mod reentrant_account;
mod upgrade_target;
mod test_admin;
mod test_governance;
mod test_token;
mod test_staking;
mod test_reputation;
mod test_escrow;
mod test_batch;
mod test_disputes;
mod test_flows;
