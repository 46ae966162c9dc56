//! Escrow events: each job's state machine, and the jobs a worker was assigned.

use ciro_bindings::contracts::escrow::Event;
use ciro_bindings::units::capability_name;

use super::{non_zero, u256_text, units, Location, Refs};
use crate::error::{IndexerError, Result};
use crate::model::{hex, Job, JobState, Worker};

/// The event's name.
pub fn name(e: &Event) -> &'static str {
    match e {
        Event::JobCreated(_) => "JobCreated",
        Event::JobAssigned(_) => "JobAssigned",
        Event::ResultSubmitted(_) => "ResultSubmitted",
        Event::ResultRevealed(_) => "ResultRevealed",
        Event::JobCompleted(_) => "JobCompleted",
        Event::JobCancelled(_) => "JobCancelled",
        Event::JobTimedOut(_) => "JobTimedOut",
        Event::JobDisputed(_) => "JobDisputed",
        Event::JobRefunded(_) => "JobRefunded",
        Event::FeeUpdated(_) => "FeeUpdated",
        Event::TimeoutSlashUpdated(_) => "TimeoutSlashUpdated",
        Event::DisputeBondUpdated(_) => "DisputeBondUpdated",
        Event::TreasuryUpdated(_) => "TreasuryUpdated",
        Event::DisputesUpdated(_) => "DisputesUpdated",
        Event::Deposited(_) => "Deposited",
        Event::WithdrawalRequested(_) => "WithdrawalRequested",
        Event::Withdrawn(_) => "Withdrawn",
        Event::JobSettled(_) => "JobSettled",
        Event::AdminEvent(_) => "Admin",
    }
}

/// The job, its worker once assigned, and the dispute it opened.
pub fn refs(e: &Event) -> Refs {
    let job = |job_id: u64, worker: &cainome::cairo_serde::ContractAddress| Refs {
        worker: non_zero(worker.0),
        job_id: Some(job_id),
        dispute_id: None,
    };
    match e {
        Event::JobCreated(e) => job(e.job_id, &e.worker),
        Event::JobAssigned(e) => job(e.job_id, &e.worker),
        Event::ResultSubmitted(e) => job(e.job_id, &e.worker),
        Event::ResultRevealed(e) => job(e.job_id, &e.worker),
        Event::JobCompleted(e) => job(e.job_id, &e.worker),
        Event::JobCancelled(e) => job(e.job_id, &e.worker),
        Event::JobTimedOut(e) => job(e.job_id, &e.worker),
        Event::JobDisputed(e) => Refs {
            dispute_id: Some(e.dispute_id),
            ..job(e.job_id, &e.worker)
        },
        Event::JobRefunded(e) => job(e.job_id, &e.worker),
        // A job settled in a batch has no escrow job: it belongs to its worker only.
        Event::JobSettled(e) => Refs {
            worker: non_zero(e.worker.0),
            ..Refs::default()
        },
        Event::FeeUpdated(_)
        | Event::TimeoutSlashUpdated(_)
        | Event::DisputeBondUpdated(_)
        | Event::TreasuryUpdated(_)
        | Event::DisputesUpdated(_)
        | Event::Deposited(_)
        | Event::WithdrawalRequested(_)
        | Event::Withdrawn(_)
        | Event::AdminEvent(_) => Refs::default(),
    }
}

/// Counts the jobs assigned to a worker. Jobs settled in batches count through the
/// reputation record (`jobs_completed`), which the same transaction updates.
pub fn apply_worker(w: &mut Worker, e: &Event) {
    if let Event::JobAssigned(_) = e {
        w.jobs_assigned += 1;
    }
}

/// Moves the job's state machine. An event for a job whose `JobCreated` was never seen is
/// an error: the view would otherwise hold a job with no client or reward.
pub fn apply_job(job: &mut Job, e: &Event, at: &Location) -> Result<()> {
    if let Event::JobCreated(e) = e {
        *job = Job {
            job_id: e.job_id,
            client: hex(e.client.0),
            worker: non_zero(e.worker.0).map(hex),
            state: JobState::Open,
            spec_hash: hex(e.spec_hash),
            capability: capability_name(e.capability),
            reward: units(&e.reward)?,
            collateral: u256_text(&e.collateral),
            deadline: e.deadline,
            challenge_window: e.challenge_window,
            created_at: at.timestamp,
            created_block: at.block_number,
            created_tx: hex(at.tx_hash),
            ..Job::default()
        };
    } else if job.created_tx.is_empty() {
        return Err(IndexerError::Corrupt(format!(
            "{} for job {} at block {} without its JobCreated",
            name(e),
            job.job_id,
            at.block_number
        )));
    }
    match e {
        Event::JobCreated(_) => {}
        Event::JobAssigned(e) => {
            job.worker = Some(hex(e.worker.0));
            job.collateral = u256_text(&e.collateral);
            // The worker's signed bid set the deadline it promised.
            job.deadline = e.deadline;
            job.state = JobState::Assigned;
        }
        Event::ResultSubmitted(e) => {
            job.commitment = Some(hex(e.commitment));
            job.challenge_ends_at = Some(e.challenge_ends_at);
            job.state = JobState::Submitted;
        }
        // Revealing moves no state: the job stays Submitted or Disputed.
        Event::ResultRevealed(e) => job.result_hash = Some(hex(e.result_hash)),
        Event::JobCompleted(e) => {
            job.payout = Some(units(&e.payout)?);
            job.fee = Some(units(&e.fee)?);
            job.state = JobState::Completed;
        }
        Event::JobCancelled(e) => {
            job.refund = Some(units(&e.refund)?);
            job.state = JobState::Cancelled;
        }
        Event::JobTimedOut(e) => {
            job.refund = Some(units(&e.refund)?);
            job.slashed = Some(units(&e.slashed)?);
            job.state = JobState::TimedOut;
        }
        Event::JobDisputed(e) => {
            job.dispute_id = Some(e.dispute_id);
            job.state = JobState::Disputed;
        }
        Event::JobRefunded(e) => {
            job.refund = Some(units(&e.refund)?);
            job.state = JobState::Refunded;
        }
        Event::FeeUpdated(_)
        | Event::TimeoutSlashUpdated(_)
        | Event::DisputeBondUpdated(_)
        | Event::TreasuryUpdated(_)
        | Event::DisputesUpdated(_)
        | Event::Deposited(_)
        | Event::WithdrawalRequested(_)
        | Event::Withdrawn(_)
        | Event::JobSettled(_)
        | Event::AdminEvent(_) => return Ok(()),
    }
    job.updated_at = at.timestamp;
    job.updated_block = at.block_number;
    Ok(())
}
