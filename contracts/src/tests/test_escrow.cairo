use starknet::ContractAddress;
use starknet::testing::{pop_log, set_block_timestamp, set_contract_address};
use crate::admin::interface::IAdminDispatcherTrait;
use crate::disputes::interface::IDisputesViewDispatcherTrait;
use crate::escrow::bid::{Bid, bid_hash};
use crate::escrow::escrow::JobEscrow;
use crate::escrow::interface::{
    IEscrowConfigDispatcherTrait, IEscrowSettlementDispatcherTrait, IEscrowViewDispatcher,
    IEscrowViewDispatcherTrait, IJobEscrowDispatcher, IJobEscrowDispatcherTrait,
    IJobEscrowSafeDispatcher, IJobEscrowSafeDispatcherTrait, MAX_CHALLENGE_WINDOW, MAX_FEE_BPS,
    MAX_JOB_DURATION, result_commitment,
};
use crate::reputation::interface::IReputationViewDispatcherTrait;
use crate::staking::interface::{IStakingViewDispatcherTrait, IStakingWorkerDispatcherTrait};
use crate::token::interface::IERC20DispatcherTrait;
use crate::types::{Dispute, DisputeStatus, Job, JobState, ReputationRecord, Ruling, roles};
use super::mock_account::MockAccount;
use super::utils::{commitment, reveal, SALT, WORKER_SECRET, assign, assign_at, bid_for, sign_bid, 
    CHALLENGE_WINDOW, CLIENT, COLLATERAL, DEADLINE, DISPUTE_BOND, EVIDENCE, FEE_BPS,
    INITIAL_BALANCE, MIN_STAKE, ONE, OTHER, OWNER, QUORUM, RESULT, REWARD, SPEC, STAKE, START,
    Suite, SuiteTrait, TIMEOUT_SLASH_BPS, TREASURY, VOTING_PERIOD, WASM, WORKER, WORKER2, ZERO,
    admin, assigned_job, balance, create_job, deploy_escrow, dispute, disputed_job, drop_events,
    stake_worker, submitted_job, setup,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The default job as `create_job` stores it.
fn open_job() -> Job {
    Job {
        client: CLIENT(),
        worker: ZERO(),
        spec_hash: SPEC,
        capability: WASM,
        reward: REWARD,
        collateral: COLLATERAL,
        deadline: DEADLINE,
        challenge_window: CHALLENGE_WINDOW,
        commitment: 0,
        result_hash: 0,
        submitted_at: 0,
        dispute_id: 0,
        state: JobState::Open,
        fee_bps: FEE_BPS,
        timeout_slash_bps: TIMEOUT_SLASH_BPS,
        dispute_bond: DISPUTE_BOND,
    }
}

/// The default job once `WORKER` is assigned.
fn assigned_record() -> Job {
    let mut job = open_job();
    job.worker = WORKER();
    job.state = JobState::Assigned;
    job
}

/// The default job once `WORKER` committed `RESULT` at `START`.
fn submitted_record() -> Job {
    let mut job = assigned_record();
    job.commitment = commitment(WORKER());
    job.submitted_at = START;
    job.state = JobState::Submitted;
    job
}

fn record(
    jobs_completed: u64,
    jobs_failed: u64,
    disputes_won: u64,
    disputes_lost: u64,
    total_earned: u256,
    total_slashed: u256,
    last_active: u64,
) -> ReputationRecord {
    ReputationRecord {
        jobs_completed,
        jobs_failed,
        disputes_won,
        disputes_lost,
        total_earned,
        total_slashed,
        last_active,
    }
}

/// The client creates a job with `collateral` instead of the default.
fn create_job_with_collateral(suite: Suite, collateral: u256) -> u64 {
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    suite.escrow().create_job(SPEC, REWARD, WASM, DEADLINE, CHALLENGE_WINDOW, collateral)
}

/// The client calls `create_job` with the given arguments after approving `reward`.
fn try_create(
    suite: Suite,
    spec_hash: felt252,
    reward: u256,
    capability: felt252,
    deadline: u64,
    challenge_window: u64,
) -> u64 {
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, reward);
    suite
        .escrow()
        .create_job(spec_hash, reward, capability, deadline, challenge_window, COLLATERAL)
}

fn pause_escrow(suite: Suite) {
    set_contract_address(OWNER());
    admin(suite.escrow).pause();
    drop_events(suite.escrow);
}

// ---------------------------------------------------------------------------------------------
// create_job
// ---------------------------------------------------------------------------------------------

#[test]
fn test_create_job_stores_job_pulls_reward_and_emits() {
    let suite = setup();
    let job_id = create_job(suite);
    assert_eq!(job_id, 1);
    assert_eq!(suite.escrow_view().job_count(), 1);
    assert_eq!(suite.escrow_view().job(job_id), open_job());
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD);
    assert_eq!(balance(suite, suite.escrow), REWARD);
    assert_eq!(suite.erc20().allowance(CLIENT(), suite.escrow), 0);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobCreated(
                JobEscrow::JobCreated {
                    job_id: 1,
                    client: CLIENT(),
                    worker: ZERO(),
                    spec_hash: SPEC,
                    capability: WASM,
                    reward: REWARD,
                    collateral: COLLATERAL,
                    deadline: DEADLINE,
                    challenge_window: CHALLENGE_WINDOW,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<JobEscrow::Event>(suite.escrow), Option::None);
}

#[test]
fn test_create_job_ids_increment() {
    let suite = setup();
    assert_eq!(suite.escrow_view().job_count(), 0);
    let first = create_job(suite);
    let second = create_job(suite);
    assert_eq!(first, 1);
    assert_eq!(second, 2);
    assert_eq!(suite.escrow_view().job_count(), 2);
    assert_eq!(suite.escrow_view().job(second), open_job());
    assert_eq!(balance(suite, suite.escrow), 2 * REWARD);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - 2 * REWARD);
}

#[test]
fn test_create_job_zero_collateral() {
    let suite = setup();
    let job_id = create_job_with_collateral(suite, 0);
    let mut expected = open_job();
    expected.collateral = 0;
    assert_eq!(suite.escrow_view().job(job_id), expected);
    assert_eq!(balance(suite, suite.escrow), REWARD);
}

#[test]
#[should_panic(expected: ('reward is zero', 'ENTRYPOINT_FAILED'))]
fn test_create_job_zero_reward() {
    let suite = setup();
    try_create(suite, SPEC, 0, WASM, DEADLINE, CHALLENGE_WINDOW);
}

#[test]
#[should_panic(expected: ('spec hash is zero', 'ENTRYPOINT_FAILED'))]
fn test_create_job_zero_spec() {
    let suite = setup();
    try_create(suite, 0, REWARD, WASM, DEADLINE, CHALLENGE_WINDOW);
}

#[test]
#[should_panic(expected: ('capability is zero', 'ENTRYPOINT_FAILED'))]
fn test_create_job_zero_capability() {
    let suite = setup();
    try_create(suite, SPEC, REWARD, 0, DEADLINE, CHALLENGE_WINDOW);
}

#[test]
#[should_panic(expected: ('deadline passed', 'ENTRYPOINT_FAILED'))]
fn test_create_job_deadline_in_past() {
    let suite = setup();
    try_create(suite, SPEC, REWARD, WASM, START - 1, CHALLENGE_WINDOW);
}

#[test]
#[should_panic(expected: ('challenge window is zero', 'ENTRYPOINT_FAILED'))]
fn test_create_job_zero_challenge_window() {
    let suite = setup();
    try_create(suite, SPEC, REWARD, WASM, DEADLINE, 0);
}

#[test]
#[should_panic(expected: ('contract is paused', 'ENTRYPOINT_FAILED'))]
fn test_create_job_paused() {
    let suite = setup();
    pause_escrow(suite);
    create_job(suite);
}

#[test]
#[should_panic(expected: ('insufficient allowance', 'ENTRYPOINT_FAILED', 'ENTRYPOINT_FAILED'))]
fn test_create_job_missing_allowance() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.escrow().create_job(SPEC, REWARD, WASM, DEADLINE, CHALLENGE_WINDOW, COLLATERAL);
}

// ---------------------------------------------------------------------------------------------
// job view
// ---------------------------------------------------------------------------------------------

#[test]
#[should_panic(expected: ('unknown job', 'ENTRYPOINT_FAILED'))]
fn test_job_unknown_id() {
    let suite = setup();
    create_job(suite);
    suite.escrow_view().job(2);
}

// ---------------------------------------------------------------------------------------------
// assign
// ---------------------------------------------------------------------------------------------

#[test]
fn test_assign_locks_collateral_and_emits() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    drop_events(suite.escrow);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    assert_eq!(suite.escrow_view().job(job_id), assigned_record());
    assert_eq!(suite.staking_view().locked_of(WORKER()), COLLATERAL);
    assert_eq!(suite.staking_view().collateral_of(WORKER(), job_id), COLLATERAL);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
    assert_eq!(suite.staking_view().free_stake_of(WORKER()), STAKE - COLLATERAL);
    // Locking moves no tokens.
    assert_eq!(balance(suite, suite.staking), STAKE);
    assert_eq!(balance(suite, suite.escrow), REWARD);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobAssigned(
                JobEscrow::JobAssigned {
                    job_id,
                    client: CLIENT(),
                    worker: WORKER(),
                    collateral: COLLATERAL,
                    deadline: DEADLINE,
                    nonce: job_id.into(),
                },
            ),
        ),
    );
    assert_eq!(pop_log::<JobEscrow::Event>(suite.escrow), Option::None);
}

#[test]
fn test_assign_zero_collateral_locks_nothing() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job_with_collateral(suite, 0);
    drop_events(suite.escrow);
    drop_events(suite.staking);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    let mut expected = assigned_record();
    expected.collateral = 0;
    assert_eq!(suite.escrow_view().job(job_id), expected);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(suite.staking_view().collateral_of(WORKER(), job_id), 0);
    assert_eq!(suite.staking_view().free_stake_of(WORKER()), STAKE);
    assert!(starknet::testing::pop_log_raw(suite.staking).is_none());
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobAssigned(
                JobEscrow::JobAssigned {
                    job_id,
                    client: CLIENT(),
                    worker: WORKER(),
                    collateral: 0,
                    deadline: DEADLINE,
                    nonce: job_id.into(),
                },
            ),
        ),
    );
}

#[test]
#[should_panic(expected: ('caller is not the client', 'ENTRYPOINT_FAILED'))]
fn test_assign_not_client() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(WORKER());
    assign(suite, job_id, WORKER());
}

#[test]
#[should_panic(expected: ('unknown job', 'ENTRYPOINT_FAILED'))]
fn test_assign_unknown_job() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    set_contract_address(CLIENT());
    assign(suite, 1, WORKER());
}

#[test]
#[should_panic(expected: ('job not open', 'ENTRYPOINT_FAILED'))]
fn test_assign_twice() {
    let suite = setup();
    let job_id = assigned_job(suite);
    stake_worker(suite, WORKER2(), STAKE);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER2());
}

#[test]
#[should_panic(expected: ('deadline passed', 'ENTRYPOINT_FAILED'))]
fn test_assign_past_deadline() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_block_timestamp(DEADLINE + 1);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
}

#[test]
#[should_panic(expected: ('worker not active', 'ENTRYPOINT_FAILED'))]
fn test_assign_worker_not_staked() {
    let suite = setup();
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
}

#[test]
#[should_panic(expected: ('worker not active', 'ENTRYPOINT_FAILED'))]
fn test_assign_worker_below_min_stake() {
    let suite = setup();
    stake_worker(suite, WORKER(), MIN_STAKE - 1);
    let job_id = create_job_with_collateral(suite, 0);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
}

#[test]
#[should_panic(expected: ('worker lacks capability', 'ENTRYPOINT_FAILED'))]
fn test_assign_worker_lacks_capability() {
    let suite = setup();
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, STAKE);
    suite.staking_worker().stake(STAKE);
    suite.staking_worker().register(array!['gpu'].span());
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
}

#[test]
#[should_panic(expected: ('insufficient free stake', 'ENTRYPOINT_FAILED'))]
fn test_assign_insufficient_free_stake() {
    let suite = setup();
    // Active at MIN_STAKE (100), but the job asks for more collateral than that.
    stake_worker(suite, WORKER(), MIN_STAKE);
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    let job_id = suite
        .escrow()
        .create_job(SPEC, REWARD, WASM, DEADLINE, CHALLENGE_WINDOW, MIN_STAKE + 1);
    assign(suite, job_id, WORKER());
}

// Only free stake keeps a worker active: once one job's collateral (60) is locked out of
// MIN_STAKE (100), it takes no second job.
#[test]
#[should_panic(expected: ('worker not active', 'ENTRYPOINT_FAILED'))]
fn test_assign_when_locked_collateral_leaves_less_than_the_minimum_free() {
    let suite = setup();
    stake_worker(suite, WORKER(), MIN_STAKE);
    let first = create_job(suite);
    let second = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, first, WORKER());
    assign(suite, second, WORKER());
}

#[test]
#[should_panic(expected: ('contract is paused', 'ENTRYPOINT_FAILED'))]
fn test_assign_paused() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    pause_escrow(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
}

// The attack this used to allow: a client assigned any active worker, unasked, to a job it
// could not finish (deadline now + 1, collateral = the worker's whole free stake), let the
// deadline pass and took `timeout_slash_bps` of that stake. Now `assign` needs the worker's
// signed bid for the job's terms: without one nothing is locked, and nothing can be slashed.
#[test]
#[should_panic(expected: ('invalid bid signature', 'ENTRYPOINT_FAILED'))]
fn test_assign_without_worker_consent_is_refused() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    let job_id = suite.escrow().create_job(SPEC, REWARD, WASM, START + 1, CHALLENGE_WINDOW, STAKE);
    // The client writes the worker's "bid" itself and cannot sign it.
    let bid = bid_for(suite.escrow, job_id);
    suite.escrow().assign(job_id, WORKER(), bid, array![]);
}

#[test]
#[feature("safe_dispatcher")]
fn test_forced_slash_no_longer_pays() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    let job_id = suite.escrow().create_job(SPEC, REWARD, WASM, START + 1, CHALLENGE_WINDOW, STAKE);
    // A signature the client made up, and one the worker gave for different terms.
    let bid = bid_for(suite.escrow, job_id);
    let forged = IJobEscrowSafeDispatcher { contract_address: suite.escrow }
        .assign(job_id, WORKER(), bid, array![bid.nonce, 1]);
    assert!(forged.is_err());
    let mut agreed = bid;
    agreed.collateral = 10 * ONE.try_into().unwrap();
    let signature = sign_bid(suite.escrow, WORKER(), agreed);
    let other_terms = IJobEscrowSafeDispatcher { contract_address: suite.escrow }
        .assign(job_id, WORKER(), bid, signature);
    assert!(other_terms.is_err());
    // Nothing was locked, the deadline passes, and there is nothing to claim.
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    set_block_timestamp(START + 2);
    let claim = IJobEscrowSafeDispatcher { contract_address: suite.escrow }.claim_timeout(job_id);
    assert!(claim.is_err());
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD);
    // The client can only take its own reward back.
    suite.escrow().cancel(job_id);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
}

#[test]
#[should_panic(expected: ('invalid bid signature', 'ENTRYPOINT_FAILED'))]
fn test_assign_signature_of_another_worker() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    let bid = bid_for(suite.escrow, job_id);
    let signature = sign_bid(suite.escrow, WORKER2(), bid);
    suite.escrow().assign(job_id, WORKER(), bid, signature);
}

#[test]
#[should_panic(expected: ('invalid bid signature', 'ENTRYPOINT_FAILED'))]
fn test_assign_bid_signed_for_another_escrow() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(OTHER());
    let escrow2 = deploy_escrow(suite.token, suite.staking, suite.reputation);
    set_contract_address(CLIENT());
    let bid = bid_for(suite.escrow, job_id);
    let signature = MockAccount::sign(
        WORKER_SECRET, IEscrowViewDispatcher { contract_address: escrow2 }.bid_hash(WORKER(), bid),
    );
    suite.escrow().assign(job_id, WORKER(), bid, signature);
}

#[test]
#[should_panic(expected: ('worker is the client', 'ENTRYPOINT_FAILED'))]
fn test_assign_client_as_its_own_worker() {
    // Farming reputation with tiny jobs to oneself.
    let suite = setup();
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    let bid = bid_for(suite.escrow, job_id);
    suite.escrow().assign(job_id, CLIENT(), bid, array![]);
}

#[test]
#[should_panic(expected: ('bid is for another job', 'ENTRYPOINT_FAILED'))]
fn test_assign_bid_for_another_spec() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    let mut bid = bid_for(suite.escrow, job_id);
    bid.spec_hash = 'another spec';
    let signature = sign_bid(suite.escrow, WORKER(), bid);
    suite.escrow().assign(job_id, WORKER(), bid, signature);
}

#[test]
#[should_panic(expected: ('bid price above reward', 'ENTRYPOINT_FAILED'))]
fn test_assign_bid_asks_more_than_the_reward() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    let mut bid = bid_for(suite.escrow, job_id);
    bid.price += 1;
    let signature = sign_bid(suite.escrow, WORKER(), bid);
    suite.escrow().assign(job_id, WORKER(), bid, signature);
}

#[test]
#[should_panic(expected: ('bid collateral below job', 'ENTRYPOINT_FAILED'))]
fn test_assign_bid_allows_less_collateral() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    let mut bid = bid_for(suite.escrow, job_id);
    bid.collateral -= 1;
    let signature = sign_bid(suite.escrow, WORKER(), bid);
    suite.escrow().assign(job_id, WORKER(), bid, signature);
}

#[test]
#[should_panic(expected: ('bid deadline after job', 'ENTRYPOINT_FAILED'))]
fn test_assign_bid_deadline_after_the_job() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    let mut bid = bid_for(suite.escrow, job_id);
    bid.deadline += 1;
    let signature = sign_bid(suite.escrow, WORKER(), bid);
    suite.escrow().assign(job_id, WORKER(), bid, signature);
}

#[test]
fn test_assign_takes_the_bid_deadline() {
    // The worker promised less time than the client allowed: the job's deadline is the
    // worker's, and a timeout is claimable from then on, not before.
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    let mut bid = bid_for(suite.escrow, job_id);
    bid.deadline = START + 600;
    let signature = sign_bid(suite.escrow, WORKER(), bid);
    suite.escrow().assign(job_id, WORKER(), bid, signature);
    assert_eq!(suite.escrow_view().job(job_id).deadline, START + 600);
    set_block_timestamp(START + 601);
    suite.escrow().claim_timeout(job_id);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Refunded);
}

#[test]
#[should_panic(expected: ('bid expired', 'ENTRYPOINT_FAILED'))]
fn test_assign_expired_bid() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    let mut bid = bid_for(suite.escrow, job_id);
    bid.expiry = START + 10;
    let signature = sign_bid(suite.escrow, WORKER(), bid);
    set_block_timestamp(START + 11);
    suite.escrow().assign(job_id, WORKER(), bid, signature);
}

#[test]
#[should_panic(expected: ('bid already used', 'ENTRYPOINT_FAILED'))]
fn test_assign_bid_replayed_on_a_second_job() {
    // One bid, one job: the client cannot reuse a signed bid to lock more collateral.
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let first = create_job(suite);
    let second = create_job(suite);
    set_contract_address(CLIENT());
    let bid = bid_for(suite.escrow, first);
    let signature = sign_bid(suite.escrow, WORKER(), bid);
    suite.escrow().assign(first, WORKER(), bid, signature.clone());
    assert!(suite.escrow_view().is_bid_used(WORKER(), bid.nonce));
    suite.escrow().assign(second, WORKER(), bid, signature);
}

#[test]
#[should_panic(expected: ('deadline too far', 'ENTRYPOINT_FAILED'))]
fn test_create_job_deadline_beyond_the_cap() {
    // A deadline of u64::MAX would lock a worker's collateral forever.
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    suite
        .escrow()
        .create_job(SPEC, REWARD, WASM, START + MAX_JOB_DURATION + 1, CHALLENGE_WINDOW, 0);
}

#[test]
fn test_create_job_deadline_at_the_cap() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    let job_id = suite
        .escrow()
        .create_job(SPEC, REWARD, WASM, START + MAX_JOB_DURATION, CHALLENGE_WINDOW, 0);
    assert_eq!(suite.escrow_view().job(job_id).deadline, START + MAX_JOB_DURATION);
}

/// The vector `ciro_bindings::bid` pins in Rust: both sides hash a bid the same way.
#[test]
fn test_bid_hash_matches_the_rust_vector() {
    let bid = Bid {
        spec_hash: 0x5bec,
        price: 40_000_000_000_000_000_000,
        collateral: 60_000_000_000_000_000_000,
        deadline: 1_003_600,
        expiry: 1_000_600,
        nonce: 7,
    };
    let escrow: ContractAddress = 0xe5c.try_into().unwrap();
    let worker: ContractAddress = 0x3ae.try_into().unwrap();
    assert_eq!(
        bid_hash(@bid, escrow, worker, 'SN_SEPOLIA'),
        0x3e8d041d70ea49852b1642f7f9fcfffdea97c759aed86d1dc1cbc04a52242af,
    );
}

// ---------------------------------------------------------------------------------------------
// submit_result
// ---------------------------------------------------------------------------------------------

#[test]
fn test_submit_result_records_and_emits() {
    let suite = setup();
    let job_id = assigned_job(suite);
    drop_events(suite.escrow);
    let now = START + 100;
    set_block_timestamp(now);
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    let mut expected = submitted_record();
    expected.submitted_at = now;
    assert_eq!(suite.escrow_view().job(job_id), expected);
    // Nothing moves on submission.
    assert_eq!(balance(suite, suite.escrow), REWARD);
    assert_eq!(suite.staking_view().locked_of(WORKER()), COLLATERAL);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::ResultSubmitted(
                JobEscrow::ResultSubmitted {
                    job_id,
                    client: CLIENT(),
                    worker: WORKER(),
                    commitment: commitment(WORKER()),
                    challenge_ends_at: now + CHALLENGE_WINDOW,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<JobEscrow::Event>(suite.escrow), Option::None);
}

#[test]
fn test_submit_result_at_deadline() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_block_timestamp(DEADLINE);
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    let job = suite.escrow_view().job(job_id);
    assert_eq!(job.state, JobState::Submitted);
    assert_eq!(job.submitted_at, DEADLINE);
}

#[test]
#[should_panic(expected: ('caller is not the worker', 'ENTRYPOINT_FAILED'))]
fn test_submit_result_not_worker() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
}

#[test]
#[should_panic(expected: ('job not assigned', 'ENTRYPOINT_FAILED'))]
fn test_submit_result_not_assigned() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, 'other-result');
}

#[test]
#[should_panic(expected: ('unknown job', 'ENTRYPOINT_FAILED'))]
fn test_submit_result_unknown_job() {
    let suite = setup();
    set_contract_address(WORKER());
    suite.escrow().submit_result(7, commitment(WORKER()));
}

#[test]
#[should_panic(expected: ('deadline passed', 'ENTRYPOINT_FAILED'))]
fn test_submit_result_past_deadline() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_block_timestamp(DEADLINE + 1);
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
}

#[test]
#[should_panic(expected: ('commitment is zero', 'ENTRYPOINT_FAILED'))]
fn test_submit_result_zero_commitment() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, 0);
}

#[test]
#[should_panic(expected: ('challenge window too long', 'ENTRYPOINT_FAILED'))]
fn test_create_job_challenge_window_too_long() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    let window = MAX_CHALLENGE_WINDOW + 1;
    suite.escrow().create_job(SPEC, REWARD, WASM, DEADLINE, window, COLLATERAL);
}

#[test]
fn test_submit_result_with_longest_challenge_window() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    let job_id = suite
        .escrow()
        .create_job(SPEC, REWARD, WASM, DEADLINE, MAX_CHALLENGE_WINDOW, COLLATERAL);
    assign(suite, job_id, WORKER());
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    let job = suite.escrow_view().job(job_id);
    assert_eq!(job.state, JobState::Submitted);
    assert_eq!(job.submitted_at + job.challenge_window, START + MAX_CHALLENGE_WINDOW);
}

// ---------------------------------------------------------------------------------------------
// reveal
// ---------------------------------------------------------------------------------------------

#[test]
fn test_reveal_by_anyone_opens_the_commitment_and_emits() {
    let suite = setup();
    let job_id = submitted_job(suite);
    drop_events(suite.escrow);
    // The opening is all it takes: the client, which got it off chain, may reveal too.
    set_contract_address(OTHER());
    suite.escrow().reveal(job_id, RESULT, SALT);
    let mut expected = submitted_record();
    expected.result_hash = RESULT;
    assert_eq!(suite.escrow_view().job(job_id), expected);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::ResultRevealed(
                JobEscrow::ResultRevealed {
                    job_id, client: CLIENT(), worker: WORKER(), result_hash: RESULT,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<JobEscrow::Event>(suite.escrow), Option::None);
}

#[test]
fn test_result_commitment_matches_the_rust_vector() {
    let suite = setup();
    let worker: ContractAddress = 0x3ae.try_into().unwrap();
    // `the_commitment_is_the_vector_the_cairo_tests_pin` in `bindings/src/commitment.rs`.
    let pinned = 0x511e56909dd34815dcbad877849f6acb7c0884ae41290192ff6108a486b9865;
    assert_eq!(result_commitment(0xbeef, worker, 0x5a17), pinned);
    assert_eq!(suite.escrow_view().result_commitment(0xbeef, worker, 0x5a17), pinned);
    // It names the worker: the same result and salt commit differently for another.
    assert_ne!(result_commitment(0xbeef, WORKER(), 0x5a17), pinned);
}

#[test]
#[should_panic(expected: ('reveal does not match', 'ENTRYPOINT_FAILED'))]
fn test_reveal_another_result() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(WORKER());
    suite.escrow().reveal(job_id, 'another-result', SALT);
}

#[test]
#[should_panic(expected: ('reveal does not match', 'ENTRYPOINT_FAILED'))]
fn test_reveal_another_salt() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(WORKER());
    suite.escrow().reveal(job_id, RESULT, 'another-salt');
}

#[test]
#[should_panic(expected: ('result already revealed', 'ENTRYPOINT_FAILED'))]
fn test_reveal_twice() {
    let suite = setup();
    let job_id = submitted_job(suite);
    reveal(suite, job_id, WORKER());
    reveal(suite, job_id, WORKER());
}

#[test]
#[should_panic(expected: ('result hash is zero', 'ENTRYPOINT_FAILED'))]
fn test_reveal_zero_result() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, result_commitment(0, WORKER(), SALT));
    suite.escrow().reveal(job_id, 0, SALT);
}

#[test]
#[should_panic(expected: ('job not revealable', 'ENTRYPOINT_FAILED'))]
fn test_reveal_before_submission() {
    let suite = setup();
    let job_id = assigned_job(suite);
    reveal(suite, job_id, WORKER());
}

#[test]
#[should_panic(expected: ('job not revealable', 'ENTRYPOINT_FAILED'))]
fn test_reveal_after_accept() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);
    reveal(suite, job_id, WORKER());
}

#[test]
fn test_reveal_during_a_dispute() {
    let suite = setup();
    let job_id = submitted_job(suite);
    dispute(suite, job_id);
    reveal(suite, job_id, WORKER());
    let job = suite.escrow_view().job(job_id);
    assert_eq!(job.state, JobState::Disputed);
    assert_eq!(job.result_hash, RESULT);
}

#[test]
#[should_panic(expected: ('result not revealed', 'ENTRYPOINT_FAILED'))]
fn test_finalize_unrevealed() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_block_timestamp(START + CHALLENGE_WINDOW + 1);
    set_contract_address(WORKER());
    suite.escrow().finalize(job_id);
}

// A commitment its worker never opens is no result: after a second window the client is
// refunded and the worker slashed, as for a missed deadline.
#[test]
fn test_claim_timeout_of_an_unrevealed_result() {
    let suite = setup();
    let job_id = submitted_job(suite);
    drop_events(suite.escrow);
    let now = START + 2 * CHALLENGE_WINDOW + 1;
    set_block_timestamp(now);
    set_contract_address(OTHER());
    suite.escrow().claim_timeout(job_id);
    let slashed = COLLATERAL * TIMEOUT_SLASH_BPS.into() / 10_000;
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Refunded);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    assert_eq!(balance(suite, TREASURY()), slashed);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE - slashed);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobTimedOut(
                JobEscrow::JobTimedOut {
                    job_id, client: CLIENT(), worker: WORKER(), refund: REWARD, slashed,
                },
            ),
        ),
    );
}

#[test]
#[should_panic(expected: ('deadline not passed', 'ENTRYPOINT_FAILED'))]
fn test_claim_timeout_of_an_unrevealed_result_within_the_second_window() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_block_timestamp(START + 2 * CHALLENGE_WINDOW);
    set_contract_address(OTHER());
    suite.escrow().claim_timeout(job_id);
}

// A revealed result is never timed out: its worker finalizes it whenever it likes.
#[test]
#[should_panic(expected: ('job not assigned', 'ENTRYPOINT_FAILED'))]
fn test_claim_timeout_of_a_revealed_result() {
    let suite = setup();
    let job_id = submitted_job(suite);
    reveal(suite, job_id, WORKER());
    set_block_timestamp(START + 2 * CHALLENGE_WINDOW + 1);
    set_contract_address(OTHER());
    suite.escrow().claim_timeout(job_id);
}

// ---------------------------------------------------------------------------------------------
// accept
// ---------------------------------------------------------------------------------------------

#[test]
fn test_accept_pays_worker_and_fee() {
    let suite = setup();
    let job_id = submitted_job(suite);
    drop_events(suite.escrow);
    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);

    let fee = REWARD * 250 / 10_000;
    let payout = REWARD - fee;
    assert_eq!(fee, ONE);
    let mut expected = submitted_record();
    expected.state = JobState::Completed;
    assert_eq!(suite.escrow_view().job(job_id), expected);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + payout);
    assert_eq!(balance(suite, TREASURY()), fee);
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD);
    assert_eq!(balance(suite, suite.staking), STAKE);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(suite.staking_view().collateral_of(WORKER(), job_id), 0);
    assert_eq!(
        suite.reputation_view().reputation_of(WORKER()), record(1, 0, 0, 0, payout, 0, START),
    );
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobCompleted(
                JobEscrow::JobCompleted {
                    job_id, client: CLIENT(), worker: WORKER(), payout, fee,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<JobEscrow::Event>(suite.escrow), Option::None);
}

// The owner could set a fee of 100 %, taking every reward. The fee is now capped at 10 %.
#[test]
fn test_accept_at_the_fee_cap_still_pays_the_worker() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_fee_bps(MAX_FEE_BPS);
    let job_id = submitted_job(suite);
    drop_events(suite.escrow);
    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);
    let fee = REWARD / 10;
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + REWARD - fee);
    assert_eq!(balance(suite, TREASURY()), fee);
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobCompleted(
                JobEscrow::JobCompleted {
                    job_id, client: CLIENT(), worker: WORKER(), payout: REWARD - fee, fee,
                },
            ),
        ),
    );
}

// The fee, the timeout slash and the dispute bond used to be read when a job settled, so the
// owner could raise them on jobs already agreed. Each job now keeps the terms it was
// created with.
#[test]
fn test_owner_changes_do_not_touch_a_job_in_flight() {
    let suite = setup();
    let accepted = submitted_job(suite);
    // Enough free stake for three jobs' collateral at once.
    set_contract_address(WORKER());
    suite.erc20().approve(suite.staking, STAKE);
    suite.staking_worker().increase_stake(STAKE);
    set_contract_address(CLIENT());
    let timed_out = create_job(suite);
    assign(suite, timed_out, WORKER());
    let disputed = create_job(suite);
    assign(suite, disputed, WORKER());
    set_contract_address(WORKER());
    suite.escrow().submit_result(disputed, commitment(WORKER()));
    set_contract_address(OWNER());
    suite.escrow_config().set_fee_bps(MAX_FEE_BPS);
    suite.escrow_config().set_timeout_slash_bps(10_000);
    suite.escrow_config().set_dispute_bond(1_000 * ONE);

    // Accepted at the old fee.
    set_contract_address(CLIENT());
    suite.escrow().accept(accepted);
    let fee = REWARD * FEE_BPS.into() / 10_000;
    assert_eq!(balance(suite, TREASURY()), fee);
    // Disputed for the old bond: the client approved only that much.
    let client_before = balance(suite, CLIENT());
    dispute(suite, disputed);
    assert_eq!(balance(suite, CLIENT()), client_before - DISPUTE_BOND);
    // A job created now gets the new terms.
    let next = create_job(suite);
    let job = suite.escrow_view().job(next);
    assert_eq!(job.fee_bps, MAX_FEE_BPS);
    assert_eq!(job.timeout_slash_bps, 10_000);
    assert_eq!(job.dispute_bond, 1_000 * ONE);
    // Timed out at the old share.
    set_block_timestamp(DEADLINE + 1);
    suite.escrow().claim_timeout(timed_out);
    let slash = COLLATERAL * TIMEOUT_SLASH_BPS.into() / 10_000;
    assert_eq!(balance(suite, TREASURY()), fee + slash);
}

#[test]
fn test_accept_while_paused() {
    let suite = setup();
    let job_id = submitted_job(suite);
    pause_escrow(suite);
    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);
    let fee = REWARD * 250 / 10_000;
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Completed);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + REWARD - fee);
    assert_eq!(balance(suite, TREASURY()), fee);
}

#[test]
#[should_panic(expected: ('caller is not the client', 'ENTRYPOINT_FAILED'))]
fn test_accept_not_client() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(WORKER());
    suite.escrow().accept(job_id);
}

#[test]
#[should_panic(expected: ('job not submitted', 'ENTRYPOINT_FAILED'))]
fn test_accept_not_submitted() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);
}

#[test]
#[should_panic(expected: ('unknown job', 'ENTRYPOINT_FAILED'))]
fn test_accept_unknown_job() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.escrow().accept(1);
}

#[test]
#[should_panic(expected: ('job not submitted', 'ENTRYPOINT_FAILED'))]
fn test_accept_twice() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);
    // The first settlement emptied the escrow and paid exactly once.
    let fee = REWARD * 250 / 10_000;
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + REWARD - fee);
    assert_eq!(balance(suite, TREASURY()), fee);
    suite.escrow().accept(job_id);
}

// ---------------------------------------------------------------------------------------------
// finalize
// ---------------------------------------------------------------------------------------------

#[test]
fn test_finalize_by_anyone_after_window() {
    let suite = setup();
    let job_id = submitted_job(suite);
    let now = START + CHALLENGE_WINDOW + 1;
    set_block_timestamp(now);
    reveal(suite, job_id, WORKER());
    drop_events(suite.escrow);
    set_contract_address(OTHER());
    suite.escrow().finalize(job_id);

    let fee = REWARD * 250 / 10_000;
    let payout = REWARD - fee;
    let mut expected = submitted_record();
    expected.result_hash = RESULT;
    expected.state = JobState::Completed;
    assert_eq!(suite.escrow_view().job(job_id), expected);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + payout);
    assert_eq!(balance(suite, TREASURY()), fee);
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(balance(suite, OTHER()), 0);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
    assert_eq!(
        suite.reputation_view().reputation_of(WORKER()), record(1, 0, 0, 0, payout, 0, now),
    );
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobCompleted(
                JobEscrow::JobCompleted {
                    job_id, client: CLIENT(), worker: WORKER(), payout, fee,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<JobEscrow::Event>(suite.escrow), Option::None);
}

#[test]
#[should_panic(expected: ('challenge window open', 'ENTRYPOINT_FAILED'))]
fn test_finalize_window_open() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_block_timestamp(START + CHALLENGE_WINDOW);
    set_contract_address(OTHER());
    suite.escrow().finalize(job_id);
}

#[test]
#[should_panic(expected: ('job not submitted', 'ENTRYPOINT_FAILED'))]
fn test_finalize_not_submitted() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_block_timestamp(START + CHALLENGE_WINDOW + 1);
    set_contract_address(OTHER());
    suite.escrow().finalize(job_id);
}

#[test]
#[should_panic(expected: ('job not submitted', 'ENTRYPOINT_FAILED'))]
fn test_finalize_after_accept() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);
    set_block_timestamp(START + CHALLENGE_WINDOW + 1);
    set_contract_address(OTHER());
    suite.escrow().finalize(job_id);
}

#[test]
#[should_panic(expected: ('unknown job', 'ENTRYPOINT_FAILED'))]
fn test_finalize_unknown_job() {
    let suite = setup();
    set_contract_address(OTHER());
    suite.escrow().finalize(3);
}

// ---------------------------------------------------------------------------------------------
// cancel
// ---------------------------------------------------------------------------------------------

#[test]
fn test_cancel_refunds_and_emits() {
    let suite = setup();
    let job_id = create_job(suite);
    drop_events(suite.escrow);
    set_contract_address(CLIENT());
    suite.escrow().cancel(job_id);
    let mut expected = open_job();
    expected.state = JobState::Cancelled;
    assert_eq!(suite.escrow_view().job(job_id), expected);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(balance(suite, TREASURY()), 0);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobCancelled(
                JobEscrow::JobCancelled {
                    job_id, client: CLIENT(), worker: ZERO(), refund: REWARD,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<JobEscrow::Event>(suite.escrow), Option::None);
}

#[test]
#[should_panic(expected: ('caller is not the client', 'ENTRYPOINT_FAILED'))]
fn test_cancel_not_client() {
    let suite = setup();
    let job_id = create_job(suite);
    set_contract_address(OTHER());
    suite.escrow().cancel(job_id);
}

#[test]
#[should_panic(expected: ('job not open', 'ENTRYPOINT_FAILED'))]
fn test_cancel_not_open() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().cancel(job_id);
}

#[test]
#[should_panic(expected: ('job not open', 'ENTRYPOINT_FAILED'))]
fn test_cancel_twice() {
    let suite = setup();
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().cancel(job_id);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    suite.escrow().cancel(job_id);
}

#[test]
#[should_panic(expected: ('unknown job', 'ENTRYPOINT_FAILED'))]
fn test_cancel_unknown_job() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.escrow().cancel(1);
}

// ---------------------------------------------------------------------------------------------
// claim_timeout
// ---------------------------------------------------------------------------------------------

// A timeout's slash goes to the treasury, never to the client: a client that withholds a
// job's inputs to make the worker miss its deadline gains nothing but its own refund.
#[test]
fn test_claim_timeout_refunds_and_slashes() {
    let suite = setup();
    let job_id = assigned_job(suite);
    drop_events(suite.escrow);
    let now = DEADLINE + 1;
    set_block_timestamp(now);
    set_contract_address(OTHER());
    suite.escrow().claim_timeout(job_id);

    let slashed = COLLATERAL * 5_000 / 10_000;
    assert_eq!(slashed, 30 * ONE);
    let mut expected = assigned_record();
    expected.state = JobState::Refunded;
    assert_eq!(suite.escrow_view().job(job_id), expected);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(balance(suite, OTHER()), 0);
    assert_eq!(balance(suite, TREASURY()), slashed);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE);
    assert_eq!(balance(suite, suite.staking), STAKE - slashed);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE - slashed);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(suite.staking_view().collateral_of(WORKER(), job_id), 0);
    assert_eq!(
        suite.reputation_view().reputation_of(WORKER()), record(0, 1, 0, 0, 0, slashed, now),
    );
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobTimedOut(
                JobEscrow::JobTimedOut {
                    job_id, client: CLIENT(), worker: WORKER(), refund: REWARD, slashed,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<JobEscrow::Event>(suite.escrow), Option::None);
}

#[test]
fn test_claim_timeout_zero_collateral() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job_with_collateral(suite, 0);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    set_block_timestamp(DEADLINE + 1);
    suite.escrow().claim_timeout(job_id);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Refunded);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
    assert_eq!(
        suite.reputation_view().reputation_of(WORKER()), record(0, 1, 0, 0, 0, 0, DEADLINE + 1),
    );
}

#[test]
#[should_panic(expected: ('deadline not passed', 'ENTRYPOINT_FAILED'))]
fn test_claim_timeout_deadline_not_passed() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_block_timestamp(DEADLINE);
    set_contract_address(OTHER());
    suite.escrow().claim_timeout(job_id);
}

#[test]
#[should_panic(expected: ('job not assigned', 'ENTRYPOINT_FAILED'))]
fn test_claim_timeout_open_job() {
    let suite = setup();
    let job_id = create_job(suite);
    set_block_timestamp(DEADLINE + 1);
    set_contract_address(CLIENT());
    suite.escrow().claim_timeout(job_id);
}

#[test]
#[should_panic(expected: ('job not assigned', 'ENTRYPOINT_FAILED'))]
fn test_claim_timeout_twice() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_block_timestamp(DEADLINE + 1);
    set_contract_address(CLIENT());
    suite.escrow().claim_timeout(job_id);
    let slashed = COLLATERAL * 5_000 / 10_000;
    assert_eq!(balance(suite, TREASURY()), slashed);
    suite.escrow().claim_timeout(job_id);
}

#[test]
#[should_panic(expected: ('unknown job', 'ENTRYPOINT_FAILED'))]
fn test_claim_timeout_unknown_job() {
    let suite = setup();
    set_block_timestamp(DEADLINE + 1);
    set_contract_address(CLIENT());
    suite.escrow().claim_timeout(1);
}

// ---------------------------------------------------------------------------------------------
// dispute
// ---------------------------------------------------------------------------------------------

#[test]
fn test_dispute_opens_dispute_and_emits() {
    let suite = setup();
    let job_id = submitted_job(suite);
    drop_events(suite.escrow);
    let now = START + CHALLENGE_WINDOW;
    set_block_timestamp(now);
    let dispute_id = dispute(suite, job_id);
    assert_eq!(dispute_id, 1);
    let mut expected = submitted_record();
    expected.state = JobState::Disputed;
    expected.dispute_id = 1;
    assert_eq!(suite.escrow_view().job(job_id), expected);
    assert_eq!(suite.disputes_view().dispute_count(), 1);
    assert_eq!(
        suite.disputes_view().dispute(dispute_id),
        Dispute {
            job_id,
            client: CLIENT(),
            worker: WORKER(),
            collateral: COLLATERAL,
            bond: DISPUTE_BOND,
            evidence_hash: EVIDENCE,
            opened_at: now,
            voting_ends_at: now + VOTING_PERIOD,
            quorum: QUORUM,
            votes_worker: 0,
            votes_client: 0,
            status: DisputeStatus::Open,
            ruling: Ruling::WorkerRight,
        },
    );
    // Funds stay where they are until the ruling; the escrow holds the bond too.
    assert_eq!(balance(suite, suite.escrow), REWARD + DISPUTE_BOND);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD - DISPUTE_BOND);
    assert_eq!(suite.staking_view().locked_of(WORKER()), COLLATERAL);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobDisputed(
                JobEscrow::JobDisputed {
                    job_id,
                    client: CLIENT(),
                    worker: WORKER(),
                    dispute_id,
                    evidence_hash: EVIDENCE,
                    bond: DISPUTE_BOND,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<JobEscrow::Event>(suite.escrow), Option::None);
}

#[test]
#[should_panic(expected: ('caller is not the client', 'ENTRYPOINT_FAILED'))]
fn test_dispute_not_client() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(OTHER());
    suite.escrow().dispute(job_id, EVIDENCE);
}

#[test]
#[should_panic(expected: ('job not submitted', 'ENTRYPOINT_FAILED'))]
fn test_dispute_not_submitted() {
    let suite = setup();
    let job_id = assigned_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().dispute(job_id, EVIDENCE);
}

#[test]
#[should_panic(expected: ('challenge window closed', 'ENTRYPOINT_FAILED'))]
fn test_dispute_window_closed() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_block_timestamp(START + CHALLENGE_WINDOW + 1);
    set_contract_address(CLIENT());
    suite.escrow().dispute(job_id, EVIDENCE);
}

#[test]
#[should_panic(expected: ('evidence hash is zero', 'ENTRYPOINT_FAILED'))]
fn test_dispute_zero_evidence() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().dispute(job_id, 0);
}

#[test]
#[should_panic(expected: ('unknown job', 'ENTRYPOINT_FAILED'))]
fn test_dispute_unknown_job() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.escrow().dispute(1, EVIDENCE);
}

#[test]
fn test_dispute_with_no_bond_set_pulls_nothing() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_dispute_bond(0);
    let job_id = submitted_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().dispute(job_id, EVIDENCE);
    assert_eq!(balance(suite, suite.escrow), REWARD);
    assert_eq!(suite.disputes_view().dispute(1).bond, 0);
}

#[test]
#[should_panic(expected: ('disputes not set', 'ENTRYPOINT_FAILED'))]
fn test_dispute_disputes_not_set() {
    let suite = setup();
    // A different deployer gives the second escrow its own address.
    set_contract_address(OTHER());
    let escrow2 = deploy_escrow(suite.token, suite.staking, suite.reputation);
    assert_eq!(IEscrowViewDispatcher { contract_address: escrow2 }.disputes(), ZERO());
    set_contract_address(OWNER());
    admin(suite.staking).grant_role(roles::ESCROW, escrow2);
    stake_worker(suite, WORKER(), STAKE);
    let escrow = IJobEscrowDispatcher { contract_address: escrow2 };
    set_contract_address(CLIENT());
    suite.erc20().approve(escrow2, REWARD);
    let job_id = escrow.create_job(SPEC, REWARD, WASM, DEADLINE, CHALLENGE_WINDOW, COLLATERAL);
    assign_at(escrow2, job_id, WORKER());
    set_contract_address(WORKER());
    escrow.submit_result(job_id, commitment(WORKER()));
    set_contract_address(CLIENT());
    escrow.dispute(job_id, EVIDENCE);
}

// ---------------------------------------------------------------------------------------------
// settle_dispute
// ---------------------------------------------------------------------------------------------

#[test]
fn test_settle_dispute_worker_right_pays_worker() {
    let suite = setup();
    let (job_id, _) = disputed_job(suite);
    drop_events(suite.escrow);
    set_contract_address(suite.disputes);
    let payout = suite.escrow_settlement().settle_dispute(job_id, true);
    let fee = REWARD * 250 / 10_000;
    assert_eq!(payout, REWARD - fee);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Completed);
    // The worker gets the reward and the client's bond.
    assert_eq!(
        balance(suite, WORKER()), INITIAL_BALANCE - STAKE + REWARD - fee + DISPUTE_BOND,
    );
    assert_eq!(balance(suite, TREASURY()), fee);
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    // Reputation is the disputes contract's job, not the escrow's.
    assert_eq!(suite.reputation_view().reputation_of(WORKER()), record(0, 0, 0, 0, 0, 0, 0));
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobCompleted(
                JobEscrow::JobCompleted {
                    job_id, client: CLIENT(), worker: WORKER(), payout: REWARD - fee, fee,
                },
            ),
        ),
    );
}

#[test]
fn test_settle_dispute_client_right_refunds_client() {
    let suite = setup();
    let (job_id, _) = disputed_job(suite);
    drop_events(suite.escrow);
    set_contract_address(suite.disputes);
    let payout = suite.escrow_settlement().settle_dispute(job_id, false);
    assert_eq!(payout, 0);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Refunded);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(balance(suite, TREASURY()), 0);
    // The escrow only releases the collateral; slashing is the disputes contract's.
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::JobRefunded(
                JobEscrow::JobRefunded {
                    job_id, client: CLIENT(), worker: WORKER(), refund: REWARD,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<JobEscrow::Event>(suite.escrow), Option::None);
}

#[test]
#[should_panic(expected: ('caller is not disputes', 'ENTRYPOINT_FAILED'))]
fn test_settle_dispute_not_disputes() {
    let suite = setup();
    let (job_id, _) = disputed_job(suite);
    set_contract_address(CLIENT());
    suite.escrow_settlement().settle_dispute(job_id, false);
}

#[test]
#[should_panic(expected: ('job not disputed', 'ENTRYPOINT_FAILED'))]
fn test_settle_dispute_not_disputed() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(suite.disputes);
    suite.escrow_settlement().settle_dispute(job_id, true);
}

#[test]
#[should_panic(expected: ('unknown job', 'ENTRYPOINT_FAILED'))]
fn test_settle_dispute_unknown_job() {
    let suite = setup();
    set_contract_address(suite.disputes);
    suite.escrow_settlement().settle_dispute(1, true);
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn test_set_fee_bps_updates_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_fee_bps(MAX_FEE_BPS);
    assert_eq!(suite.escrow_view().fee_bps(), MAX_FEE_BPS);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::FeeUpdated(
                JobEscrow::FeeUpdated { old_fee_bps: 250, new_fee_bps: MAX_FEE_BPS },
            ),
        ),
    );
}

#[test]
fn test_set_dispute_bond_updates_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_dispute_bond(7 * ONE);
    assert_eq!(suite.escrow_view().dispute_bond(), 7 * ONE);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::DisputeBondUpdated(
                JobEscrow::DisputeBondUpdated { old_bond: DISPUTE_BOND, new_bond: 7 * ONE },
            ),
        ),
    );
}

#[test]
#[should_panic(expected: ('caller is not operator', 'ENTRYPOINT_FAILED'))]
fn test_set_dispute_bond_unauthorized() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.escrow_config().set_dispute_bond(0);
}

#[test]
#[should_panic(expected: ('caller is not operator', 'ENTRYPOINT_FAILED'))]
fn test_set_fee_bps_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    suite.escrow_config().set_fee_bps(100);
}

#[test]
#[should_panic(expected: ('fee above cap', 'ENTRYPOINT_FAILED'))]
fn test_set_fee_bps_above_the_cap() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_fee_bps(MAX_FEE_BPS + 1);
}

#[test]
fn test_set_timeout_slash_bps_updates_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_timeout_slash_bps(2_500);
    assert_eq!(suite.escrow_view().timeout_slash_bps(), 2_500);
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::TimeoutSlashUpdated(
                JobEscrow::TimeoutSlashUpdated { old_bps: 5_000, new_bps: 2_500 },
            ),
        ),
    );
    // The new share applies to the next timeout: 25% of COLLATERAL.
    let job_id = assigned_job(suite);
    set_block_timestamp(DEADLINE + 1);
    suite.escrow().claim_timeout(job_id);
    assert_eq!(balance(suite, TREASURY()), COLLATERAL * 2_500 / 10_000);
}

#[test]
#[should_panic(expected: ('caller is not operator', 'ENTRYPOINT_FAILED'))]
fn test_set_timeout_slash_bps_unauthorized() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.escrow_config().set_timeout_slash_bps(1);
}

#[test]
#[should_panic(expected: ('bps above 10000', 'ENTRYPOINT_FAILED'))]
fn test_set_timeout_slash_bps_too_high() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_timeout_slash_bps(10_001);
}

#[test]
fn test_set_treasury_updates_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_treasury(OTHER());
    assert_eq!(suite.escrow_view().treasury(), OTHER());
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::TreasuryUpdated(
                JobEscrow::TreasuryUpdated { old_treasury: TREASURY(), new_treasury: OTHER() },
            ),
        ),
    );
    // The next fee goes to the new treasury.
    let job_id = submitted_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);
    assert_eq!(balance(suite, OTHER()), REWARD * 250 / 10_000);
    assert_eq!(balance(suite, TREASURY()), 0);
}

#[test]
#[should_panic(expected: ('caller is not owner', 'ENTRYPOINT_FAILED'))]
fn test_set_treasury_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    suite.escrow_config().set_treasury(OTHER());
}

#[test]
#[should_panic(expected: ('address is zero', 'ENTRYPOINT_FAILED'))]
fn test_set_treasury_zero() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_treasury(ZERO());
}

#[test]
fn test_set_disputes_updates_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_disputes(OTHER());
    assert_eq!(suite.escrow_view().disputes(), OTHER());
    assert_eq!(
        pop_log::<JobEscrow::Event>(suite.escrow),
        Option::Some(
            JobEscrow::Event::DisputesUpdated(
                JobEscrow::DisputesUpdated { old_disputes: suite.disputes, new_disputes: OTHER() },
            ),
        ),
    );
}

#[test]
#[should_panic(expected: ('caller is not owner', 'ENTRYPOINT_FAILED'))]
fn test_set_disputes_unauthorized() {
    let suite = setup();
    set_contract_address(CLIENT());
    suite.escrow_config().set_disputes(OTHER());
}

#[test]
#[should_panic(expected: ('address is zero', 'ENTRYPOINT_FAILED'))]
fn test_set_disputes_zero() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.escrow_config().set_disputes(ZERO());
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

#[test]
fn test_views_after_setup() {
    let suite = setup();
    let view = suite.escrow_view();
    assert_eq!(view.job_count(), 0);
    assert_eq!(view.fee_bps(), 250);
    assert_eq!(view.timeout_slash_bps(), 5_000);
    assert_eq!(view.treasury(), TREASURY());
    assert_eq!(view.token(), suite.token);
    assert_eq!(view.staking(), suite.staking);
    assert_eq!(view.reputation(), suite.reputation);
    assert_eq!(view.disputes(), suite.disputes);
    assert_eq!(admin(suite.escrow).owner(), OWNER());
}
