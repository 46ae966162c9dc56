//! An arbitrator's side: checking a dispute's evidence against the chain, and voting.

use super::*;

impl Settler {
    /// Checks `evidence` against the chain: the dispute is open and names this escrow job,
    /// this arbitrator has not voted, the escrow job is the evidence's job, and the
    /// dispute's evidence hash is this record's. Returns the worker's result hash once it
    /// is revealed, or zero (judged wrong) if it is not within the first half of the
    /// voting period.
    pub(super) async fn check_evidence(&self, evidence: &Evidence) -> Result<Felt, EvidenceError> {
        let reader = disputes::DisputesReader::new(
            self.session.deployment.address(Contract::Disputes)?,
            self.session.chain.rpc(),
        );
        let dispute = self
            .retry("Disputes.dispute", || {
                self.session.dispute_status(evidence.dispute_id)
            })
            .await?;
        if dispute.status != DisputeStatus::Open {
            return Err(EvidenceError::NotOpen(evidence.dispute_id));
        }
        if dispute.job_id != evidence.escrow_id {
            return Err(EvidenceError::OtherEscrowJob);
        }
        let voted = self
            .retry("Disputes.has_voted", || async {
                reader
                    .has_voted(
                        &evidence.dispute_id,
                        &cainome::cairo_serde::ContractAddress(self.session.me()),
                    )
                    .call()
                    .await
                    .map_err(|e| self.session.chain.error("Disputes.has_voted", e))
            })
            .await?;
        if voted {
            return Err(EvidenceError::AlreadyVoted);
        }
        let slot = self.slot(evidence.escrow_id).await?;
        if slot.spec_hash != felt_of(&evidence.job_id) {
            return Err(EvidenceError::OtherJob);
        }
        let worker = PeerId::from_bytes(&evidence.worker)
            .map_err(|e| EvidenceError::BadWorker(e.to_string()))?;
        let record = crate::job::evidence_hash(
            &evidence.job_id,
            &worker,
            evidence.claimed,
            evidence.accepted,
        );
        let named = [
            Some(felt_of(&record)),
            evidence.accepted.as_ref().map(felt_of),
        ];
        if !named.contains(&Some(dispute.evidence_hash)) {
            return Err(EvidenceError::OtherRecord);
        }
        let reveal_by =
            dispute.opened_at + dispute.voting_ends_at.saturating_sub(dispute.opened_at) / 2;
        let mut slot = slot;
        while slot.result_hash == Felt::ZERO && self.not_before_now().await <= reveal_by {
            tokio::time::sleep(self.settings.poll).await;
            slot = self.slot(evidence.escrow_id).await?;
        }
        Ok(slot.result_hash)
    }

    pub(super) async fn vote(&self, dispute_id: u64, worker_right: bool) {
        let sent = self
            .send("Disputes.vote", || async {
                Ok(self
                    .session
                    .dispute_vote(dispute_id, worker_right)
                    .await?
                    .hash)
            })
            .await;
        match sent {
            Ok(hash) => {
                tracing::info!(dispute_id, worker_right, "voted");
                self.publish_reputation(hash).await;
                let _ = self.out.send(FromChain::Voted {
                    dispute_id,
                    worker_right,
                });
            }
            Err(e) => tracing::warn!(dispute_id, "voting: {e}"),
        }
    }
}
