use starknet::ContractAddress;
use starknet::testing::{pop_log, set_block_timestamp, set_contract_address};
use crate::admin::interface::IAdminDispatcherTrait;
use crate::reputation::interface::{
    IReputationViewDispatcherTrait, IReputationWriterDispatcherTrait, reasons,
};
use crate::reputation::reputation::Reputation;
use crate::types::{ReputationRecord, roles};
use super::utils::{
    ONE, OTHER, OWNER, START, Suite, SuiteTrait, WORKER, WORKER2, ZERO, admin, drop_events, setup,
};

/// A suite where `OTHER` holds `REPUTATION_WRITER` and is the caller.
fn writer_suite() -> Suite {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.reputation).grant_role(roles::REPUTATION_WRITER, OTHER());
    drop_events(suite.reputation);
    set_contract_address(OTHER());
    suite
}

fn updated(
    worker: ContractAddress, reason: felt252, old: ReputationRecord, new: ReputationRecord,
) -> Option<Reputation::Event> {
    Option::Some(
        Reputation::Event::ReputationUpdated(
            Reputation::ReputationUpdated { worker, reason, old, new },
        ),
    )
}

fn next_event(suite: Suite) -> Option<Reputation::Event> {
    pop_log::<Reputation::Event>(suite.reputation)
}

fn zero_record() -> ReputationRecord {
    ReputationRecord {
        jobs_completed: 0,
        jobs_failed: 0,
        disputes_won: 0,
        disputes_lost: 0,
        total_earned: 0,
        total_slashed: 0,
        last_active: 0,
    }
}

#[test]
fn test_reputation_of_unknown_worker_is_zero() {
    let suite = setup();
    let record = suite.reputation_view().reputation_of(WORKER());
    assert_eq!(record, zero_record());
    assert_eq!(record, Default::default());
    assert_eq!(admin(suite.reputation).owner(), OWNER());
}

#[test]
fn test_record_job_completed_updates_and_emits() {
    let suite = writer_suite();
    set_block_timestamp(START + 100);
    suite.reputation_writer().record_job_completed(WORKER(), 40 * ONE);

    let expected = ReputationRecord {
        jobs_completed: 1, total_earned: 40 * ONE, last_active: START + 100, ..zero_record()
    };
    assert_eq!(suite.reputation_view().reputation_of(WORKER()), expected);
    assert_eq!(suite.reputation_view().reputation_of(WORKER2()), zero_record());
    assert_eq!(
        next_event(suite), updated(WORKER(), reasons::JOB_COMPLETED, zero_record(), expected),
    );
    assert_eq!(next_event(suite), Option::None);
}

#[test]
fn test_record_job_completed_accumulates() {
    let suite = writer_suite();
    let writer = suite.reputation_writer();
    writer.record_job_completed(WORKER(), 40 * ONE);
    drop_events(suite.reputation);
    set_block_timestamp(START + 500);
    writer.record_job_completed(WORKER(), 2 * ONE);

    let old = ReputationRecord {
        jobs_completed: 1, total_earned: 40 * ONE, last_active: START, ..zero_record()
    };
    let new = ReputationRecord {
        jobs_completed: 2, total_earned: 42 * ONE, last_active: START + 500, ..zero_record()
    };
    assert_eq!(suite.reputation_view().reputation_of(WORKER()), new);
    assert_eq!(next_event(suite), updated(WORKER(), reasons::JOB_COMPLETED, old, new));
}

#[test]
fn test_record_job_completed_by_escrow_contract() {
    let suite = setup();
    set_contract_address(suite.escrow);
    suite.reputation_writer().record_job_completed(WORKER(), 0);
    let expected = ReputationRecord { jobs_completed: 1, last_active: START, ..zero_record() };
    assert_eq!(suite.reputation_view().reputation_of(WORKER()), expected);
}

#[test]
#[should_panic(expected: ('caller is missing role', 'ENTRYPOINT_FAILED'))]
fn test_record_job_completed_unauthorized() {
    let suite = setup();
    set_contract_address(OTHER());
    suite.reputation_writer().record_job_completed(WORKER(), ONE);
}

#[test]
#[should_panic(expected: ('worker is zero address', 'ENTRYPOINT_FAILED'))]
fn test_record_job_completed_zero_worker() {
    let suite = writer_suite();
    suite.reputation_writer().record_job_completed(ZERO(), ONE);
}

#[test]
fn test_record_job_failed_updates_and_emits() {
    let suite = writer_suite();
    set_block_timestamp(START + 200);
    suite.reputation_writer().record_job_failed(WORKER(), 30 * ONE);

    let expected = ReputationRecord {
        jobs_failed: 1, total_slashed: 30 * ONE, last_active: START + 200, ..zero_record()
    };
    assert_eq!(suite.reputation_view().reputation_of(WORKER()), expected);
    assert_eq!(next_event(suite), updated(WORKER(), reasons::JOB_FAILED, zero_record(), expected));
    assert_eq!(next_event(suite), Option::None);
}

#[test]
#[should_panic(expected: ('caller is missing role', 'ENTRYPOINT_FAILED'))]
fn test_record_job_failed_unauthorized() {
    let suite = setup();
    set_contract_address(WORKER());
    suite.reputation_writer().record_job_failed(WORKER(), ONE);
}

#[test]
#[should_panic(expected: ('worker is zero address', 'ENTRYPOINT_FAILED'))]
fn test_record_job_failed_zero_worker() {
    let suite = writer_suite();
    suite.reputation_writer().record_job_failed(ZERO(), ONE);
}

#[test]
fn test_record_dispute_won_updates_and_emits() {
    let suite = writer_suite();
    set_block_timestamp(START + 300);
    suite.reputation_writer().record_dispute(WORKER(), true, 40 * ONE);

    let expected = ReputationRecord {
        jobs_completed: 1,
        disputes_won: 1,
        total_earned: 40 * ONE,
        last_active: START + 300,
        ..zero_record()
    };
    assert_eq!(suite.reputation_view().reputation_of(WORKER()), expected);
    assert_eq!(
        next_event(suite), updated(WORKER(), reasons::DISPUTE_WON, zero_record(), expected),
    );
    assert_eq!(next_event(suite), Option::None);
}

#[test]
fn test_record_dispute_lost_updates_and_emits() {
    let suite = writer_suite();
    set_block_timestamp(START + 400);
    suite.reputation_writer().record_dispute(WORKER(), false, 60 * ONE);

    let expected = ReputationRecord {
        jobs_failed: 1,
        disputes_lost: 1,
        total_slashed: 60 * ONE,
        last_active: START + 400,
        ..zero_record()
    };
    assert_eq!(suite.reputation_view().reputation_of(WORKER()), expected);
    assert_eq!(
        next_event(suite), updated(WORKER(), reasons::DISPUTE_LOST, zero_record(), expected),
    );
    assert_eq!(next_event(suite), Option::None);
}

#[test]
#[should_panic(expected: ('caller is missing role', 'ENTRYPOINT_FAILED'))]
fn test_record_dispute_unauthorized() {
    let suite = setup();
    set_contract_address(OWNER());
    suite.reputation_writer().record_dispute(WORKER(), true, ONE);
}

#[test]
#[should_panic(expected: ('worker is zero address', 'ENTRYPOINT_FAILED'))]
fn test_record_dispute_zero_worker() {
    let suite = writer_suite();
    suite.reputation_writer().record_dispute(ZERO(), false, ONE);
}

#[test]
fn test_records_accumulate_across_calls() {
    let suite = writer_suite();
    let writer = suite.reputation_writer();
    writer.record_job_completed(WORKER(), 10 * ONE);
    set_block_timestamp(START + 10);
    writer.record_job_failed(WORKER(), 3 * ONE);
    set_block_timestamp(START + 20);
    writer.record_dispute(WORKER(), true, 5 * ONE);
    set_block_timestamp(START + 30);
    writer.record_job_completed(WORKER2(), ONE);
    drop_events(suite.reputation);
    set_block_timestamp(START + 40);
    writer.record_dispute(WORKER(), false, 7 * ONE);

    let old = ReputationRecord {
        jobs_completed: 2,
        jobs_failed: 1,
        disputes_won: 1,
        disputes_lost: 0,
        total_earned: 15 * ONE,
        total_slashed: 3 * ONE,
        last_active: START + 20,
    };
    let new = ReputationRecord {
        jobs_completed: 2,
        jobs_failed: 2,
        disputes_won: 1,
        disputes_lost: 1,
        total_earned: 15 * ONE,
        total_slashed: 10 * ONE,
        last_active: START + 40,
    };
    assert_eq!(suite.reputation_view().reputation_of(WORKER()), new);
    assert_eq!(next_event(suite), updated(WORKER(), reasons::DISPUTE_LOST, old, new));
    // The other worker's record is separate.
    let other = ReputationRecord {
        jobs_completed: 1, total_earned: ONE, last_active: START + 30, ..zero_record()
    };
    assert_eq!(suite.reputation_view().reputation_of(WORKER2()), other);
}

#[test]
fn test_record_works_while_paused() {
    let suite = setup();
    set_contract_address(OWNER());
    admin(suite.reputation).pause();
    set_contract_address(suite.disputes);
    suite.reputation_writer().record_dispute(WORKER(), true, ONE);
    let expected = ReputationRecord {
        jobs_completed: 1, disputes_won: 1, total_earned: ONE, last_active: START, ..zero_record()
    };
    assert_eq!(suite.reputation_view().reputation_of(WORKER()), expected);
}

#[test]
#[should_panic(expected: ('caller is missing role', 'ENTRYPOINT_FAILED'))]
fn test_record_job_completed_after_role_revoked() {
    let suite = writer_suite();
    suite.reputation_writer().record_job_completed(WORKER(), ONE);
    set_contract_address(OWNER());
    admin(suite.reputation).revoke_role(roles::REPUTATION_WRITER, OTHER());
    set_contract_address(OTHER());
    suite.reputation_writer().record_job_completed(WORKER(), ONE);
}

#[test]
fn test_record_jobs_completed_counts_every_job_in_one_update() {
    let suite = writer_suite();
    set_block_timestamp(START + 5);
    suite.reputation_writer().record_jobs_completed(WORKER(), 3, 90 * ONE);
    let mut new = zero_record();
    new.jobs_completed = 3;
    new.total_earned = 90 * ONE;
    new.last_active = START + 5;
    assert_eq!(suite.reputation_view().reputation_of(WORKER()), new);
    assert_eq!(next_event(suite), updated(WORKER(), reasons::JOBS_COMPLETED, zero_record(), new));
    assert!(next_event(suite).is_none());
}

#[test]
#[should_panic(expected: ('jobs is zero', 'ENTRYPOINT_FAILED'))]
fn test_record_jobs_completed_of_no_job_is_refused() {
    let suite = writer_suite();
    suite.reputation_writer().record_jobs_completed(WORKER(), 0, 0);
}

#[test]
#[should_panic(expected: ('caller is missing role', 'ENTRYPOINT_FAILED'))]
fn test_record_jobs_completed_needs_the_writer_role() {
    let suite = setup();
    set_contract_address(WORKER());
    suite.reputation_writer().record_jobs_completed(WORKER(), 100, 0);
}
