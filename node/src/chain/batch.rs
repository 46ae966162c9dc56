//! Settling from a deposit: a client's jobs paid with signed acceptances, checked by the
//! worker that holds them, and paid many to a transaction by `settle_batch`.
//!
//! A client holds the rewards of its jobs in flight against its deposit, topping the
//! deposit up when they need more, so it never signs an acceptance its deposit cannot pay.
//! It answers each bid with its backing, and a worker runs nothing before it has checked
//! that the backing's account has a deposit that can pay the job on top of what that
//! client owes it already.
//! When a job ends it signs one acceptance per worker whose result is the agreed one (the
//! acceptance names the worker's commitment to that result) and hands it to the worker. A
//! worker checks it against the chain before counting on it: the client account's
//! signature, that it is unused, that the deposit can pay it and that its fee clears the
//! escrow's floor. Acceptances wait in the batcher until [`Batching::max_jobs`] are queued
//! or the oldest has waited [`Batching::max_wait`]; a client with a withdrawal pending
//! has its acceptances paid at once. The client watches each of its acceptances until a
//! batch pays it, and pays it itself after [`Batching::fallback`], so a worker that
//! vanishes with an acceptance still gets paid.

use std::time::Instant;

use super::*;

/// An acceptance waiting for a batch, and the job it pays for.
pub(super) struct Queued {
    pub(super) job: JobId,
    pub(super) acceptance: SignedAcceptance,
    /// Its client asked to withdraw: pay it now.
    pub(super) urgent: bool,
}

/// The nonce of a client's acceptance of `worker`'s result for `job`: one per job and
/// worker.
pub(super) fn acceptance_nonce(job: &JobId, worker: Felt) -> Felt {
    felt_of(&Hash::of(
        &[job.0.as_slice(), &worker.to_bytes_be()].concat(),
    ))
}

impl Settler {
    /// A client's job paid from its deposit (see the module docs).
    pub(super) async fn client_job_batched(
        &self,
        job: JobId,
        count: u8,
        reward: u128,
        capability: String,
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
        let mut held = reward.saturating_mul(count.into());
        if let Err(e) = self.hold(held).await {
            return refuse(format!("holding the rewards in the deposit: {e}"));
        }
        let _ = self.out.send(FromChain::Funded { job });
        // Settlements of this job's acceptances come later than this block.
        let from_block = self
            .retry("block number", || async {
                self.session
                    .chain
                    .rpc()
                    .block_number()
                    .await
                    .map_err(|e| self.session.chain.error("starknet_blockNumber", e))
            })
            .await
            .unwrap_or(0);

        let mut accounts: HashMap<PeerId, Felt> = HashMap::new();
        let verdicts = loop {
            match inbox.recv().await {
                Some(ToChain::Assigned { worker, bid, .. }) => {
                    accounts.insert(worker, bid.worker);
                    // A replacement or extra worker beyond the first `count` may be paid too.
                    if accounts.len() > count as usize {
                        match self.hold(reward).await {
                            Ok(()) => held += reward,
                            Err(e) => refuse(format!("holding another reward: {e}")),
                        }
                    }
                }
                Some(ToChain::Finished { verdicts, .. }) => break verdicts,
                Some(_) => {}
                // The node stopped: nothing was promised.
                None => return self.release(held).await,
            }
        };

        self.pay_from_deposit(
            job, capability, reward, &accounts, verdicts, held, from_block,
        )
        .await;
    }

    /// Signs an acceptance for each worker whose result is the agreed one (`accounts`: the
    /// account each worker's consent named), hands it to the worker, and waits until a
    /// batch pays it (or pays it itself after the fallback); reports the job settled. `held`
    /// is what the deposit holds for the job; what no acceptance was signed for is released
    /// at once, the rest once paid.
    ///
    /// An acceptance's nonce is a function of the job and the worker's account, so one
    /// signed again (by a run resuming a job its crashed run settled in part) is the same
    /// acceptance: the escrow pays it once.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn pay_from_deposit(
        &self,
        job: JobId,
        capability: Felt,
        reward: u128,
        accounts: &HashMap<PeerId, Felt>,
        verdicts: Vec<(PeerId, Verdict)>,
        held: u128,
        from_block: u64,
    ) {
        let refuse = |message: String| {
            tracing::warn!(%job, "{message}");
            let _ = self.out.send(FromChain::Refused { job, message });
        };
        let fee_bps = match self
            .retry("JobEscrow.fee_bps", || self.session.fee_bps())
            .await
        {
            Ok(fee) => fee,
            Err(e) => {
                self.release(held).await;
                return refuse(format!("reading the protocol fee: {e}"));
            }
        };
        let key = SigningKey::from_secret_scalar(self.settings.private_key);
        let mut reports = Vec::new();
        let mut accepted = Vec::new();
        for (worker, verdict) in verdicts {
            let unpaid = SlotReport {
                escrow_id: 0,
                worker: Some(worker),
                state: SlotState::Unpaid,
                tx_hash: None,
                acceptance: None,
            };
            let (Verdict::Agreed { result, salt }, Some(&account)) =
                (&verdict, accounts.get(&worker))
            else {
                reports.push(unpaid);
                continue;
            };
            let acceptance = Acceptance {
                worker: account,
                spec_hash: felt_of(&job),
                capability,
                amount: reward,
                fee_bps,
                commitment: opening_of(result, salt).commitment(account),
                nonce: acceptance_nonce(&job, account),
            };
            match self.session.sign_acceptance(acceptance, &key) {
                Ok(signed) => {
                    let _ = self.out.send(FromChain::Accepted {
                        job,
                        worker,
                        acceptance: signed.clone(),
                    });
                    accepted.push((worker, signed));
                }
                Err(e) => {
                    tracing::warn!(%job, %worker, "signing an acceptance: {e}");
                    reports.push(unpaid);
                }
            }
        }
        // What no acceptance was signed for goes back to the deposit's free part at once.
        let promised = reward * accepted.len() as u128;
        self.release(held.saturating_sub(promised)).await;
        tracing::info!(%job, accepted = accepted.len(), "results accepted from the deposit");

        let settling = accepted
            .iter()
            .map(|(worker, signed)| self.watch_acceptance(job, *worker, signed, from_block));
        reports.extend(futures::future::join_all(settling).await);
        self.release(promised).await;
        tracing::info!(%job, ?reports, "paid from the deposit");
        let _ = self.out.send(FromChain::Settled {
            job,
            slots: reports,
        });
    }

    /// Waits until a batch pays `signed`, and queues it for this client's own batch after
    /// [`Batching::fallback`]. Reports the transaction that paid it.
    async fn watch_acceptance(
        &self,
        job: JobId,
        worker: PeerId,
        signed: &SignedAcceptance,
        from_block: u64,
    ) -> SlotReport {
        let me = self.session.me();
        let nonce = signed.acceptance.nonce;
        let started = Instant::now();
        let mut queued = false;
        loop {
            match self.session.is_acceptance_used(me, nonce).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::debug!(%job, "reading an acceptance: {e}"),
            }
            if !queued && started.elapsed() >= self.settings.batching.fallback {
                tracing::info!(%job, %worker, "the worker has not settled its acceptance; settling it");
                queued = true;
                let _ = self.batch.send(Queued {
                    job,
                    acceptance: signed.clone(),
                    urgent: false,
                });
            }
            tokio::time::sleep(self.settings.poll).await;
        }
        let tx_hash = self
            .retry("JobSettled events", || {
                self.session
                    .settlement_tx(me, signed.acceptance.worker, nonce, from_block)
            })
            .await
            .ok()
            .flatten();
        SlotReport {
            escrow_id: 0,
            worker: Some(worker),
            state: SlotState::Completed,
            tx_hash: tx_hash.map(|h| format!("{h:#x}")),
            acceptance: Some(format!("{nonce:#x}")),
        }
    }

    /// Holds `amount` more of this client's deposit for jobs in flight, depositing first
    /// when the deposit cannot cover everything held.
    pub(super) async fn hold(&self, amount: u128) -> Result<(), ChainError> {
        let mut held = self.held.lock().await;
        let need = held.saturating_add(amount);
        let me = self.session.me();
        let (deposit, withdrawing, _) = self
            .retry("JobEscrow.deposit_of", || self.session.deposit_of(me))
            .await?;
        // What a withdrawal asked for is leaving: workers do not count on it.
        let available = deposit.saturating_sub(withdrawing);
        if available < need {
            let top_up = (need - available).max(self.settings.batching.deposit.unwrap_or(0));
            self.send("JobEscrow.deposit", || self.session.deposit(top_up, true))
                .await?;
            tracing::info!(
                deposited = top_up,
                "deposit topped up for the jobs in flight"
            );
        }
        *held = need;
        Ok(())
    }

    async fn release(&self, amount: u128) {
        let mut held = self.held.lock().await;
        *held = held.saturating_sub(amount);
    }

    /// A worker's check, before it runs a job, that the client's `backing` binds its peer
    /// to an account whose deposit (less any withdrawal it asked for) can pay `amount`.
    pub(super) async fn check_payer(
        &self,
        client: &PeerId,
        backing: &Backing,
        amount: u128,
    ) -> Result<Felt, PayerError> {
        let account = Felt::from_bytes_be(&backing.account);
        if !self.backs_peer(client, backing).await? {
            return Err(PayerError::NotSigned(account));
        }
        let (held, withdrawing, _) = self
            .retry("JobEscrow.deposit_of", || self.session.deposit_of(account))
            .await?;
        let available = held.saturating_sub(withdrawing);
        if available < amount {
            return Err(PayerError::Unfunded {
                available,
                needed: amount,
            });
        }
        Ok(account)
    }

    /// A worker's check of an acceptance it received, before counting on it: whether it
    /// pays, and whether its client asked to withdraw (then it is paid at once).
    pub(super) async fn check_acceptance(
        &self,
        signed: &SignedAcceptance,
    ) -> Result<bool, AcceptanceError> {
        let client = signed.client;
        let a = &signed.acceptance;
        let escrow = self
            .session
            .deployment
            .address(Contract::JobEscrow)
            .map_err(|e| ChainError::Input(e.to_string()))?;
        let hash = a
            .hash(self.session.chain.chain_id(), escrow, client)
            .map_err(|e| ChainError::Input(e.to_string()))?;
        if !self
            .is_valid_signature(client, hash, &signed.signature)
            .await?
        {
            return Err(AcceptanceError::NotSigned(client));
        }
        let used = self
            .retry("JobEscrow.is_acceptance_used", || {
                self.session.is_acceptance_used(client, a.nonce)
            })
            .await?;
        if used {
            return Err(AcceptanceError::Used);
        }
        let floor_bps = self
            .retry("JobEscrow.fee_floor_bps", || self.session.fee_floor_bps())
            .await?;
        if a.fee_bps < floor_bps {
            return Err(AcceptanceError::FeeBelowFloor {
                fee_bps: a.fee_bps,
                floor_bps,
            });
        }
        // A fee above the one jobs are agreed under would cut the worker's pay.
        let fee_bps = self
            .retry("JobEscrow.fee_bps", || self.session.fee_bps())
            .await?;
        if a.fee_bps > fee_bps {
            return Err(AcceptanceError::FeeAboveTerms {
                fee_bps: a.fee_bps,
                agreed_bps: fee_bps,
            });
        }
        let (held, withdrawing, _) = self
            .retry("JobEscrow.deposit_of", || self.session.deposit_of(client))
            .await?;
        if held < a.amount {
            return Err(AcceptanceError::Unfunded {
                held,
                amount: a.amount,
            });
        }
        Ok(withdrawing > 0)
    }

    /// Collects acceptances and pays them in batches (see the module docs).
    pub(super) async fn run_batcher(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Queued>) {
        let batching = self.settings.batching.clone();
        let mut queue: Vec<Queued> = Vec::new();
        let mut oldest: Option<Instant> = None;
        loop {
            let due = oldest.map(|t| t + batching.max_wait);
            let wait = async {
                match due {
                    Some(due) => tokio::time::sleep_until(due.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                queued = rx.recv() => match queued {
                    Some(queued) => {
                        let urgent = queued.urgent;
                        queue.push(queued);
                        oldest.get_or_insert_with(Instant::now);
                        if !urgent && queue.len() < batching.max_jobs.max(1) {
                            continue;
                        }
                    }
                    None => return,
                },
                () = wait => {}
            }
            while !queue.is_empty() {
                let rest = queue.split_off(queue.len().min(batching.max_jobs.max(1)));
                let batch = std::mem::replace(&mut queue, rest);
                self.pay(batch).await;
            }
            oldest = None;
        }
    }

    /// Pays one batch. A batch that reverts (one entry spent or unfunded since it was
    /// checked) is paid again without the entries that no longer pay.
    async fn pay(&self, mut batch: Vec<Queued>) {
        // Entries of one worker in a row cost least.
        batch.sort_by_key(|q| q.acceptance.acceptance.worker);
        let mut resent = false;
        loop {
            if resent {
                let mut kept = Vec::new();
                for queued in batch {
                    match self.check_acceptance(&queued.acceptance).await {
                        Ok(_) => kept.push(queued),
                        Err(e) => tracing::warn!(job = %queued.job, "left out of the batch: {e}"),
                    }
                }
                batch = kept;
            }
            if batch.is_empty() {
                return;
            }
            let entries: Vec<SignedAcceptance> =
                batch.iter().map(|q| q.acceptance.clone()).collect();
            match self
                .send("JobEscrow.settle_batch", || {
                    self.session.settle_batch(&entries)
                })
                .await
            {
                Ok(receipt) => {
                    let amount = entries.iter().map(|e| e.acceptance.amount).sum();
                    let jobs: Vec<JobId> = batch.iter().map(|q| q.job).collect();
                    tracing::info!(tx = %format!("{:#x}", receipt.hash), jobs = jobs.len(), "batch settled");
                    let _ = self.out.send(FromChain::BatchSettled {
                        tx_hash: receipt.hash,
                        jobs,
                        amount,
                    });
                    self.publish_reputation(receipt.hash).await;
                    return;
                }
                Err(e) if !resent => {
                    tracing::warn!(
                        entries = entries.len(),
                        "settling a batch: {e}; checking its entries again"
                    );
                    resent = true;
                }
                Err(e) => {
                    tracing::warn!(
                        entries = entries.len(),
                        "settling a batch failed again: {e}"
                    );
                    return;
                }
            }
        }
    }
}
