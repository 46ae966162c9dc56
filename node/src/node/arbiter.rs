//! The arbitrator role: fetching a disputed job, running it again, and voting.

use super::*;

/// A dispute this node arbitrates: the evidence, and the job's module and input as they
/// arrive from the client.
pub(super) struct Arbitration {
    pub(super) evidence: protocol::Evidence,
    pub(super) worker_result: starknet::core::types::Felt,
    pub(super) blobs: HashMap<Hash, Arc<Vec<u8>>>,
}

impl Node {
    /// A client's evidence of a dispute. It must name the client's own job; an arbitrator
    /// asks the chain whether the dispute is real and open before fetching anything.
    pub(super) fn on_evidence(
        &mut self,
        client: PeerId,
        evidence: protocol::Evidence,
    ) -> MessageAcceptance {
        if !evidence.names_its_job(&client) {
            self.penalize(client, "bad-evidence");
            return MessageAcceptance::Reject;
        }
        let arbitrating = self
            .chain
            .as_ref()
            .filter(|_| self.config.chain.as_ref().is_some_and(|c| c.arbitrate));
        if let Some(link) = arbitrating {
            if !self.arbitrations.contains_key(&evidence.dispute_id) {
                let _ = link.to.send(ToChain::Arbitrate { client, evidence });
            }
        }
        MessageAcceptance::Accept
    }

    /// The chain confirmed the evidence: fetch the job from its client and run it.
    pub(super) fn on_rerun_wanted(
        &mut self,
        client: PeerId,
        evidence: protocol::Evidence,
        worker_result: starknet::core::types::Felt,
    ) {
        if self.arbitrations.contains_key(&evidence.dispute_id) {
            return;
        }
        for addr in addrs_from_wire(&evidence.addrs) {
            self.swarm.add_peer_address(client, addr);
        }
        for hash in [evidence.module, evidence.input] {
            let id = self.swarm.behaviour_mut().jobs.send_request(
                &client,
                Request::Fetch {
                    job_id: evidence.job_id,
                    hash,
                },
            );
            self.pending.insert(
                id,
                Pending::Evidence {
                    dispute_id: evidence.dispute_id,
                    hash,
                    from_worker: false,
                },
            );
        }
        self.arbitrations.insert(
            evidence.dispute_id,
            Arbitration {
                evidence,
                worker_result,
                blobs: HashMap::new(),
            },
        );
    }

    /// A blob of a disputed job, or a refusal: from the client, then from the worker.
    pub(super) fn on_evidence_reply(
        &mut self,
        dispute_id: u64,
        hash: Hash,
        from_worker: bool,
        response: Result<Response, ()>,
    ) {
        match (response, from_worker) {
            (Ok(Response::Blob(blob)), _) => self.off_loop(move || Internal::EvidenceBlob {
                dispute_id,
                hash,
                genuine: Hash::of(&blob) == hash,
                blob: Arc::new(blob),
            }),
            (_, false) => {
                tracing::info!(
                    dispute_id,
                    "the client did not hand over the disputed job; asking the worker"
                );
                self.fetch_evidence_from_worker(dispute_id, hash);
            }
            (_, true) => {
                tracing::warn!(
                    dispute_id,
                    "neither the client nor the worker handed over the disputed job"
                );
                self.arbitrations.remove(&dispute_id);
            }
        }
    }

    /// A fetched blob of a disputed job, checked against its hash on a blocking thread.
    pub(super) fn on_evidence_blob(
        &mut self,
        dispute_id: u64,
        hash: Hash,
        blob: Arc<Vec<u8>>,
        genuine: bool,
    ) {
        let Some(arbitration) = self.arbitrations.get_mut(&dispute_id) else {
            return;
        };
        if !genuine {
            tracing::warn!(
                dispute_id,
                "the client handed over a blob that is not the job's"
            );
            return;
        }
        arbitration.blobs.insert(hash, blob);
        let e = &arbitration.evidence;
        let (Some(module), Some(input)) = (
            arbitration.blobs.get(&e.module).cloned(),
            arbitration.blobs.get(&e.input).cloned(),
        ) else {
            return;
        };
        let limits = e.limits;
        let sandbox = self.sandbox.clone();
        self.off_loop(move || {
            let (outcome, _) = hashed_run(sandbox.run(&module, &input, &limits));
            Internal::Rerun {
                dispute_id,
                outcome,
            }
        });
    }

    /// Asks the disputed worker for a blob of the job the client did not hand over, at the
    /// addresses its own capability ad gave (not the client's word for them).
    pub(super) fn fetch_evidence_from_worker(&mut self, dispute_id: u64, hash: Hash) {
        let Some(arbitration) = self.arbitrations.get(&dispute_id) else {
            return;
        };
        if arbitration.blobs.contains_key(&hash) {
            return;
        }
        let Ok(worker) = PeerId::from_bytes(&arbitration.evidence.worker) else {
            self.arbitrations.remove(&dispute_id);
            return;
        };
        let job_id = arbitration.evidence.job_id;
        if let Some(ad) = self.ads.get(&worker, Instant::now()) {
            for addr in addrs_from_wire(&ad.addrs) {
                self.swarm.add_peer_address(worker, addr);
            }
        }
        let id = self
            .swarm
            .behaviour_mut()
            .jobs
            .send_request(&worker, Request::Fetch { job_id, hash });
        self.pending.insert(
            id,
            Pending::Evidence {
                dispute_id,
                hash,
                from_worker: true,
            },
        );
    }

    /// The arbitrator's own result: the worker was right if it submitted this hash.
    pub(super) fn on_rerun(&mut self, dispute_id: u64, outcome: Hashed) {
        let Some(arbitration) = self.arbitrations.get(&dispute_id) else {
            return;
        };
        let worker_right = crate::chain::felt_of(&outcome.hash()) == arbitration.worker_result;
        tracing::info!(dispute_id, worker_right, "re-ran a disputed job");
        if let Some(link) = &self.chain {
            let _ = link.to.send(ToChain::Vote {
                dispute_id,
                worker_right,
            });
        }
    }
}
