//! A client's side: creating slots, assigning them, and settling each once the job ends.

use super::*;

impl Settler {
    pub(super) async fn create_slots(
        &self,
        job: JobId,
        count: u8,
        terms: &JobTerms,
    ) -> Result<Vec<u64>, ChainError> {
        // The escrow's job count before sending tells a retry after an answer lost in an
        // outage whether the slots were created already: they are the jobs after it whose
        // spec hash is this job's id.
        let _one_at_a_time = self.serially().await;
        let before = self
            .retry("JobEscrow.job_count", || self.session.job_count())
            .await?;
        let mut attempts = Attempts::new(self, job, 0);
        loop {
            match self.session.job_create_many(terms, count, true).await {
                Ok((ids, _)) => {
                    attempts.through();
                    return Ok(ids);
                }
                Err(e) if e.is_transient() => {
                    attempts.failed("JobEscrow.create_many", &e).await;
                    if let Ok(ids) = self.created_since(before, job).await {
                        if !ids.is_empty() {
                            attempts.through();
                            return Ok(ids);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// This client's escrow jobs for `job` created after the first `before`.
    pub(super) async fn created_since(
        &self,
        before: u64,
        job: JobId,
    ) -> Result<Vec<u64>, ChainError> {
        let count = self.session.job_count().await?;
        let mut ids = Vec::new();
        for id in before + 1..=count {
            let slot = self.session.job_status(id).await?;
            if slot.client.0 == self.session.me() && slot.spec_hash == felt_of(&job) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn client_job(
        &self,
        job: JobId,
        count: u8,
        reward: u128,
        capability: String,
        deadline_ms: u64,
        mut inbox: mpsc::UnboundedReceiver<ToChain>,
    ) {
        let refuse = |message: String| {
            tracing::warn!(%job, "{message}");
            let _ = self.out.send(FromChain::Refused { job, message });
        };
        let capability = match units::capability(&capability) {
            Ok(c) => c,
            Err(e) => return refuse(e.to_string()),
        };
        let left_ms = deadline_ms.saturating_sub(crate::clock::now_ms());
        let terms = JobTerms {
            spec_hash: felt_of(&job),
            reward,
            capability,
            deadline_in: left_ms.div_ceil(1000) + self.settings.settle_margin_secs,
            challenge_window: self.settings.challenge_window_secs,
            collateral: self.settings.collateral,
        };
        let mut slots: Vec<(u64, Option<PeerId>)> =
            match self.create_slots(job, count, &terms).await {
                Ok(ids) => ids.into_iter().map(|id| (id, None)).collect(),
                Err(e) => return refuse(format!("creating the escrow: {e}")),
            };
        let _ = self.out.send(FromChain::Slots {
            job,
            escrow_ids: slots.iter().map(|(id, _)| *id).collect(),
        });
        tracing::info!(%job, slots = ?slots.iter().map(|s| s.0).collect::<Vec<_>>(), "escrow created");

        let (expected, verdicts) = loop {
            match inbox.recv().await {
                Some(ToChain::Assigned { worker, bid, .. }) => {
                    let escrow_id = match slots.iter_mut().find(|(_, w)| w.is_none()) {
                        Some((id, w)) => {
                            *w = Some(worker);
                            *id
                        }
                        None => match self.create_slots(job, 1, &terms).await {
                            Ok(ids) => {
                                let _ = self.out.send(FromChain::Slots {
                                    job,
                                    escrow_ids: ids.clone(),
                                });
                                slots.push((ids[0], Some(worker)));
                                ids[0]
                            }
                            Err(e) => {
                                refuse(format!("another escrow slot: {e}"));
                                continue;
                            }
                        },
                    };
                    match self.assign(job, escrow_id, &bid).await {
                        Ok(()) => {
                            let _ = self.out.send(FromChain::Escrowed {
                                job,
                                worker,
                                escrow_id,
                            });
                        }
                        Err(e) => {
                            // The slot stays with nobody on chain; it is cancelled at the end.
                            if let Some(slot) = slots.iter_mut().find(|(id, _)| *id == escrow_id) {
                                slot.1 = None;
                            }
                            refuse(format!("assigning {worker} on chain: {e}"));
                        }
                    }
                }
                Some(ToChain::Finished {
                    expected, verdicts, ..
                }) => break (expected, verdicts),
                Some(_) => {}
                // The node stopped: settle nothing more.
                None => return,
            }
        };

        let verdicts: HashMap<PeerId, Verdict> = verdicts.into_iter().collect();
        let settling = slots.iter().map(|(escrow_id, worker)| {
            let verdict = worker
                .and_then(|w| verdicts.get(&w).cloned())
                .unwrap_or(Verdict::NoResult);
            self.settle_slot(job, *escrow_id, *worker, expected, verdict)
        });
        let reports = futures::future::join_all(settling).await;
        tracing::info!(%job, ?reports, "escrow settled");
        let _ = self.out.send(FromChain::Settled {
            job,
            slots: reports,
        });
    }

    /// Assigns escrow job `escrow_id` to the worker that signed `bid`; through already if
    /// an earlier try landed.
    pub(super) async fn assign(
        &self,
        job: JobId,
        escrow_id: u64,
        bid: &bid::SignedBid,
    ) -> Result<(), ChainError> {
        let _one_at_a_time = self.serially().await;
        let mut attempts = Attempts::new(self, job, escrow_id);
        self.retry_as(&mut attempts, "JobEscrow.assign", || async {
            let slot = self.session.job_status(escrow_id).await?;
            match slot.state {
                JobState::Open => {
                    self.session.job_assign(escrow_id, bid).await?;
                    Ok(())
                }
                _ if slot.worker.0 == bid.worker => Ok(()),
                other => Err(ChainError::Input(format!(
                    "escrow job {escrow_id} is {other:?}"
                ))),
            }
        })
        .await
    }

    /// Drives one slot to its end (see the module docs). Deadlines are compared with the
    /// chain's clock, the one the escrow reads; failures are retried per slot with backoff
    /// and reported stuck past the limit ([`Attempts`]), never dropped.
    pub(super) async fn settle_slot(
        &self,
        job: JobId,
        escrow_id: u64,
        worker: Option<PeerId>,
        expected: Option<Hash>,
        verdict: Verdict,
    ) -> SlotReport {
        const READ: &str = "JobEscrow.job";
        let mut tx_hash = None;
        let report = |state: SlotState, tx_hash: Option<Felt>| SlotReport {
            escrow_id,
            worker,
            state,
            tx_hash: tx_hash.map(|h| format!("{h:#x}")),
            acceptance: None,
        };
        let mut attempts = Attempts::new(self, job, escrow_id);
        loop {
            let slot = match self.session.job_status(escrow_id).await {
                Ok(slot) => slot,
                Err(e) if e.is_transient() => {
                    attempts.failed(READ, &e).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(escrow_id, "reading the escrow job: {e}");
                    return report(SlotState::Stuck, tx_hash);
                }
            };
            // What to send now, if anything; `None` waits for the chain's clock.
            let clock = match slot.state {
                JobState::Assigned => match self.session.clock().await {
                    Ok(clock) => clock,
                    Err(e) => {
                        attempts.failed("the chain's clock", &e).await;
                        continue;
                    }
                },
                _ => 0,
            };
            let unconfirmed = worker.map(|worker| no_agreement_evidence(&job, worker));
            let committed = Committed {
                commitment: slot.commitment,
                worker: slot.worker.0,
            };
            let (what, action) = match slot_step(
                slot.state.clone(),
                clock > slot.deadline,
                committed,
                &verdict,
                expected,
                unconfirmed,
            ) {
                SlotStep::Send(what, action) => (what, action),
                SlotStep::Wait => {
                    attempts
                        .wait_for_clock("JobEscrow.claim_timeout", slot.deadline, clock)
                        .await;
                    continue;
                }
                SlotStep::Done(state) => return report(state, tx_hash),
            };
            let sent = self
                .send_while(escrow_id, slot.state, || async {
                    let receipt = match action {
                        Action::Cancel => self.session.job_cancel(escrow_id).await?,
                        Action::Timeout => self.session.job_timeout(escrow_id).await?,
                        Action::Accept => self.session.job_accept(escrow_id).await?,
                        Action::Dispute(evidence) => {
                            let (dispute_id, receipt) =
                                self.session.job_dispute(escrow_id, evidence).await?;
                            if let Some(worker) = worker {
                                let _ = self.out.send(FromChain::Disputed {
                                    job,
                                    escrow_id,
                                    dispute_id,
                                    worker,
                                });
                            }
                            receipt
                        }
                    };
                    Ok(receipt.hash)
                })
                .await;
            match sent {
                Ok(sent) => {
                    attempts.through();
                    if let Some(hash) = sent {
                        tx_hash = Some(hash);
                        self.publish_reputation(hash).await;
                    }
                }
                // The chain's clock read past the deadline, the block it lands in did not.
                Err(e) if e.is_transient() || e.is_revert(reverts::escrow::DEADLINE_NOT_PASSED) => {
                    attempts.failed(what, &e).await
                }
                Err(e) => {
                    tracing::warn!(escrow_id, "{what}: {e}");
                    return report(SlotState::Stuck, tx_hash);
                }
            }
        }
    }
}
