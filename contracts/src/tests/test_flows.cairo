//! Multi-contract flows, each followed through to the last balance of every party:
//! client, worker, treasury, the escrow and the staking contract.

use starknet::testing::{set_block_timestamp, set_contract_address};
use crate::admin::interface::IAdminDispatcherTrait;
use crate::disputes::interface::{IDisputesDispatcherTrait, IDisputesViewDispatcherTrait};
use crate::escrow::interface::{
    IEscrowViewDispatcherTrait, IJobEscrowDispatcherTrait, IJobEscrowSafeDispatcher,
    IJobEscrowSafeDispatcherTrait,
};
use crate::reputation::interface::IReputationViewDispatcherTrait;
use crate::staking::interface::{IStakingViewDispatcherTrait, IStakingWorkerDispatcherTrait};
use crate::token::interface::IERC20DispatcherTrait;
use crate::types::{DisputeStatus, JobState, ReputationRecord, Ruling};
use super::utils::{commitment, reveal, SALT, WORKER2, assign, 
    ARB1, ARB2, CHALLENGE_WINDOW, CLIENT, COLLATERAL, DEADLINE, DISPUTE_BOND,
    FEE_BPS, INITIAL_BALANCE, OTHER, OWNER, RESULT, REWARD, SPEC, STAKE, START, Suite,
    SuiteTrait, TIMEOUT_SLASH_BPS, TREASURY, UNSTAKE_WINDOW, VOTING_PERIOD, WASM, WORKER, admin,
    balance, create_job, dispute, setup, stake_worker,
};

/// Token balances of every party at one moment.
#[derive(Copy, Drop, PartialEq, Debug)]
struct Balances {
    client: u256,
    worker: u256,
    treasury: u256,
    escrow: u256,
    staking: u256,
}

fn balances(suite: Suite) -> Balances {
    Balances {
        client: balance(suite, CLIENT()),
        worker: balance(suite, WORKER()),
        treasury: balance(suite, TREASURY()),
        escrow: balance(suite, suite.escrow),
        staking: balance(suite, suite.staking),
    }
}

fn bps(amount: u256, bps: u16) -> u256 {
    amount * bps.into() / 10_000
}

#[test]
fn test_flow_happy_path_to_payment() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    assert_eq!(
        balances(suite),
        Balances {
            client: INITIAL_BALANCE,
            worker: INITIAL_BALANCE - STAKE,
            treasury: 0,
            escrow: 0,
            staking: STAKE,
        },
    );

    let job_id = create_job(suite);
    assert_eq!(balances(suite).client, INITIAL_BALANCE - REWARD);
    assert_eq!(balances(suite).escrow, REWARD);

    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    assert_eq!(suite.staking_view().locked_of(WORKER()), COLLATERAL);

    set_block_timestamp(START + 100);
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));

    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);

    let fee = bps(REWARD, FEE_BPS);
    assert_eq!(fee, 1_000_000_000_000_000_000); // 2.5% of 40 CIRO
    assert_eq!(
        balances(suite),
        Balances {
            client: INITIAL_BALANCE - REWARD,
            worker: INITIAL_BALANCE - STAKE + REWARD - fee,
            treasury: fee,
            escrow: 0,
            staking: STAKE,
        },
    );
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Completed);
    assert_eq!(
        suite.reputation_view().reputation_of(WORKER()),
        ReputationRecord {
            jobs_completed: 1,
            jobs_failed: 0,
            disputes_won: 0,
            disputes_lost: 0,
            total_earned: REWARD - fee,
            total_slashed: 0,
            last_active: START + 100,
        },
    );
}

#[test]
fn test_flow_finalize_after_silent_client() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));

    set_block_timestamp(START + CHALLENGE_WINDOW + 1);
    reveal(suite, job_id, WORKER());
    set_contract_address(OTHER());
    suite.escrow().finalize(job_id);

    let fee = bps(REWARD, FEE_BPS);
    assert_eq!(
        balances(suite),
        Balances {
            client: INITIAL_BALANCE - REWARD,
            worker: INITIAL_BALANCE - STAKE + REWARD - fee,
            treasury: fee,
            escrow: 0,
            staking: STAKE,
        },
    );
}

#[test]
fn test_flow_timeout_refund_and_slash() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());

    set_block_timestamp(DEADLINE + 1);
    set_contract_address(CLIENT());
    suite.escrow().claim_timeout(job_id);

    let slashed = bps(COLLATERAL, TIMEOUT_SLASH_BPS);
    assert_eq!(slashed, 30_000_000_000_000_000_000); // 50% of 60 CIRO
    // The client gets its reward back, and not a share of the slash.
    assert_eq!(
        balances(suite),
        Balances {
            client: INITIAL_BALANCE,
            worker: INITIAL_BALANCE - STAKE,
            treasury: slashed,
            escrow: 0,
            staking: STAKE - slashed,
        },
    );
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE - slashed);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Refunded);
    let record = suite.reputation_view().reputation_of(WORKER());
    assert_eq!(record.jobs_failed, 1);
    assert_eq!(record.total_slashed, slashed);
}

#[test]
fn test_flow_dispute_worker_wins() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    let dispute_id = dispute(suite, job_id);

    set_contract_address(ARB1());
    suite.disputes().vote(dispute_id, Ruling::WorkerRight);
    assert_eq!(suite.disputes_view().dispute(dispute_id).status, DisputeStatus::Open);
    set_contract_address(ARB2());
    suite.disputes().vote(dispute_id, Ruling::WorkerRight);

    // The client disputed a right result: its bond went to the worker.
    let fee = bps(REWARD, FEE_BPS);
    assert_eq!(
        balances(suite),
        Balances {
            client: INITIAL_BALANCE - REWARD - DISPUTE_BOND,
            worker: INITIAL_BALANCE - STAKE + REWARD - fee + DISPUTE_BOND,
            treasury: fee,
            escrow: 0,
            staking: STAKE,
        },
    );
    let dispute = suite.disputes_view().dispute(dispute_id);
    assert_eq!(dispute.status, DisputeStatus::Resolved);
    assert_eq!(dispute.ruling, Ruling::WorkerRight);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Completed);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    let record = suite.reputation_view().reputation_of(WORKER());
    assert_eq!(record.disputes_won, 1);
    assert_eq!(record.jobs_completed, 1);
    assert_eq!(record.total_earned, REWARD - fee);
}

// A lost dispute used to pay the client 70 % of the worker's slashed collateral, so a
// client profited from provoking one. The slash now goes to the treasury alone, and the
// client ends exactly where it started.
#[test]
fn test_flow_dispute_worker_loses_slash_to_treasury() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    let dispute_id = dispute(suite, job_id);

    set_contract_address(ARB1());
    suite.disputes().vote(dispute_id, Ruling::ClientRight);
    set_contract_address(ARB2());
    suite.disputes().vote(dispute_id, Ruling::ClientRight);

    assert_eq!(
        balances(suite),
        Balances {
            client: INITIAL_BALANCE,
            worker: INITIAL_BALANCE - STAKE,
            treasury: COLLATERAL,
            escrow: 0,
            staking: STAKE - COLLATERAL,
        },
    );
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE - COLLATERAL);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Refunded);
    let record = suite.reputation_view().reputation_of(WORKER());
    assert_eq!(record.disputes_lost, 1);
    assert_eq!(record.jobs_failed, 1);
    assert_eq!(record.total_slashed, COLLATERAL);
}

// The silent default used to favour the client: one vote for the worker, below the quorum,
// was overridden at the end of the voting period and the worker slashed. Now the votes cast
// decide, and with no majority against it the worker is paid.
#[test]
fn test_flow_dispute_timeout_follows_the_votes_cast() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    let dispute_id = dispute(suite, job_id);
    // One vote is below the quorum of two.
    set_contract_address(ARB1());
    suite.disputes().vote(dispute_id, Ruling::WorkerRight);

    set_block_timestamp(START + VOTING_PERIOD + 1);
    set_contract_address(OTHER());
    suite.disputes().resolve_timeout(dispute_id);

    // The client disputed a right result: its bond went to the worker.
    let fee = bps(REWARD, FEE_BPS);
    assert_eq!(
        balances(suite),
        Balances {
            client: INITIAL_BALANCE - REWARD - DISPUTE_BOND,
            worker: INITIAL_BALANCE - STAKE + REWARD - fee + DISPUTE_BOND,
            treasury: fee,
            escrow: 0,
            staking: STAKE,
        },
    );
    assert_eq!(suite.disputes_view().dispute(dispute_id).ruling, Ruling::WorkerRight);
}

// A client that disputes an honest result and starves the arbitrators of its inputs gets
// no votes, and no votes pay the worker that opened its commitment.
#[test]
fn test_flow_dispute_without_votes_pays_the_worker() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    let dispute_id = dispute(suite, job_id);
    reveal(suite, job_id, WORKER());

    set_block_timestamp(START + VOTING_PERIOD + 1);
    suite.disputes().resolve_timeout(dispute_id);

    let fee = bps(REWARD, FEE_BPS);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD - DISPUTE_BOND);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + REWARD - fee + DISPUTE_BOND);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
    assert_eq!(suite.disputes_view().dispute(dispute_id).ruling, Ruling::WorkerRight);
}

#[test]
fn test_flow_unstaking_blocked_while_collateral_locked() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    assert_eq!(suite.staking_view().free_stake_of(WORKER()), STAKE - COLLATERAL);

    // Everything above the locked collateral may leave, nothing more.
    set_contract_address(WORKER());
    suite.staking_worker().unstake_intent(STAKE - COLLATERAL);
    assert_eq!(suite.staking_view().free_stake_of(WORKER()), 0);

    // Once the job settles the collateral is free again and can exit too.
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);
    assert_eq!(suite.staking_view().free_stake_of(WORKER()), COLLATERAL);
    set_contract_address(WORKER());
    suite.staking_worker().unstake_intent(COLLATERAL);

    set_block_timestamp(START + UNSTAKE_WINDOW);
    let paid = suite.staking_worker().unstake_action();
    assert_eq!(paid, STAKE);
    let fee = bps(REWARD, FEE_BPS);
    assert_eq!(
        balances(suite),
        Balances {
            client: INITIAL_BALANCE - REWARD,
            worker: INITIAL_BALANCE + REWARD - fee,
            treasury: fee,
            escrow: 0,
            staking: 0,
        },
    );
}

#[test]
#[should_panic(expected: ('insufficient free stake', 'ENTRYPOINT_FAILED'))]
fn test_flow_unstake_intent_over_locked_collateral_fails() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    set_contract_address(WORKER());
    suite.staking_worker().unstake_intent(STAKE - COLLATERAL + 1);
}

#[test]
fn test_flow_pause_stops_new_work_but_settlements_go_through() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    let job_id = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, job_id, WORKER());
    set_contract_address(WORKER());
    suite.staking_worker().unstake_intent(10);

    set_contract_address(OWNER());
    admin(suite.escrow).pause();
    admin(suite.staking).pause();
    admin(suite.token).pause();
    admin(suite.disputes).pause();
    admin(suite.reputation).pause();

    // Settlement and exits still go through.
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    set_contract_address(CLIENT());
    suite.escrow().accept(job_id);
    set_block_timestamp(START + UNSTAKE_WINDOW);
    set_contract_address(WORKER());
    assert_eq!(suite.staking_worker().unstake_action(), 10);

    let fee = bps(REWARD, FEE_BPS);
    assert_eq!(
        balances(suite),
        Balances {
            client: INITIAL_BALANCE - REWARD,
            worker: INITIAL_BALANCE - STAKE + REWARD - fee + 10,
            treasury: fee,
            escrow: 0,
            staking: STAKE - 10,
        },
    );
}

#[test]
#[should_panic(expected: ('contract is paused', 'ENTRYPOINT_FAILED'))]
fn test_flow_pause_stops_new_jobs() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.escrow).pause();
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    suite.escrow().create_job(SPEC, REWARD, WASM, DEADLINE, CHALLENGE_WINDOW, COLLATERAL);
}

#[test]
#[should_panic(expected: ('contract is paused', 'ENTRYPOINT_FAILED'))]
fn test_flow_pause_stops_new_stakes() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.staking).pause();
    stake_worker(suite, WORKER(), STAKE);
}

#[test]
fn test_flow_unpause_resumes_new_jobs() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.escrow).pause();
    admin(suite.escrow).unpause();
    let job_id = create_job(suite);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Open);
    assert_eq!(balances(suite).escrow, REWARD);
}

// A lazy worker copies an honest worker's commitment from the chain instead of running the
// job. The commitment names the honest worker, so the copier can never open it: it cannot
// finalize, a dispute with no votes refunds the client, and a silent client gets its reward
// back by timeout with the copier slashed.
#[test]
#[feature("safe_dispatcher")]
fn test_flow_a_copied_commitment_never_pays_the_copier() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    stake_worker(suite, WORKER2(), STAKE);
    let honest = create_job(suite);
    let lazy = create_job(suite);
    set_contract_address(CLIENT());
    assign(suite, honest, WORKER());
    assign(suite, lazy, WORKER2());
    set_contract_address(WORKER());
    suite.escrow().submit_result(honest, commitment(WORKER()));
    let seen = suite.escrow_view().job(honest).commitment;
    set_contract_address(WORKER2());
    suite.escrow().submit_result(lazy, seen);

    // Even after the honest worker reveals, the copier holds no opening of its commitment.
    set_block_timestamp(START + CHALLENGE_WINDOW + 1);
    reveal(suite, honest, WORKER());
    set_contract_address(WORKER2());
    let escrow = IJobEscrowSafeDispatcher { contract_address: suite.escrow };
    assert_eq!(
        escrow.reveal(lazy, RESULT, SALT).unwrap_err(), array!['reveal does not match', 'ENTRYPOINT_FAILED'],
    );
    assert_eq!(escrow.finalize(lazy).unwrap_err(), array!['result not revealed', 'ENTRYPOINT_FAILED']);

    // After a second window the client takes its reward back and the copier is slashed.
    set_block_timestamp(START + 2 * CHALLENGE_WINDOW + 1);
    set_contract_address(OTHER());
    suite.escrow().claim_timeout(lazy);
    suite.escrow().finalize(honest);
    let slashed = bps(COLLATERAL, TIMEOUT_SLASH_BPS);
    let fee = bps(REWARD, FEE_BPS);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD);
    assert_eq!(balance(suite, WORKER2()), INITIAL_BALANCE - STAKE);
    assert_eq!(suite.staking_view().stake_of(WORKER2()), STAKE - slashed);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + REWARD - fee);
    assert_eq!(suite.escrow_view().job(lazy).state, JobState::Refunded);
}
