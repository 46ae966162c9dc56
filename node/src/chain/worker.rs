//! A worker's side: submitting its commitment, finalizing after a silent client, and
//! revealing when disputed.

use super::*;

impl Settler {
    /// Commits the worker's result to its slot, then watches it (see
    /// [`Self::finalize_when_due`]). A failure is retried, and reported stuck past the
    /// limit, for as long as the slot is assigned to this worker: giving up would forfeit
    /// the pay and the collateral of work already done.
    pub(super) async fn submit(&self, job: JobId, escrow_id: u64, opening: Opening) {
        const STEP: &str = "JobEscrow.submit_result";
        let me = self.session.me();
        let mut attempts = Attempts::new(self, job, escrow_id);
        loop {
            let slot = match self.session.job_status(escrow_id).await {
                Ok(slot) => slot,
                Err(e) if e.is_transient() => {
                    attempts.failed("JobEscrow.job", &e).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(%job, escrow_id, "the client named an escrow job that cannot be read: {e}");
                    return;
                }
            };
            if slot.worker.0 != me || slot.spec_hash != felt_of(&job) {
                tracing::warn!(%job, escrow_id, "the client named an escrow job that is not this worker's for this job");
                return;
            }
            if slot.state != JobState::Assigned {
                break;
            }
            match self
                .send_while(escrow_id, JobState::Assigned, || {
                    self.session.job_submit(escrow_id, &opening)
                })
                .await
            {
                Ok(_) => break,
                Err(e) if e.is_transient() => attempts.failed(STEP, &e).await,
                Err(e) => {
                    tracing::warn!(%job, escrow_id, "submitting the result: {e}");
                    return;
                }
            }
        }
        attempts.through();
        drop(attempts);
        tracing::info!(%job, escrow_id, "result committed on chain");
        let _ = self.out.send(FromChain::Submitted { job, escrow_id });
        self.finalize_when_due(job, escrow_id, Some(opening)).await;
    }

    /// Watches a submitted slot: if the client disputes it, the worker reveals its result
    /// for the arbitrators at once; if the client neither accepts nor disputes within the
    /// challenge window (by the chain's clock), the worker reveals and finalizes it in one
    /// transaction and is paid. Without the `opening` (a slot an earlier run submitted),
    /// only a revealed slot can be finalized.
    pub(super) async fn finalize_when_due(
        &self,
        job: JobId,
        escrow_id: u64,
        opening: Option<Opening>,
    ) {
        const STEP: &str = "JobEscrow.finalize";
        let mut attempts = Attempts::new(self, job, escrow_id);
        loop {
            let slot = match self.session.job_status(escrow_id).await {
                Ok(slot) => slot,
                Err(e) if e.is_transient() => {
                    attempts.failed("JobEscrow.job", &e).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(escrow_id, "watching the submission: {e}");
                    return;
                }
            };
            let revealed = slot.result_hash != Felt::ZERO;
            if slot.state == JobState::Disputed && !revealed {
                if let Some(opening) = &opening {
                    self.reveal_disputed(job, escrow_id, opening).await;
                }
            }
            if slot.state != JobState::Submitted {
                let _ = self.out.send(FromChain::WorkSettled {
                    job,
                    disputed: slot.state == JobState::Disputed,
                });
                return;
            }
            // Finalizing reveals the result in the same transaction, unless it is already.
            let opening = match (revealed, &opening) {
                (true, _) => None,
                (false, Some(opening)) => Some(opening),
                (false, None) => {
                    tracing::warn!(
                        escrow_id,
                        "an earlier run committed this slot's result: without its opening it cannot be revealed"
                    );
                    return;
                }
            };
            let due = slot.submitted_at.saturating_add(slot.challenge_window);
            let clock = match self.session.clock().await {
                Ok(clock) => clock,
                Err(e) => {
                    attempts.failed("the chain's clock", &e).await;
                    continue;
                }
            };
            if clock <= due {
                attempts.wait_for_clock(STEP, due, clock).await;
                continue;
            }
            match self
                .send_while(escrow_id, JobState::Submitted, || {
                    self.session.job_finalize(escrow_id, opening)
                })
                .await
            {
                Ok(Some(receipt)) => {
                    attempts.through();
                    tracing::info!(%job, escrow_id, "finalized after the challenge window");
                    self.publish_reputation(receipt.hash).await;
                    let _ = self.out.send(FromChain::Finalized { job, escrow_id });
                    return;
                }
                Ok(None) => attempts.through(),
                Err(e) if e.is_transient() || e.is_revert(reverts::escrow::WINDOW_OPEN) => {
                    attempts.failed(STEP, &e).await
                }
                Err(e) => {
                    tracing::warn!(escrow_id, "finalizing: {e}");
                    return;
                }
            }
        }
    }

    /// Reveals a disputed slot's result for the arbitrators, if nobody did yet.
    pub(super) async fn reveal_disputed(&self, job: JobId, escrow_id: u64, opening: &Opening) {
        let sent = self
            .send("JobEscrow.reveal", || async {
                let slot = self.session.job_status(escrow_id).await?;
                if slot.state != JobState::Disputed || slot.result_hash != Felt::ZERO {
                    return Ok(None);
                }
                self.session.job_reveal(escrow_id, opening).await.map(Some)
            })
            .await;
        match sent {
            Ok(Some(_)) => tracing::info!(%job, escrow_id, "revealed the disputed result"),
            Ok(None) => {}
            Err(e) => tracing::warn!(escrow_id, "revealing the disputed result: {e}"),
        }
    }
}
