use starknet::syscalls::{call_contract_syscall, deploy_syscall};
use starknet::testing::{pop_log, set_block_timestamp, set_contract_address};
use starknet::{ClassHash, ContractAddress};
use crate::admin::interface::IAdminDispatcherTrait;
use crate::disputes::disputes::Disputes;
use crate::disputes::interface::{
    IDisputesConfigDispatcher, IDisputesConfigDispatcherTrait, IDisputesDispatcher,
    IDisputesDispatcherTrait, IDisputesEscrowDispatcher, IDisputesEscrowDispatcherTrait,
    IDisputesViewDispatcher, IDisputesViewDispatcherTrait, MAX_VOTING_PERIOD,
};
use crate::escrow::interface::IEscrowConfigDispatcherTrait;
use crate::escrow::escrow::JobEscrow;
use crate::escrow::interface::{IEscrowViewDispatcherTrait, IJobEscrowDispatcherTrait};
use crate::reputation::interface::IReputationViewDispatcherTrait;
use crate::staking::interface::IStakingViewDispatcherTrait;
use crate::token::interface::IERC20DispatcherTrait;
use crate::types::{Dispute, DisputeStatus, JobState, ReputationRecord, Ruling, roles};
use super::utils::{commitment, reveal, assign, 
    ARB1, ARB2, ARB3, CHALLENGE_WINDOW, CLIENT, COLLATERAL, DEADLINE, DISPUTE_BOND, EVIDENCE,
    INITIAL_BALANCE, ONE, OTHER, OWNER, QUORUM, REWARD, SPEC, STAKE, START, Suite,
    SuiteTrait, TREASURY, VOTING_PERIOD, WASM, WORKER, ZERO, admin, balance, create_job, dispute,
    disputed_job, drop_all_events, drop_events, stake_worker, setup, submitted_job,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The default dispute as the escrow opens it at `opened_at`.
fn open_dispute(job_id: u64, opened_at: u64) -> Dispute {
    Dispute {
        job_id,
        client: CLIENT(),
        worker: WORKER(),
        collateral: COLLATERAL,
        bond: DISPUTE_BOND,
        evidence_hash: EVIDENCE,
        opened_at,
        voting_ends_at: opened_at + VOTING_PERIOD,
        quorum: QUORUM,
        votes_worker: 0,
        votes_client: 0,
        status: DisputeStatus::Open,
        ruling: Ruling::WorkerRight,
    }
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

fn vote(suite: Suite, arbitrator: ContractAddress, dispute_id: u64, ruling: Ruling) {
    set_contract_address(arbitrator);
    suite.disputes().vote(dispute_id, ruling);
}

fn voted_event(
    dispute_id: u64,
    arbitrator: ContractAddress,
    ruling: Ruling,
    votes_worker: u32,
    votes_client: u32,
) -> Option<Disputes::Event> {
    Option::Some(
        Disputes::Event::Voted(
            Disputes::Voted { dispute_id, arbitrator, ruling, votes_worker, votes_client },
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// open
// ---------------------------------------------------------------------------------------------

#[test]
fn test_open_via_escrow_stores_dispute_and_emits() {
    let suite = setup();
    let job_id = submitted_job(suite);
    drop_all_events(suite);
    let now = START + 100;
    set_block_timestamp(now);
    let dispute_id = dispute(suite, job_id);
    assert_eq!(dispute_id, 1);
    // The client paid the bond into the escrow.
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD - DISPUTE_BOND);
    assert_eq!(balance(suite, suite.escrow), REWARD + DISPUTE_BOND);
    assert_eq!(suite.disputes_view().dispute_count(), 1);
    assert_eq!(suite.disputes_view().dispute(dispute_id), open_dispute(job_id, now));
    assert!(!suite.disputes_view().has_voted(dispute_id, ARB1()));
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        Option::Some(
            Disputes::Event::DisputeOpened(
                Disputes::DisputeOpened {
                    dispute_id,
                    job_id,
                    client: CLIENT(),
                    worker: WORKER(),
                    evidence_hash: EVIDENCE,
                    voting_ends_at: now + VOTING_PERIOD,
                    bond: DISPUTE_BOND,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<Disputes::Event>(suite.disputes), Option::None);
}

#[test]
fn test_open_by_escrow_address_returns_next_id() {
    let suite = setup();
    set_contract_address(suite.escrow);
    let opener = IDisputesEscrowDispatcher { contract_address: suite.disputes };
    let first = opener.open(7, CLIENT(), WORKER(), 5 * ONE, ONE, 'ev-1');
    let second = opener.open(8, CLIENT(), WORKER(), 0, 0, 'ev-2');
    assert_eq!(first, 1);
    assert_eq!(second, 2);
    assert_eq!(suite.disputes_view().dispute_count(), 2);
    assert_eq!(
        suite.disputes_view().dispute(2),
        Dispute {
            job_id: 8,
            client: CLIENT(),
            worker: WORKER(),
            collateral: 0,
            bond: 0,
            evidence_hash: 'ev-2',
            opened_at: START,
            voting_ends_at: START + VOTING_PERIOD,
            quorum: QUORUM,
            votes_worker: 0,
            votes_client: 0,
            status: DisputeStatus::Open,
            ruling: Ruling::WorkerRight,
        },
    );
}

#[test]
#[should_panic(expected: ('caller is not escrow', 'ENTRYPOINT_FAILED'))]
fn test_open_not_escrow() {
    let suite = setup();
    set_contract_address(CLIENT());
    IDisputesEscrowDispatcher { contract_address: suite.disputes }
        .open(1, CLIENT(), WORKER(), COLLATERAL, DISPUTE_BOND, EVIDENCE);
}

// ---------------------------------------------------------------------------------------------
// vote
// ---------------------------------------------------------------------------------------------

#[test]
fn test_vote_records_tally_and_emits() {
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    drop_events(suite.disputes);
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    let mut expected = open_dispute(job_id, START);
    expected.votes_worker = 1;
    assert_eq!(suite.disputes_view().dispute(dispute_id), expected);
    assert!(suite.disputes_view().has_voted(dispute_id, ARB1()));
    assert!(!suite.disputes_view().has_voted(dispute_id, ARB2()));
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        voted_event(dispute_id, ARB1(), Ruling::WorkerRight, 1, 0),
    );
    assert_eq!(pop_log::<Disputes::Event>(suite.disputes), Option::None);
    // Below the quorum nothing settles.
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Disputed);
    assert_eq!(balance(suite, suite.escrow), REWARD + DISPUTE_BOND);
}

#[test]
fn test_vote_split_waits_for_quorum() {
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    drop_events(suite.disputes);
    vote(suite, ARB1(), dispute_id, Ruling::ClientRight);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);
    let mut expected = open_dispute(job_id, START);
    expected.votes_worker = 1;
    expected.votes_client = 1;
    assert_eq!(suite.disputes_view().dispute(dispute_id), expected);
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        voted_event(dispute_id, ARB1(), Ruling::ClientRight, 0, 1),
    );
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        voted_event(dispute_id, ARB2(), Ruling::WorkerRight, 1, 1),
    );
    assert_eq!(pop_log::<Disputes::Event>(suite.disputes), Option::None);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Disputed);
    assert_eq!(suite.staking_view().locked_of(WORKER()), COLLATERAL);
    // The third vote breaks the tie.
    vote(suite, ARB3(), dispute_id, Ruling::WorkerRight);
    let dispute = suite.disputes_view().dispute(dispute_id);
    assert_eq!(dispute.status, DisputeStatus::Resolved);
    assert_eq!(dispute.ruling, Ruling::WorkerRight);
    assert_eq!(dispute.votes_worker, 2);
    assert_eq!(dispute.votes_client, 1);
}

#[test]
fn test_vote_quorum_worker_right_pays_worker() {
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    drop_all_events(suite);
    let now = START + 500;
    set_block_timestamp(now);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);

    let fee = REWARD * 250 / 10_000;
    let payout = REWARD - fee;
    let mut expected = open_dispute(job_id, START);
    expected.votes_worker = 2;
    expected.status = DisputeStatus::Resolved;
    expected.ruling = Ruling::WorkerRight;
    assert_eq!(suite.disputes_view().dispute(dispute_id), expected);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Completed);
    // The client disputed a right result: its bond went to the worker.
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + payout + DISPUTE_BOND);
    assert_eq!(balance(suite, TREASURY()), fee);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD - DISPUTE_BOND);
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(balance(suite, suite.staking), STAKE);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(
        suite.reputation_view().reputation_of(WORKER()), record(1, 0, 1, 0, payout, 0, now),
    );
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        voted_event(dispute_id, ARB2(), Ruling::WorkerRight, 2, 0),
    );
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        Option::Some(
            Disputes::Event::DisputeResolved(
                Disputes::DisputeResolved {
                    dispute_id,
                    job_id,
                    ruling: Ruling::WorkerRight,
                    by_timeout: false,
                    payout,
                    bond: DISPUTE_BOND,
                    slashed_to_treasury: 0,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<Disputes::Event>(suite.disputes), Option::None);
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
}

// A lost dispute used to pay the client 70 % of the slashed collateral: a client gained by
// provoking a slash. Now the whole slash goes to the treasury and the client gets back
// exactly what it put in, reward and bond.
#[test]
fn test_vote_quorum_client_right_refunds_and_slashes_to_the_treasury() {
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    vote(suite, ARB1(), dispute_id, Ruling::ClientRight);
    drop_all_events(suite);
    let now = START + 500;
    set_block_timestamp(now);
    vote(suite, ARB3(), dispute_id, Ruling::ClientRight);

    let mut expected = open_dispute(job_id, START);
    expected.votes_client = 2;
    expected.status = DisputeStatus::Resolved;
    expected.ruling = Ruling::ClientRight;
    assert_eq!(suite.disputes_view().dispute(dispute_id), expected);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Refunded);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    assert_eq!(balance(suite, TREASURY()), COLLATERAL);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE);
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(balance(suite, suite.staking), STAKE - COLLATERAL);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE - COLLATERAL);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(
        suite.reputation_view().reputation_of(WORKER()), record(0, 1, 0, 1, 0, COLLATERAL, now),
    );
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        voted_event(dispute_id, ARB3(), Ruling::ClientRight, 0, 2),
    );
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        Option::Some(
            Disputes::Event::DisputeResolved(
                Disputes::DisputeResolved {
                    dispute_id,
                    job_id,
                    ruling: Ruling::ClientRight,
                    by_timeout: false,
                    payout: 0,
                    bond: DISPUTE_BOND,
                    slashed_to_treasury: COLLATERAL,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<Disputes::Event>(suite.disputes), Option::None);
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
}

// The owner used to set the client's share of a lost dispute's slash (up to all of it).
// That power is gone: the entry points no longer exist.
#[test]
fn test_the_owner_can_no_longer_give_the_client_a_share_of_slashes() {
    let suite = setup();
    set_contract_address(OWNER());
    let answer = call_contract_syscall(
        suite.disputes, selector!("set_client_share_bps"), array![10_000].span(),
    );
    assert!(answer.is_err());
    let answer = call_contract_syscall(
        suite.disputes, selector!("client_share_bps"), array![].span(),
    );
    assert!(answer.is_err());
}

// A client that disputes a right result to hold up the payment now pays for it: the bond
// goes to the worker, on a vote as on a timeout.
#[test]
fn test_a_frivolous_dispute_costs_the_client_its_bond() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    let client_before = balance(suite, CLIENT());
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);
    assert_eq!(balance(suite, CLIENT()), client_before);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD - DISPUTE_BOND);
}

#[test]
#[should_panic(expected: ('insufficient allowance', 'ENTRYPOINT_FAILED', 'ENTRYPOINT_FAILED'))]
fn test_a_dispute_without_the_bond_approved_fails() {
    let suite = setup();
    let job_id = submitted_job(suite);
    set_contract_address(CLIENT());
    suite.escrow().dispute(job_id, EVIDENCE);
}

#[test]
fn test_vote_client_right_zero_collateral_slashes_nothing() {
    let suite = setup();
    stake_worker(suite, WORKER(), STAKE);
    set_contract_address(CLIENT());
    suite.erc20().approve(suite.escrow, REWARD);
    let job_id = suite.escrow().create_job(SPEC, REWARD, WASM, DEADLINE, CHALLENGE_WINDOW, 0);
    assign(suite, job_id, WORKER());
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    let dispute_id = dispute(suite, job_id);
    drop_events(suite.disputes);
    vote(suite, ARB1(), dispute_id, Ruling::ClientRight);
    vote(suite, ARB2(), dispute_id, Ruling::ClientRight);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Refunded);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    assert_eq!(balance(suite, TREASURY()), 0);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
    assert_eq!(
        suite.reputation_view().reputation_of(WORKER()), record(0, 1, 0, 1, 0, 0, START),
    );
}

#[test]
fn test_vote_quorum_one_resolves_at_first_vote() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().set_quorum(1);
    let (job_id, dispute_id) = disputed_job(suite);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);
    let dispute = suite.disputes_view().dispute(dispute_id);
    assert_eq!(dispute.status, DisputeStatus::Resolved);
    assert_eq!(dispute.votes_worker, 1);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Completed);
    assert_eq!(balance(suite, suite.escrow), 0);
}

#[test]
fn test_vote_at_period_end() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    set_block_timestamp(START + VOTING_PERIOD);
    vote(suite, ARB1(), dispute_id, Ruling::ClientRight);
    assert_eq!(suite.disputes_view().dispute(dispute_id).votes_client, 1);
    assert!(suite.disputes_view().has_voted(dispute_id, ARB1()));
}

#[test]
fn test_vote_while_paused() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    set_contract_address(OWNER());
    admin(suite.disputes).pause();
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);
    assert_eq!(suite.disputes_view().dispute(dispute_id).status, DisputeStatus::Resolved);
    assert_eq!(balance(suite, suite.escrow), 0);
}

#[test]
#[should_panic(expected: ('caller is not arbitrator', 'ENTRYPOINT_FAILED'))]
fn test_vote_not_arbitrator() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    vote(suite, OTHER(), dispute_id, Ruling::WorkerRight);
}

/// The owner could once silence an arbitrator on a dispute in progress by removing it. The
/// court is now fixed when a dispute opens: a later removal leaves the vote in place.
#[test]
fn test_vote_removed_arbitrator_keeps_its_vote_on_an_open_dispute() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    set_contract_address(OWNER());
    suite.disputes_config().remove_arbitrator(ARB1());
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    assert_eq!(suite.disputes_view().dispute(dispute_id).votes_worker, 1);
}

#[test]
#[should_panic(expected: ('caller is not arbitrator', 'ENTRYPOINT_FAILED'))]
fn test_vote_arbitrator_removed_before_the_dispute_opened() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().remove_arbitrator(ARB1());
    let (_, dispute_id) = disputed_job(suite);
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
}

/// The attack this closes: an owner adding an arbitrator of its own to a dispute in
/// progress, to decide it.
#[test]
#[should_panic(expected: ('arbitrator joined after opening', 'ENTRYPOINT_FAILED'))]
fn test_vote_arbitrator_added_after_the_dispute_opened() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    set_contract_address(OWNER());
    suite.disputes_config().add_arbitrator(OTHER());
    vote(suite, OTHER(), dispute_id, Ruling::ClientRight);
}

#[test]
fn test_an_arbitrator_added_before_a_dispute_votes_on_it() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().add_arbitrator(OTHER());
    let (_, dispute_id) = disputed_job(suite);
    vote(suite, OTHER(), dispute_id, Ruling::ClientRight);
    assert_eq!(suite.disputes_view().dispute(dispute_id).votes_client, 1);
}

/// Removing and re-adding would let the owner move an arbitrator in and out of courts.
#[test]
#[should_panic(expected: ('arbitrator was removed', 'ENTRYPOINT_FAILED'))]
fn test_a_removed_arbitrator_cannot_be_added_back() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().remove_arbitrator(ARB1());
    suite.disputes_config().add_arbitrator(ARB1());
}

#[test]
#[should_panic(expected: ('unknown dispute', 'ENTRYPOINT_FAILED'))]
fn test_vote_unknown_dispute() {
    let suite = setup();
    disputed_job(suite);
    vote(suite, ARB1(), 2, Ruling::WorkerRight);
}

#[test]
#[should_panic(expected: ('already voted', 'ENTRYPOINT_FAILED'))]
fn test_vote_already_voted() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    vote(suite, ARB1(), dispute_id, Ruling::ClientRight);
}

#[test]
#[should_panic(expected: ('arbitrator is a party', 'ENTRYPOINT_FAILED'))]
fn test_vote_arbitrator_is_client() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().add_arbitrator(CLIENT());
    let (_, dispute_id) = disputed_job(suite);
    vote(suite, CLIENT(), dispute_id, Ruling::ClientRight);
}

#[test]
#[should_panic(expected: ('voting period over', 'ENTRYPOINT_FAILED'))]
fn test_vote_voting_period_over() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    set_block_timestamp(START + VOTING_PERIOD + 1);
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
}

#[test]
#[should_panic(expected: ('dispute not open', 'ENTRYPOINT_FAILED'))]
fn test_vote_after_resolution() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);
    vote(suite, ARB3(), dispute_id, Ruling::ClientRight);
}

// ---------------------------------------------------------------------------------------------
// resolve_timeout
// ---------------------------------------------------------------------------------------------

// After the voting period the votes cast decide. This used to apply a default ruling set by
// the owner (the client's), which overrode a vote for the worker below the quorum.
#[test]
fn test_resolve_timeout_a_client_majority_below_quorum_refunds() {
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    vote(suite, ARB1(), dispute_id, Ruling::ClientRight);
    drop_all_events(suite);
    let now = START + VOTING_PERIOD + 1;
    set_block_timestamp(now);
    set_contract_address(OTHER());
    suite.disputes().resolve_timeout(dispute_id);

    let mut expected = open_dispute(job_id, START);
    expected.votes_client = 1;
    expected.status = DisputeStatus::Resolved;
    expected.ruling = Ruling::ClientRight;
    assert_eq!(suite.disputes_view().dispute(dispute_id), expected);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Refunded);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    assert_eq!(balance(suite, TREASURY()), COLLATERAL);
    assert_eq!(balance(suite, OTHER()), 0);
    assert_eq!(balance(suite, suite.escrow), 0);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE - COLLATERAL);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(
        suite.reputation_view().reputation_of(WORKER()), record(0, 1, 0, 1, 0, COLLATERAL, now),
    );
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        Option::Some(
            Disputes::Event::DisputeResolved(
                Disputes::DisputeResolved {
                    dispute_id,
                    job_id,
                    ruling: Ruling::ClientRight,
                    by_timeout: true,
                    payout: 0,
                    bond: DISPUTE_BOND,
                    slashed_to_treasury: COLLATERAL,
                },
            ),
        ),
    );
    assert_eq!(pop_log::<Disputes::Event>(suite.disputes), Option::None);
}

/// Resolves `dispute_id` by timeout after the given votes; asserts the worker was paid.
fn assert_timeout_pays_the_worker(suite: Suite, job_id: u64, dispute_id: u64) {
    drop_events(suite.disputes);
    let now = START + VOTING_PERIOD + 1;
    set_block_timestamp(now);
    set_contract_address(OTHER());
    suite.disputes().resolve_timeout(dispute_id);
    let fee = REWARD * 250 / 10_000;
    let payout = REWARD - fee;
    let dispute = suite.disputes_view().dispute(dispute_id);
    assert_eq!(dispute.status, DisputeStatus::Resolved);
    assert_eq!(dispute.ruling, Ruling::WorkerRight);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Completed);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE + payout + DISPUTE_BOND);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE - REWARD - DISPUTE_BOND);
    assert_eq!(balance(suite, TREASURY()), fee);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
    assert_eq!(
        suite.reputation_view().reputation_of(WORKER()), record(1, 0, 1, 0, payout, 0, now),
    );
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        Option::Some(
            Disputes::Event::DisputeResolved(
                Disputes::DisputeResolved {
                    dispute_id,
                    job_id,
                    ruling: Ruling::WorkerRight,
                    by_timeout: true,
                    payout,
                    bond: DISPUTE_BOND,
                    slashed_to_treasury: 0,
                },
            ),
        ),
    );
}

#[test]
fn test_resolve_timeout_a_worker_vote_below_quorum_pays_the_worker() {
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    assert_timeout_pays_the_worker(suite, job_id, dispute_id);
}

#[test]
fn test_resolve_timeout_without_votes_pays_the_worker() {
    // A client that disputes an honest result and keeps the arbitrators in the dark; the
    // worker opened its commitment.
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    reveal(suite, job_id, WORKER());
    assert_timeout_pays_the_worker(suite, job_id, dispute_id);
}

#[test]
fn test_resolve_timeout_a_tie_pays_the_worker() {
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    reveal(suite, job_id, WORKER());
    vote(suite, ARB1(), dispute_id, Ruling::ClientRight);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);
    assert_timeout_pays_the_worker(suite, job_id, dispute_id);
}

/// Resolves `dispute_id` by timeout; asserts the client was refunded and the worker slashed.
fn assert_timeout_refunds_the_client(suite: Suite, job_id: u64, dispute_id: u64) {
    set_block_timestamp(START + VOTING_PERIOD + 1);
    set_contract_address(OTHER());
    suite.disputes().resolve_timeout(dispute_id);
    assert_eq!(suite.disputes_view().dispute(dispute_id).ruling, Ruling::ClientRight);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Refunded);
    assert_eq!(balance(suite, CLIENT()), INITIAL_BALANCE);
    assert_eq!(balance(suite, WORKER()), INITIAL_BALANCE - STAKE);
    assert_eq!(balance(suite, TREASURY()), COLLATERAL);
    assert_eq!(suite.staking_view().stake_of(WORKER()), STAKE - COLLATERAL);
    assert_eq!(suite.staking_view().locked_of(WORKER()), 0);
}

// A worker that never opens its commitment (it copied one, or has no result) cannot win a
// dispute by silence: with no votes, or a tie, the client is refunded.
#[test]
fn test_resolve_timeout_without_votes_or_reveal_refunds_the_client() {
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    assert_timeout_refunds_the_client(suite, job_id, dispute_id);
}

#[test]
fn test_resolve_timeout_a_tie_without_reveal_refunds_the_client() {
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    vote(suite, ARB1(), dispute_id, Ruling::ClientRight);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);
    assert_timeout_refunds_the_client(suite, job_id, dispute_id);
}

#[test]
#[should_panic(expected: ('voting period not over', 'ENTRYPOINT_FAILED'))]
fn test_resolve_timeout_before_period_end() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    set_block_timestamp(START + VOTING_PERIOD);
    set_contract_address(OTHER());
    suite.disputes().resolve_timeout(dispute_id);
}

#[test]
#[should_panic(expected: ('dispute not open', 'ENTRYPOINT_FAILED'))]
fn test_resolve_timeout_already_resolved() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);
    set_block_timestamp(START + VOTING_PERIOD + 1);
    set_contract_address(OTHER());
    suite.disputes().resolve_timeout(dispute_id);
}

#[test]
#[should_panic(expected: ('unknown dispute', 'ENTRYPOINT_FAILED'))]
fn test_resolve_timeout_unknown_dispute() {
    let suite = setup();
    set_block_timestamp(START + VOTING_PERIOD + 1);
    set_contract_address(OTHER());
    suite.disputes().resolve_timeout(1);
}

// ---------------------------------------------------------------------------------------------
// Arbitrators
// ---------------------------------------------------------------------------------------------

#[test]
fn test_add_arbitrator_adds_and_emits() {
    let suite = setup();
    assert!(!suite.disputes_view().is_arbitrator(OTHER()));
    set_contract_address(OWNER());
    suite.disputes_config().add_arbitrator(OTHER());
    assert!(suite.disputes_view().is_arbitrator(OTHER()));
    assert_eq!(suite.disputes_view().arbitrator_count(), 4);
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        Option::Some(
            Disputes::Event::ArbitratorAdded(
                Disputes::ArbitratorAdded { arbitrator: OTHER(), arbitrator_count: 4 },
            ),
        ),
    );
    assert_eq!(pop_log::<Disputes::Event>(suite.disputes), Option::None);
}

#[test]
#[should_panic(expected: ('caller is not owner', 'ENTRYPOINT_FAILED'))]
fn test_add_arbitrator_unauthorized() {
    let suite = setup();
    set_contract_address(ARB1());
    suite.disputes_config().add_arbitrator(OTHER());
}

#[test]
#[should_panic(expected: ('address is zero', 'ENTRYPOINT_FAILED'))]
fn test_add_arbitrator_zero() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().add_arbitrator(ZERO());
}

#[test]
#[should_panic(expected: ('already arbitrator', 'ENTRYPOINT_FAILED'))]
fn test_add_arbitrator_already_arbitrator() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().add_arbitrator(ARB2());
}

#[test]
fn test_remove_arbitrator_removes_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().remove_arbitrator(ARB2());
    assert!(!suite.disputes_view().is_arbitrator(ARB2()));
    assert!(suite.disputes_view().is_arbitrator(ARB1()));
    assert_eq!(suite.disputes_view().arbitrator_count(), 2);
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        Option::Some(
            Disputes::Event::ArbitratorRemoved(
                Disputes::ArbitratorRemoved { arbitrator: ARB2(), arbitrator_count: 2 },
            ),
        ),
    );
    // It cannot be added back (`test_a_removed_arbitrator_cannot_be_added_back`): moving
    // an arbitrator out and in again would let the owner reshape a court.
}

#[test]
#[should_panic(expected: ('caller is not owner', 'ENTRYPOINT_FAILED'))]
fn test_remove_arbitrator_unauthorized() {
    let suite = setup();
    set_contract_address(ARB1());
    suite.disputes_config().remove_arbitrator(ARB2());
}

#[test]
#[should_panic(expected: ('caller is not arbitrator', 'ENTRYPOINT_FAILED'))]
fn test_remove_arbitrator_not_arbitrator() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().remove_arbitrator(OTHER());
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn test_set_quorum_updates_and_emits() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().set_quorum(3);
    assert_eq!(suite.disputes_view().quorum(), 3);
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        Option::Some(
            Disputes::Event::QuorumUpdated(
                Disputes::QuorumUpdated { old_quorum: 2, new_quorum: 3 },
            ),
        ),
    );
    // Two agreeing votes no longer settle.
    let (job_id, dispute_id) = disputed_job(suite);
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);
    assert_eq!(suite.disputes_view().dispute(dispute_id).status, DisputeStatus::Open);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Disputed);
}

#[test]
#[should_panic(expected: ('quorum is zero', 'ENTRYPOINT_FAILED'))]
fn test_set_quorum_zero() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().set_quorum(0);
}

#[test]
#[should_panic(expected: ('caller is not operator', 'ENTRYPOINT_FAILED'))]
fn test_set_quorum_unauthorized() {
    let suite = setup();
    set_contract_address(ARB1());
    suite.disputes_config().set_quorum(1);
}

#[test]
fn test_set_voting_period_updates_and_emits() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    drop_events(suite.disputes);
    set_contract_address(OWNER());
    suite.disputes_config().set_voting_period(2 * VOTING_PERIOD);
    assert_eq!(suite.disputes_view().voting_period(), 2 * VOTING_PERIOD);
    assert_eq!(
        pop_log::<Disputes::Event>(suite.disputes),
        Option::Some(
            Disputes::Event::VotingPeriodUpdated(
                Disputes::VotingPeriodUpdated {
                    old_period: VOTING_PERIOD, new_period: 2 * VOTING_PERIOD,
                },
            ),
        ),
    );
    // The open dispute keeps the period it opened with; a new one gets the new period.
    assert_eq!(suite.disputes_view().dispute(dispute_id).voting_ends_at, START + VOTING_PERIOD);
    let job_id = create_job(suite);
    assign(suite, job_id, WORKER());
    set_contract_address(WORKER());
    suite.escrow().submit_result(job_id, commitment(WORKER()));
    let second = dispute(suite, job_id);
    assert_eq!(
        suite.disputes_view().dispute(second).voting_ends_at, START + 2 * VOTING_PERIOD,
    );
}

// The voting period used to be read at vote time, so the owner could stretch (or cut short)
// a dispute already open, after seeing how it went. An open dispute now keeps its own end.
#[test]
#[should_panic(expected: ('voting period over', 'ENTRYPOINT_FAILED'))]
fn test_set_voting_period_does_not_reopen_an_open_dispute() {
    let suite = setup();
    let (_, dispute_id) = disputed_job(suite);
    set_contract_address(OWNER());
    suite.disputes_config().set_voting_period(2 * VOTING_PERIOD);
    set_block_timestamp(START + VOTING_PERIOD + 1);
    vote(suite, ARB1(), dispute_id, Ruling::ClientRight);
}

// Likewise the quorum: raising it after a dispute opened does not change what decides it.
#[test]
fn test_set_quorum_does_not_touch_an_open_dispute() {
    let suite = setup();
    let (job_id, dispute_id) = disputed_job(suite);
    set_contract_address(OWNER());
    suite.disputes_config().set_quorum(3);
    vote(suite, ARB1(), dispute_id, Ruling::WorkerRight);
    vote(suite, ARB2(), dispute_id, Ruling::WorkerRight);
    assert_eq!(suite.disputes_view().dispute(dispute_id).status, DisputeStatus::Resolved);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Completed);
}

#[test]
#[should_panic(expected: ('voting period too long', 'ENTRYPOINT_FAILED'))]
fn test_set_voting_period_above_the_cap() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().set_voting_period(MAX_VOTING_PERIOD + 1);
}

#[test]
#[should_panic(expected: ('voting period is zero', 'ENTRYPOINT_FAILED'))]
fn test_set_voting_period_zero() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().set_voting_period(0);
}

#[test]
#[should_panic(expected: ('caller is not operator', 'ENTRYPOINT_FAILED'))]
fn test_set_voting_period_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    suite.disputes_config().set_voting_period(1);
}

// The owner used to pick the ruling applied when arbitrators stay silent (the client's by
// default). That power is gone: the entry point no longer exists.
#[test]
fn test_the_owner_can_no_longer_set_a_default_ruling() {
    let suite = setup();
    set_contract_address(OWNER());
    let answer = call_contract_syscall(
        suite.disputes, selector!("set_default_ruling"), array![1].span(),
    );
    assert!(answer.is_err());
    let answer = call_contract_syscall(suite.disputes, selector!("default_ruling"), array![].span());
    assert!(answer.is_err());
}

#[test]
#[should_panic(expected: ('quorum above arbitrators', 'ENTRYPOINT_FAILED'))]
fn test_set_quorum_above_the_arbitrators() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.disputes_config().set_quorum(4);
}

#[test]
#[should_panic(expected: ('quorum above arbitrators', 'ENTRYPOINT_FAILED'))]
fn test_remove_arbitrator_below_the_quorum() {
    let suite = setup();
    set_contract_address(OWNER());
    // Three arbitrators, quorum two: one can go, a second cannot.
    suite.disputes_config().remove_arbitrator(ARB1());
    suite.disputes_config().remove_arbitrator(ARB2());
}

#[test]
fn test_a_quorum_set_before_the_arbitrators_counts_only_those_there_are() {
    // A deploy sets the quorum first and adds arbitrators after: with a quorum of five and
    // one arbitrator, that one vote decides instead of no dispute ever settling by votes.
    let suite = setup();
    let mut calldata = array![];
    OWNER().serialize(ref calldata);
    suite.escrow.serialize(ref calldata);
    suite.staking.serialize(ref calldata);
    suite.reputation.serialize(ref calldata);
    TREASURY().serialize(ref calldata);
    5_u32.serialize(ref calldata);
    VOTING_PERIOD.serialize(ref calldata);
    let class_hash: ClassHash = Disputes::TEST_CLASS_HASH.try_into().unwrap();
    let (disputes, _) = deploy_syscall(class_hash, 'five', calldata.span(), false).unwrap();
    set_contract_address(OWNER());
    suite.escrow_config().set_disputes(disputes);
    admin(suite.staking).grant_role(roles::SLASHER, disputes);
    admin(suite.reputation).grant_role(roles::REPUTATION_WRITER, disputes);
    IDisputesConfigDispatcher { contract_address: disputes }.add_arbitrator(ARB1());
    let job_id = submitted_job(suite);
    let dispute_id = dispute(suite, job_id);
    set_contract_address(ARB1());
    IDisputesDispatcher { contract_address: disputes }.vote(dispute_id, Ruling::WorkerRight);
    let dispute = IDisputesViewDispatcher { contract_address: disputes }.dispute(dispute_id);
    assert_eq!(dispute.status, DisputeStatus::Resolved);
    assert_eq!(suite.escrow_view().job(job_id).state, JobState::Completed);
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

#[test]
fn test_views_after_setup() {
    let suite = setup();
    let view = suite.disputes_view();
    assert_eq!(view.dispute_count(), 0);
    assert_eq!(view.arbitrator_count(), 3);
    assert!(view.is_arbitrator(ARB1()));
    assert!(view.is_arbitrator(ARB2()));
    assert!(view.is_arbitrator(ARB3()));
    assert!(!view.is_arbitrator(CLIENT()));
    assert_eq!(view.quorum(), 2);
    assert_eq!(view.voting_period(), VOTING_PERIOD);
    assert!(!view.has_voted(1, ARB1()));
    assert_eq!(admin(suite.disputes).owner(), OWNER());
}

#[test]
#[should_panic(expected: ('unknown dispute', 'ENTRYPOINT_FAILED'))]
fn test_dispute_unknown_id() {
    let suite = setup();
    disputed_job(suite);
    suite.disputes_view().dispute(2);
}
