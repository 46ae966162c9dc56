//! Disputes events: each dispute's votes and ruling.

use ciro_bindings::contracts::disputes::{Event, Ruling};

use super::{units, Location, Refs};
use crate::error::{IndexerError, Result};
use crate::model::{hex, Dispute, DisputeStatus};

/// The event's name.
pub fn name(e: &Event) -> &'static str {
    match e {
        Event::DisputeOpened(_) => "DisputeOpened",
        Event::Voted(_) => "Voted",
        Event::DisputeResolved(_) => "DisputeResolved",
        Event::ArbitratorAdded(_) => "ArbitratorAdded",
        Event::ArbitratorRemoved(_) => "ArbitratorRemoved",
        Event::QuorumUpdated(_) => "QuorumUpdated",
        Event::VotingPeriodUpdated(_) => "VotingPeriodUpdated",
        Event::AdminEvent(_) => "Admin",
    }
}

/// The dispute, its job and, when opened, its worker.
pub fn refs(e: &Event) -> Refs {
    match e {
        Event::DisputeOpened(e) => Refs {
            worker: Some(e.worker.0),
            job_id: Some(e.job_id),
            dispute_id: Some(e.dispute_id),
        },
        Event::Voted(e) => Refs {
            dispute_id: Some(e.dispute_id),
            ..Refs::default()
        },
        Event::DisputeResolved(e) => Refs {
            worker: None,
            job_id: Some(e.job_id),
            dispute_id: Some(e.dispute_id),
        },
        _ => Refs::default(),
    }
}

/// The ruling's served name.
pub fn ruling_name(r: &Ruling) -> &'static str {
    match r {
        Ruling::WorkerRight => "worker",
        Ruling::ClientRight => "client",
    }
}

/// Moves the dispute: opened, voted, resolved.
pub fn apply_dispute(d: &mut Dispute, e: &Event, at: &Location) -> Result<()> {
    match e {
        Event::DisputeOpened(e) => {
            *d = Dispute {
                dispute_id: e.dispute_id,
                job_id: e.job_id,
                client: hex(e.client.0),
                worker: hex(e.worker.0),
                evidence_hash: hex(e.evidence_hash),
                voting_ends_at: e.voting_ends_at,
                bond: Some(units(&e.bond)?),
                status: DisputeStatus::Open,
                opened_at: at.timestamp,
                opened_block: at.block_number,
                ..Dispute::default()
            };
        }
        Event::Voted(e) => {
            opened(d, "Voted", at)?;
            d.votes_worker = e.votes_worker.into();
            d.votes_client = e.votes_client.into();
        }
        Event::DisputeResolved(e) => {
            opened(d, "DisputeResolved", at)?;
            d.status = DisputeStatus::Resolved;
            d.ruling = Some(ruling_name(&e.ruling).to_owned());
            d.by_timeout = Some(e.by_timeout);
            d.payout = Some(units(&e.payout)?);
            d.slashed_to_treasury = Some(units(&e.slashed_to_treasury)?);
            d.resolved_at = Some(at.timestamp);
        }
        _ => return Ok(()),
    }
    d.updated_block = at.block_number;
    Ok(())
}

fn opened(d: &Dispute, event: &str, at: &Location) -> Result<()> {
    if d.opened_block == 0 && d.client.is_empty() {
        return Err(IndexerError::Corrupt(format!(
            "{event} for dispute {} at block {} without its DisputeOpened",
            d.dispute_id, at.block_number
        )));
    }
    Ok(())
}
