//! Reputation events: the contract's own counters, and the outcomes the score is made of.

use ciro_bindings::contracts::reputation::Event;
use ciro_bindings::units::capability_name;

use super::{units, Location, Refs};
use crate::error::Result;
use crate::model::{hex, ScorePoint, Worker};
use crate::score::Outcome;

/// The event's name.
pub fn name(e: &Event) -> &'static str {
    match e {
        Event::ReputationUpdated(_) => "ReputationUpdated",
        Event::AdminEvent(_) => "Admin",
    }
}

/// The worker.
pub fn refs(e: &Event) -> Refs {
    match e {
        Event::ReputationUpdated(e) => Refs {
            worker: Some(e.worker.0),
            ..Refs::default()
        },
        Event::AdminEvent(_) => Refs::default(),
    }
}

/// Takes the contract's record as it is after the event, and folds the outcome into the
/// score (see `score`). A reason the score does not know changes only the counters.
pub fn apply_worker(w: &mut Worker, e: &Event, at: &Location) -> Result<()> {
    let Event::ReputationUpdated(e) = e else {
        return Ok(());
    };
    w.jobs_completed = e.new.jobs_completed;
    w.jobs_failed = e.new.jobs_failed;
    w.disputes_won = e.new.disputes_won;
    w.disputes_lost = e.new.disputes_lost;
    w.total_earned = units(&e.new.total_earned)?;
    let reason = capability_name(e.reason);
    match Outcome::from_reason(&reason) {
        Some(outcome) => {
            // A batch records all the jobs it paid a worker in one event: each one counts.
            let times = match outcome {
                Outcome::JobsCompleted => e.new.jobs_completed.saturating_sub(e.old.jobs_completed),
                _ => 1,
            };
            w.score_state.record_many(outcome, at.timestamp, times);
            w.new_points.push(ScorePoint {
                reason,
                score: w.score_state.score(),
                block_number: at.block_number,
                tx_hash: hex(at.tx_hash),
                tx_index: at.tx_index,
                event_index: at.event_index,
                timestamp: at.timestamp,
            });
        }
        None => {
            tracing::warn!(worker = %w.address, %reason, "reputation reason unknown to the score")
        }
    }
    Ok(())
}
