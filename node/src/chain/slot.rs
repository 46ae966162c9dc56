//! A client's decision for one slot, as a pure function of its state on chain and the
//! job's verdict.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    Cancel,
    Timeout,
    Accept,
    Dispute(Felt),
}

/// The client's next step for one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SlotStep {
    /// Send this transaction.
    Send(&'static str, Action),
    /// Wait for the chain to move (the deadline has not passed yet).
    Wait,
    /// Nothing more to send: the slot ends in this state.
    Done(SlotState),
}

/// The evidence hash for a slot whose worker delivered nothing the client could confirm:
/// the record names the worker with no claimed and no accepted result.
pub(super) fn no_agreement_evidence(job: &JobId, worker: PeerId) -> Felt {
    felt_of(&crate::job::evidence_hash(job, &worker, None, None))
}

/// What a slot's worker committed to on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Committed {
    pub(super) commitment: Felt,
    pub(super) worker: Felt,
}

/// Decides a client's next step for a slot from its state on chain and the job's verdict.
///
/// - Open: cancel (the reward comes back). Assigned: claim the timeout once the deadline
///   passed.
/// - Submitted, its worker's result the agreed one: accept when the commitment on chain
///   opens to it with the salt the worker sent. Otherwise dispute, naming the verification
///   failure when there is one, else the agreed result: a worker that delivered nothing
///   (or something else) is never paid for a commitment, even one that opens to the agreed
///   result because it copied it.
/// - Submitted with no agreed result (no k workers agreed): dispute with the worker's
///   failure record, or `unconfirmed` (a record of no result) when it delivered nothing.
///   Letting such a slot finalize would pay whatever hash the worker put on chain.
/// - Any other state is the end.
pub(super) fn slot_step(
    state: JobState,
    deadline_passed: bool,
    committed: Committed,
    verdict: &Verdict,
    expected: Option<Hash>,
    unconfirmed: Option<Felt>,
) -> SlotStep {
    const DISPUTE: &str = "JobEscrow.dispute";
    let opens_to_agreed = |result: &Hash, salt: &[u8; 32]| {
        let opening = opening_of(result, salt);
        expected == Some(*result) && opening.opens(committed.commitment, committed.worker)
    };
    match state {
        JobState::Open => SlotStep::Send("JobEscrow.cancel", Action::Cancel),
        JobState::Assigned if deadline_passed => {
            SlotStep::Send("JobEscrow.claim_timeout", Action::Timeout)
        }
        JobState::Assigned => SlotStep::Wait,
        JobState::Submitted => match (verdict, expected) {
            (Verdict::Agreed { result, salt }, _) if opens_to_agreed(result, salt) => {
                SlotStep::Send("JobEscrow.accept", Action::Accept)
            }
            (Verdict::Wrong { evidence }, _) => {
                SlotStep::Send(DISPUTE, Action::Dispute(felt_of(evidence)))
            }
            // A hash on chain that is not the one the worker committed to us, or a result
            // we never received: the evidence is the agreed result.
            (_, Some(agreed)) => SlotStep::Send(DISPUTE, Action::Dispute(felt_of(&agreed))),
            (_, None) => match unconfirmed {
                Some(evidence) => SlotStep::Send(DISPUTE, Action::Dispute(evidence)),
                // A slot recovered after a restart, with no record of its job: the window
                // runs out and the worker finalizes.
                None => SlotStep::Done(SlotState::Submitted),
            },
        },
        JobState::Disputed => SlotStep::Done(SlotState::Disputed),
        JobState::Completed => SlotStep::Done(SlotState::Completed),
        JobState::Refunded => SlotStep::Done(SlotState::Refunded),
        JobState::Cancelled => SlotStep::Done(SlotState::Cancelled),
        JobState::None => SlotStep::Done(SlotState::Unknown),
    }
}
