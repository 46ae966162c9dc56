//! Test harness: named accounts, the deployed and wired suite, and helpers that drive a
//! job to a given state. Tests impersonate a caller with `set_contract_address`.

use core::hash::HashStateTrait;
use core::pedersen::PedersenTrait;
use starknet::syscalls::deploy_syscall;
use starknet::testing::{pop_log_raw, set_block_timestamp, set_contract_address};
use starknet::{ClassHash, ContractAddress, contract_address_const};
use crate::admin::interface::{IAdminDispatcher, IAdminDispatcherTrait};
use crate::disputes::disputes::Disputes;
use crate::disputes::interface::{
    IDisputesConfigDispatcher, IDisputesConfigDispatcherTrait, IDisputesDispatcher,
    IDisputesViewDispatcher,
};
use crate::escrow::acceptance::{Acceptance, Settlement};
use crate::escrow::bid::Bid;
use crate::escrow::escrow::JobEscrow;
use crate::escrow::interface::{
    IBatchSettlementDispatcher, IBatchSettlementDispatcherTrait, IEscrowConfigDispatcher,
    IEscrowConfigDispatcherTrait, IEscrowSettlementDispatcher,
    IEscrowViewDispatcher, IEscrowViewDispatcherTrait, IJobEscrowDispatcher,
    IJobEscrowDispatcherTrait, result_commitment,
};
use crate::reputation::interface::{IReputationViewDispatcher, IReputationWriterDispatcher};
use crate::reputation::reputation::Reputation;
use crate::staking::interface::{
    IStakingConfigDispatcher, IStakingJobsDispatcher, IStakingViewDispatcher,
    IStakingWorkerDispatcher, IStakingWorkerDispatcherTrait,
};
use crate::staking::staking::Staking;
use crate::token::interface::{
    IERC20Dispatcher, IERC20DispatcherTrait, IMintableDispatcher, IMintableDispatcherTrait,
};
use crate::token::token::CiroToken;
use crate::types::roles;
use super::mock_account::MockAccount;

// Named accounts.
pub fn OWNER() -> ContractAddress {
    contract_address_const::<'owner'>()
}
/// The client and the workers are accounts (`MockAccount`), so they can sign acceptances and
/// bids; `setup` deploys them at these addresses.
pub fn CLIENT() -> ContractAddress {
    account_address(CLIENT_SECRET)
}
pub fn WORKER() -> ContractAddress {
    account_address(WORKER_SECRET)
}
pub fn WORKER2() -> ContractAddress {
    account_address(WORKER2_SECRET)
}
pub const CLIENT_SECRET: felt252 = 'client';
pub const WORKER_SECRET: felt252 = 'worker';
pub const WORKER2_SECRET: felt252 = 'worker2';
pub fn TREASURY() -> ContractAddress {
    contract_address_const::<'treasury'>()
}
pub fn ARB1() -> ContractAddress {
    contract_address_const::<'arb1'>()
}
pub fn ARB2() -> ContractAddress {
    contract_address_const::<'arb2'>()
}
pub fn ARB3() -> ContractAddress {
    contract_address_const::<'arb3'>()
}
pub fn OTHER() -> ContractAddress {
    contract_address_const::<'other'>()
}
pub fn ZERO() -> ContractAddress {
    contract_address_const::<0>()
}

// Suite configuration.
pub const ONE: u256 = 1_000_000_000_000_000_000;
pub const MIN_STAKE: u256 = 100_000_000_000_000_000_000; // 100 CIRO
pub const UNSTAKE_WINDOW: u64 = 604_800;
pub const FEE_BPS: u16 = 250; // 2.5%
pub const TIMEOUT_SLASH_BPS: u16 = 5_000; // 50% of the collateral
pub const DISPUTE_BOND: u256 = 5_000_000_000_000_000_000; // 5 CIRO
pub const QUORUM: u32 = 2;
pub const VOTING_PERIOD: u64 = 86_400;
pub const INITIAL_BALANCE: u256 = 10_000_000_000_000_000_000_000; // 10_000 CIRO
/// The token's supply cap: 100_000 CIRO.
pub const SUPPLY_CAP: u256 = 100_000_000_000_000_000_000_000;

// A job's defaults.
pub const START: u64 = 1_000_000;
pub const SPEC: felt252 = 'spec-hash';
pub const RESULT: felt252 = 'result-hash';
/// The salt workers commit `RESULT` with.
pub const SALT: felt252 = 'salt';
pub const EVIDENCE: felt252 = 'evidence-hash';
pub const WASM: felt252 = 'wasm';
pub const REWARD: u256 = 40_000_000_000_000_000_000; // 40 CIRO
pub const COLLATERAL: u256 = 60_000_000_000_000_000_000; // 60 CIRO
pub const DEADLINE: u64 = START + 3_600;
pub const CHALLENGE_WINDOW: u64 = 600;
pub const STAKE: u256 = 200_000_000_000_000_000_000; // 200 CIRO

/// Addresses of a deployed, wired suite.
#[derive(Copy, Drop)]
pub struct Suite {
    pub token: ContractAddress,
    pub staking: ContractAddress,
    pub reputation: ContractAddress,
    pub escrow: ContractAddress,
    pub disputes: ContractAddress,
}

/// Typed handles on the suite's contracts.
#[generate_trait]
pub impl SuiteImpl of SuiteTrait {
    fn erc20(self: @Suite) -> IERC20Dispatcher {
        IERC20Dispatcher { contract_address: *self.token }
    }
    fn mintable(self: @Suite) -> IMintableDispatcher {
        IMintableDispatcher { contract_address: *self.token }
    }
    fn staking_worker(self: @Suite) -> IStakingWorkerDispatcher {
        IStakingWorkerDispatcher { contract_address: *self.staking }
    }
    fn staking_jobs(self: @Suite) -> IStakingJobsDispatcher {
        IStakingJobsDispatcher { contract_address: *self.staking }
    }
    fn staking_view(self: @Suite) -> IStakingViewDispatcher {
        IStakingViewDispatcher { contract_address: *self.staking }
    }
    fn staking_config(self: @Suite) -> IStakingConfigDispatcher {
        IStakingConfigDispatcher { contract_address: *self.staking }
    }
    fn reputation_view(self: @Suite) -> IReputationViewDispatcher {
        IReputationViewDispatcher { contract_address: *self.reputation }
    }
    fn reputation_writer(self: @Suite) -> IReputationWriterDispatcher {
        IReputationWriterDispatcher { contract_address: *self.reputation }
    }
    fn escrow(self: @Suite) -> IJobEscrowDispatcher {
        IJobEscrowDispatcher { contract_address: *self.escrow }
    }
    fn batch(self: @Suite) -> IBatchSettlementDispatcher {
        IBatchSettlementDispatcher { contract_address: *self.escrow }
    }
    fn escrow_view(self: @Suite) -> IEscrowViewDispatcher {
        IEscrowViewDispatcher { contract_address: *self.escrow }
    }
    fn escrow_config(self: @Suite) -> IEscrowConfigDispatcher {
        IEscrowConfigDispatcher { contract_address: *self.escrow }
    }
    fn escrow_settlement(self: @Suite) -> IEscrowSettlementDispatcher {
        IEscrowSettlementDispatcher { contract_address: *self.escrow }
    }
    fn disputes(self: @Suite) -> IDisputesDispatcher {
        IDisputesDispatcher { contract_address: *self.disputes }
    }
    fn disputes_view(self: @Suite) -> IDisputesViewDispatcher {
        IDisputesViewDispatcher { contract_address: *self.disputes }
    }
    fn disputes_config(self: @Suite) -> IDisputesConfigDispatcher {
        IDisputesConfigDispatcher { contract_address: *self.disputes }
    }
}

/// The admin surface of any contract.
pub fn admin(contract: ContractAddress) -> IAdminDispatcher {
    IAdminDispatcher { contract_address: contract }
}

/// Pedersen `compute_hash_on_elements`, as Starknet hashes contract addresses.
fn hash_on_elements(elements: Span<felt252>) -> felt252 {
    let mut state = PedersenTrait::new(0);
    for element in elements {
        state = state.update(*element);
    };
    state.update(elements.len().into()).finalize()
}

/// Where `deploy_syscall` from address zero puts a `MockAccount` with `secret` (also its
/// salt).
fn account_address(secret: felt252) -> ContractAddress {
    let calldata_hash = hash_on_elements(array![secret].span());
    let hash = hash_on_elements(
        array!['STARKNET_CONTRACT_ADDRESS', 0, secret, MockAccount::TEST_CLASS_HASH, calldata_hash]
            .span(),
    );
    let bound: u256 = 0x800000000000000000000000000000000000000000000000000000000000000 - 256;
    let address: u256 = hash.into() % bound;
    let address: felt252 = address.try_into().unwrap();
    address.try_into().unwrap()
}

/// Deploys the `MockAccount` behind `secret` and checks it landed where
/// `account_address` says.
fn deploy_account(secret: felt252) {
    let class_hash: ClassHash = MockAccount::TEST_CLASS_HASH.try_into().unwrap();
    let (address, _) = deploy_syscall(class_hash, secret, array![secret].span(), true).unwrap();
    assert_eq!(address, account_address(secret));
}

fn deploy(class_hash: felt252, calldata: Array<felt252>) -> ContractAddress {
    let class_hash: ClassHash = class_hash.try_into().unwrap();
    let (address, _) = deploy_syscall(class_hash, 0, calldata.span(), false).unwrap();
    address
}

/// Deploys CiroToken owned by `OWNER`.
pub fn deploy_token() -> ContractAddress {
    let mut calldata = array![];
    let name: ByteArray = "CIRO Token";
    let symbol: ByteArray = "CIRO";
    name.serialize(ref calldata);
    symbol.serialize(ref calldata);
    OWNER().serialize(ref calldata);
    SUPPLY_CAP.serialize(ref calldata);
    deploy(CiroToken::TEST_CLASS_HASH, calldata)
}

/// Deploys Staking over `token` with the suite's minimum stake and `window`.
pub fn deploy_staking(token: ContractAddress, window: u64) -> ContractAddress {
    let mut calldata = array![];
    OWNER().serialize(ref calldata);
    token.serialize(ref calldata);
    MIN_STAKE.serialize(ref calldata);
    window.serialize(ref calldata);
    deploy(Staking::TEST_CLASS_HASH, calldata)
}

/// Deploys Reputation owned by `OWNER`.
pub fn deploy_reputation() -> ContractAddress {
    deploy(Reputation::TEST_CLASS_HASH, array![OWNER().into()])
}

/// Deploys JobEscrow with the suite's fee and timeout share; the disputes contract is not
/// wired.
pub fn deploy_escrow(
    token: ContractAddress, staking: ContractAddress, reputation: ContractAddress,
) -> ContractAddress {
    let mut calldata = array![];
    OWNER().serialize(ref calldata);
    token.serialize(ref calldata);
    staking.serialize(ref calldata);
    reputation.serialize(ref calldata);
    TREASURY().serialize(ref calldata);
    FEE_BPS.serialize(ref calldata);
    TIMEOUT_SLASH_BPS.serialize(ref calldata);
    DISPUTE_BOND.serialize(ref calldata);
    deploy(JobEscrow::TEST_CLASS_HASH, calldata)
}

/// Deploys Disputes with the suite's quorum and period.
pub fn deploy_disputes(
    escrow: ContractAddress, staking: ContractAddress, reputation: ContractAddress,
) -> ContractAddress {
    let mut calldata = array![];
    OWNER().serialize(ref calldata);
    escrow.serialize(ref calldata);
    staking.serialize(ref calldata);
    reputation.serialize(ref calldata);
    TREASURY().serialize(ref calldata);
    QUORUM.serialize(ref calldata);
    VOTING_PERIOD.serialize(ref calldata);
    deploy(Disputes::TEST_CLASS_HASH, calldata)
}

/// Deploys and wires the whole suite at time `START`: roles granted, three arbitrators,
/// `INITIAL_BALANCE` minted to the client and both workers. All setup events are dropped.
pub fn setup() -> Suite {
    set_block_timestamp(START);
    set_contract_address(OWNER());
    deploy_account(CLIENT_SECRET);
    deploy_account(WORKER_SECRET);
    deploy_account(WORKER2_SECRET);
    let token = deploy_token();
    let staking = deploy_staking(token, UNSTAKE_WINDOW);
    let reputation = deploy_reputation();
    let escrow = deploy_escrow(token, staking, reputation);
    let disputes = deploy_disputes(escrow, staking, reputation);
    let suite = Suite { token, staking, reputation, escrow, disputes };

    suite.escrow_config().set_disputes(disputes);
    admin(staking).grant_role(roles::ESCROW, escrow);
    admin(staking).grant_role(roles::SLASHER, escrow);
    admin(staking).grant_role(roles::SLASHER, disputes);
    admin(reputation).grant_role(roles::REPUTATION_WRITER, escrow);
    admin(reputation).grant_role(roles::REPUTATION_WRITER, disputes);
    let config = suite.disputes_config();
    config.add_arbitrator(ARB1());
    config.add_arbitrator(ARB2());
    config.add_arbitrator(ARB3());
    let mint = suite.mintable();
    mint.mint(CLIENT(), INITIAL_BALANCE);
    mint.mint(WORKER(), INITIAL_BALANCE);
    mint.mint(WORKER2(), INITIAL_BALANCE);
    drop_all_events(suite);
    suite
}

/// Ends the setup on every contract, as the deploy does last: the wiring roles are fixed.
pub fn end_setup(suite: Suite) {
    set_contract_address(OWNER());
    admin(suite.token).end_setup();
    admin(suite.staking).end_setup();
    admin(suite.reputation).end_setup();
    admin(suite.escrow).end_setup();
    admin(suite.disputes).end_setup();
    drop_all_events(suite);
}

/// Discards every event `contract` emitted so far.
pub fn drop_events(contract: ContractAddress) {
    loop {
        match pop_log_raw(contract) {
            Option::Some(_) => {},
            Option::None => { break; },
        };
    };
}

/// Discards every event of the suite.
pub fn drop_all_events(suite: Suite) {
    drop_events(suite.token);
    drop_events(suite.staking);
    drop_events(suite.reputation);
    drop_events(suite.escrow);
    drop_events(suite.disputes);
}

/// `worker` approves and stakes `amount`, then registers `wasm`.
pub fn stake_worker(suite: Suite, worker: ContractAddress, amount: u256) {
    set_contract_address(worker);
    suite.erc20().approve(suite.staking, amount);
    suite.staking_worker().stake(amount);
    suite.staking_worker().register(array![WASM].span());
}

/// The client creates the default job and returns its id.
pub fn create_job(suite: Suite) -> u64 {
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    suite.escrow().create_job(SPEC, REWARD, WASM, DEADLINE, CHALLENGE_WINDOW, COLLATERAL)
}

/// The bid that agrees to exactly the terms of `escrow`'s job: its reward, its collateral
/// and its deadline, valid for a day after that deadline, with the job id as nonce.
pub fn bid_for(escrow: ContractAddress, job_id: u64) -> Bid {
    let job = IEscrowViewDispatcher { contract_address: escrow }.job(job_id);
    Bid {
        spec_hash: job.spec_hash,
        price: job.reward.try_into().unwrap(),
        collateral: job.collateral.try_into().unwrap(),
        deadline: job.deadline,
        expiry: job.deadline + 86_400,
        nonce: job_id.into(),
    }
}

/// The signature `account` (`CLIENT`, `WORKER` or `WORKER2`) makes over `hash`.
pub fn sign_as(account: ContractAddress, hash: felt252) -> Array<felt252> {
    let secret = if account == CLIENT() {
        CLIENT_SECRET
    } else if account == WORKER() {
        WORKER_SECRET
    } else if account == WORKER2() {
        WORKER2_SECRET
    } else {
        'not an account'
    };
    MockAccount::sign(secret, hash)
}

/// `worker`'s signature over `bid` to `escrow` (a `WORKER` or `WORKER2` account).
pub fn sign_bid(escrow: ContractAddress, worker: ContractAddress, bid: Bid) -> Array<felt252> {
    sign_as(worker, IEscrowViewDispatcher { contract_address: escrow }.bid_hash(worker, bid))
}

/// An acceptance of `worker`'s `RESULT` for the default job: `REWARD` at the suite's fee.
pub fn acceptance(worker: ContractAddress, nonce: felt252) -> Acceptance {
    Acceptance {
        worker,
        spec_hash: SPEC,
        capability: WASM,
        amount: REWARD.try_into().unwrap(),
        fee_bps: FEE_BPS,
        commitment: commitment(worker),
        nonce,
    }
}

/// `client`'s acceptance, signed by its account, as a batch entry.
pub fn settlement(suite: Suite, client: ContractAddress, acceptance: Acceptance) -> Settlement {
    let hash = suite.escrow_view().acceptance_hash(client, acceptance);
    Settlement { client, acceptance, signature: sign_as(client, hash) }
}

/// `client` approves and deposits `amount` into the escrow.
pub fn deposit(suite: Suite, client: ContractAddress, amount: u256) {
    set_contract_address(client);
    suite.erc20().approve(suite.escrow, amount);
    suite.batch().deposit(amount);
}

/// The caller assigns `worker` to `escrow`'s job on a bid the worker signed for its terms.
pub fn assign_at(escrow: ContractAddress, job_id: u64, worker: ContractAddress) {
    let bid = bid_for(escrow, job_id);
    let signature = sign_bid(escrow, worker, bid);
    IJobEscrowDispatcher { contract_address: escrow }.assign(job_id, worker, bid, signature);
}

/// The caller assigns `worker` to the suite's job on a bid the worker signed for its terms.
pub fn assign(suite: Suite, job_id: u64, worker: ContractAddress) {
    assign_at(suite.escrow, job_id, worker);
}

/// A default job assigned to a staked `WORKER`.
pub fn assigned_job(suite: Suite) -> u64 {
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    job_id
}

/// `worker`'s commitment to `RESULT` with `SALT`.
pub fn commitment(worker: ContractAddress) -> felt252 {
    result_commitment(RESULT, worker, SALT)
}

/// A default job with `RESULT` committed by `WORKER`.
pub fn submitted_job(suite: Suite) -> u64 {
    let job_id = assigned_job(suite);
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    job_id
}

/// `worker` opens its commitment to `RESULT` on `job_id`.
pub fn reveal(suite: Suite, job_id: u64, worker: ContractAddress) {
    set_contract_address(worker);
    suite.escrow().reveal(job_id, RESULT, SALT);
}

/// A default job disputed by the client; returns (job id, dispute id).
pub fn disputed_job(suite: Suite) -> (u64, u64) {
    let job_id = submitted_job(suite);
    let dispute_id = dispute(suite, job_id);
    (job_id, dispute_id)
}

/// The client approves the bond and disputes `job_id`; returns the dispute id.
pub fn dispute(suite: Suite, job_id: u64) -> u64 {
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, DISPUTE_BOND);
    suite.escrow().dispute(job_id, EVIDENCE)
}

/// Balance of `account` in the suite's token.
pub fn balance(suite: Suite, account: ContractAddress) -> u256 {
    suite.erc20().balance_of(account)
}
