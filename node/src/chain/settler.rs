//! The settler's task: its start, the recovery of what an earlier run left, the loop that
//! routes each [`ToChain`] message to its side, and sending transactions with retries.

use super::*;

/// The chain side of a node.
pub struct Settler {
    pub(super) session: Session,
    pub(super) settings: ChainSettings,
    /// Held across a whole step (reading, sending, waiting for the receipt) when the node
    /// sends one transaction at a time ([`ChainSettings::pipelined`] off).
    pub(super) sending: Mutex<()>,
    /// Disputes whose evidence is being checked (which can wait for the worker's reveal):
    /// the evidence's later publications are not checked again meanwhile.
    pub(super) checking: std::sync::Mutex<std::collections::HashSet<u64>>,
    pub(super) out: mpsc::UnboundedSender<FromChain>,
    /// Rewards promised from this client's deposit and not paid out yet.
    pub(super) held: Mutex<u128>,
    /// Acceptances on their way to a batch.
    pub(super) batch: mpsc::UnboundedSender<batch::Queued>,
    /// The node's metrics: settlement retries and stuck slots are counted here.
    pub(super) metrics: Metrics,
}

/// A slot of a client job an earlier run left, as recovery found it on chain.
struct ResumedSlot {
    escrow_id: u64,
    /// The account it is assigned to (zero while open).
    worker: Felt,
    state: JobState,
}

/// A client job's messages, in order, to the task that settles it.
pub(super) type JobMailbox = mpsc::UnboundedSender<ToChain>;

impl Settler {
    /// Connects, checks that the manifest belongs to this chain, and starts the settler.
    /// Returns the sender the event loop talks through, this node's signed backing and what
    /// it signs consents with.
    pub async fn start(
        settings: ChainSettings,
        me: PeerId,
        out: mpsc::UnboundedSender<FromChain>,
        metrics: Metrics,
        earlier: Earlier,
    ) -> anyhow::Result<(mpsc::UnboundedSender<ToChain>, Backing, Bidder)> {
        if settings.settle_margin_secs < CONSENT_MARGIN_SECS {
            anyhow::bail!(
                "the settle margin ({} s) must be at least the {CONSENT_MARGIN_SECS} s a worker's consent asks past the job's deadline",
                settings.settle_margin_secs
            );
        }
        let chain = Chain::connect(&settings.rpc_url).await?;
        if chain.chain_id() != settings.deployment.chain_id {
            anyhow::bail!(
                "the RPC at {} is chain {}, but the manifest was deployed on {:#x}",
                ciro_bindings::chain::redact(&settings.rpc_url),
                chain.chain_name(),
                settings.deployment.chain_id
            );
        }
        let account = chain.account(
            settings.account,
            SigningKey::from_secret_scalar(settings.private_key),
        );
        let backing = sign_backing(
            chain.chain_id(),
            settings.account,
            settings.private_key,
            &me,
        )?;
        let bidder = Bidder {
            chain_id: chain.chain_id(),
            escrow: settings.deployment.address(Contract::JobEscrow)?,
            account: settings.account,
            key: SigningKey::from_secret_scalar(settings.private_key),
        };
        let session = Session::new(chain, settings.deployment.clone(), account);
        let (batch, queued) = mpsc::unbounded_channel();
        let settler = Arc::new(Settler {
            session,
            settings,
            sending: Mutex::new(()),
            checking: Default::default(),
            out,
            held: Mutex::new(0),
            batch,
            metrics,
        });
        // What this account left unsettled in an earlier run: every escrow job up to now.
        // Jobs this run creates come after, so recovery never touches them.
        let existing = settler.session.job_count().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(settler.run(rx, queued, existing, earlier));
        Ok((tx, backing, bidder))
    }

    /// How far back recovery looks, in escrow jobs.
    const RECOVERY_WINDOW: u64 = 10_000;

    /// Resumes the settlement an earlier run of this account left. As a client, the slots
    /// of a job the node's store holds (`earlier.jobs`) are settled by the verdict stored
    /// when the job ended, and reported as that job's settlement; any other open slot is
    /// cancelled, and an assigned one claimed once its deadline passes. As a worker, every
    /// slot of a job it holds a duty for (`earlier.duties`: the job and the opening of its
    /// commitment, from the node's store) is committed, revealed or finalized as its state
    /// asks, and a submitted slot it has no duty for is finalized once its window passes,
    /// if its result was revealed. A slot whose result this run cannot judge (submitted to
    /// a client) is left to the window.
    pub(super) async fn recover(self: Arc<Self>, existing: u64, earlier: Earlier) {
        enum Resume {
            Client,
            Duty(JobId, Opening),
            Finalize,
        }
        let me = self.session.me();
        let duties: HashMap<Felt, (JobId, Opening)> = earlier
            .duties
            .into_iter()
            .map(|(job, opening)| (felt_of(&job), (job, opening)))
            .collect();
        // Each stored client job, and its slots with the account each is assigned to.
        let mut jobs: HashMap<Felt, (ResumedJob, Vec<ResumedSlot>)> = earlier
            .jobs
            .into_iter()
            .map(|job| (felt_of(&job.job), (job, Vec::new())))
            .collect();
        let first = existing.saturating_sub(Self::RECOVERY_WINDOW) + 1;
        let mut resumed = Vec::new();
        for escrow_id in first..=existing {
            let Ok(slot) = self.slot(escrow_id).await else {
                continue;
            };
            if slot.client.0 == me {
                if let Some((_, slots)) = jobs.get_mut(&slot.spec_hash) {
                    slots.push(ResumedSlot {
                        escrow_id,
                        worker: slot.worker.0,
                        state: slot.state,
                    });
                    continue;
                }
            }
            let resume = if slot.client.0 == me
                && matches!(slot.state, JobState::Open | JobState::Assigned)
            {
                Resume::Client
            } else if slot.worker.0 != me {
                continue;
            } else if let (
                Some((job, opening)),
                JobState::Assigned | JobState::Submitted | JobState::Disputed,
            ) = (duties.get(&slot.spec_hash), &slot.state)
            {
                Resume::Duty(*job, *opening)
            } else if slot.state == JobState::Submitted {
                Resume::Finalize
            } else {
                continue;
            };
            resumed.push((escrow_id, resume));
        }
        let jobs = jobs.into_values().map(|(job, slots)| {
            let settler = self.clone();
            async move { settler.settle_resumed(job, slots).await }
        });
        let jobs = futures::future::join_all(jobs);
        if resumed.is_empty() {
            jobs.await;
            return;
        }
        tracing::info!(
            slots = ?resumed.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            "resuming the settlement of an earlier run"
        );
        let work = resumed.into_iter().map(|(escrow_id, resume)| {
            let settler = self.clone();
            async move {
                match resume {
                    Resume::Client => {
                        let report = settler
                            .settle_slot(JobId::default(), escrow_id, None, None, Verdict::NoResult)
                            .await;
                        let _ = settler.out.send(FromChain::Recovered(report));
                    }
                    Resume::Duty(job, opening) => settler.submit(job, escrow_id, opening).await,
                    Resume::Finalize => {
                        settler
                            .finalize_when_due(JobId::default(), escrow_id, None)
                            .await
                    }
                }
            }
        });
        futures::future::join(futures::future::join_all(work), jobs).await;
    }

    /// Settles the slots of a client job an earlier run left, each by the verdict stored
    /// for the worker its slot is assigned to, and reports them as the job's settlement.
    ///
    /// A worker owed pay (its result is the agreed one) whose slot the earlier run had not
    /// assigned yet is assigned an open slot now, with the consent it signed. A worker
    /// whose slot is assigned is told its escrow job again: the earlier run may have died
    /// before it did, and a worker that never hears it cannot commit.
    async fn settle_resumed(&self, job: ResumedJob, slots: Vec<ResumedSlot>) {
        if slots.is_empty() && job.ended && self.settings.batching.deposit.is_some() {
            return self.accept_resumed(job).await;
        }
        tracing::info!(
            job = %job.job,
            slots = ?slots.iter().map(|s| s.escrow_id).collect::<Vec<_>>(),
            ended = job.ended,
            "resuming the settlement of a job an earlier run left"
        );
        let worker_of = |account: Felt| job.workers.iter().find(|w| w.bid.worker == account);
        let mut unassigned = job.workers.iter().filter(|w| {
            matches!(w.verdict, Verdict::Agreed { .. })
                && !slots.iter().any(|s| s.worker == w.bid.worker)
        });
        let mut settling = Vec::new();
        for slot in &slots {
            let mut worker = worker_of(slot.worker);
            if slot.state == JobState::Open {
                if let Some(owed) = unassigned.next() {
                    match self.assign(job.job, slot.escrow_id, &owed.bid).await {
                        Ok(()) => worker = Some(owed),
                        Err(e) => tracing::warn!(
                            job = %job.job,
                            escrow_id = slot.escrow_id,
                            "assigning {} on chain: {e}",
                            owed.peer
                        ),
                    }
                }
            }
            if let Some(worker) = worker {
                if matches!(slot.state, JobState::Open | JobState::Assigned) {
                    let _ = self.out.send(FromChain::Escrowed {
                        job: job.job,
                        worker: worker.peer,
                        escrow_id: slot.escrow_id,
                    });
                }
            }
            let (peer, verdict) = match worker {
                Some(w) => (Some(w.peer), w.verdict.clone()),
                None => (None, Verdict::NoResult),
            };
            settling.push(self.settle_slot(job.job, slot.escrow_id, peer, job.expected, verdict));
        }
        let slots = futures::future::join_all(settling).await;
        tracing::info!(job = %job.job, ?slots, "escrow settled");
        let _ = self.out.send(FromChain::Settled {
            job: job.job,
            slots,
        });
    }

    /// Accepts, from the deposit, the agreed results of a job an earlier run ended: the
    /// acceptances are the ones it signed (or would have), so one a batch paid already is
    /// reported paid, not paid again.
    async fn accept_resumed(&self, job: ResumedJob) {
        tracing::info!(job = %job.job, "resuming the acceptances of a job an earlier run ended");
        let capability = match units::capability(&job.capability) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(job = %job.job, "{e}");
                let _ = self.out.send(FromChain::Settled {
                    job: job.job,
                    slots: Vec::new(),
                });
                return;
            }
        };
        let owed = job
            .workers
            .iter()
            .filter(|w| matches!(w.verdict, Verdict::Agreed { .. }))
            .count() as u128
            * job.reward;
        let held = match self.hold(owed).await {
            Ok(()) => owed,
            Err(e) => {
                tracing::warn!(job = %job.job, "holding the rewards in the deposit: {e}");
                0
            }
        };
        let accounts = job.workers.iter().map(|w| (w.peer, w.bid.worker)).collect();
        let verdicts = job
            .workers
            .iter()
            .map(|w| (w.peer, w.verdict.clone()))
            .collect();
        // The acceptances may have been paid before this run began: look from the start.
        self.pay_from_deposit(
            job.job, capability, job.reward, &accounts, verdicts, held, 0,
        )
        .await;
    }

    /// Handles the event loop's messages until it stops. Every piece of work runs in one
    /// `JoinSet`, so when the node stops (or is killed), its settlement stops with it, as
    /// a crashed process's would.
    pub(super) async fn run(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<ToChain>,
        queued: mpsc::UnboundedReceiver<batch::Queued>,
        existing: u64,
        earlier: Earlier,
    ) {
        let mut jobs: HashMap<JobId, JobMailbox> = HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.clone().watch_own_standing());
        tasks.spawn(self.clone().run_batcher(queued));
        tasks.spawn(self.clone().recover(existing, earlier));
        loop {
            let message = tokio::select! {
                message = rx.recv() => match message {
                    Some(message) => message,
                    None => return,
                },
                Some(_) = tasks.join_next() => continue,
            };
            match message {
                ToChain::Created {
                    job,
                    slots,
                    reward,
                    capability,
                    deadline_ms,
                } => {
                    let (mailbox, inbox) = mpsc::unbounded_channel();
                    jobs.insert(job, mailbox);
                    let settler = self.clone();
                    let batched = self.settings.batching.deposit.is_some();
                    tasks.spawn(async move {
                        if batched {
                            settler
                                .client_job_batched(job, slots, reward, capability, inbox)
                                .await
                        } else {
                            settler
                                .client_job(job, slots, reward, capability, deadline_ms, inbox)
                                .await
                        }
                    });
                }
                m @ (ToChain::Assigned { .. } | ToChain::Finished { .. }) => {
                    let (job, last) = match &m {
                        ToChain::Assigned { job, .. } => (*job, false),
                        ToChain::Finished { job, .. } => (*job, true),
                        _ => unreachable!(),
                    };
                    match jobs.get(&job) {
                        Some(mailbox) => {
                            let _ = mailbox.send(m);
                        }
                        None => tracing::warn!(%job, "no escrow for this job"),
                    }
                    if last {
                        jobs.remove(&job);
                    }
                }
                ToChain::Submit {
                    job,
                    escrow_id,
                    result,
                    salt,
                } => {
                    let settler = self.clone();
                    let opening = opening_of(&result, &salt);
                    tasks.spawn(async move { settler.submit(job, escrow_id, opening).await });
                }
                ToChain::Verify { peer, backing } => {
                    let settler = self.clone();
                    tasks.spawn(async move {
                        let verdict = settler.verify(&peer, &backing).await;
                        let _ = settler.out.send(FromChain::Verified {
                            peer,
                            backing,
                            verdict,
                        });
                    });
                }
                ToChain::Arbitrate { client, evidence } => {
                    let dispute_id = evidence.dispute_id;
                    if !self.checking.lock().expect("lock").insert(dispute_id) {
                        continue;
                    }
                    let settler = self.clone();
                    tasks.spawn(async move {
                        let checked = settler.check_evidence(&evidence).await;
                        settler.checking.lock().expect("lock").remove(&dispute_id);
                        match checked {
                            Ok(worker_result) => {
                                let _ = settler.out.send(FromChain::Rerun {
                                    client,
                                    evidence,
                                    worker_result,
                                });
                            }
                            Err(why) => tracing::info!(
                                dispute = evidence.dispute_id,
                                "not arbitrating: {why}"
                            ),
                        }
                    });
                }
                ToChain::Vote {
                    dispute_id,
                    worker_right,
                } => {
                    let settler = self.clone();
                    tasks.spawn(async move { settler.vote(dispute_id, worker_right).await });
                }
                ToChain::CheckPayer {
                    job,
                    client,
                    backing,
                    amount,
                } => {
                    let settler = self.clone();
                    tasks.spawn(async move {
                        let verdict = settler.check_payer(&client, &backing, amount).await;
                        let _ = settler.out.send(FromChain::PayerChecked { job, verdict });
                    });
                }
                ToChain::Accepted {
                    job,
                    acceptance,
                    resumed,
                } => {
                    let settler = self.clone();
                    tasks.spawn(async move {
                        match settler.check_acceptance(&acceptance).await {
                            // Paid while this node was down, by its batch or the client.
                            Err(AcceptanceError::Used) if resumed => {
                                tracing::info!(%job, "an acceptance an earlier run held is paid");
                                let _ = settler.out.send(FromChain::WorkSettled {
                                    job,
                                    disputed: false,
                                });
                            }
                            Ok(urgent) => {
                                let _ = settler.batch.send(batch::Queued {
                                    job,
                                    acceptance,
                                    urgent,
                                });
                            }
                            Err(error) => {
                                let _ = settler
                                    .out
                                    .send(FromChain::AcceptanceRefused { job, error });
                            }
                        }
                    });
                }
                ToChain::CheckReputation { from, update } => {
                    let settler = self.clone();
                    tasks.spawn(async move {
                        let genuine = settler.check_reputation(&update).await;
                        let _ = settler.out.send(FromChain::ReputationChecked {
                            from,
                            update,
                            genuine,
                        });
                    });
                }
            }
        }
    }

    /// Waits that double from 100 ms up to `max_backoff`.
    pub(super) fn backoff(&self) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(self.settings.max_backoff)
            .without_max_times()
            .build()
    }

    /// Runs `step` until it succeeds or fails in a way no retry can fix (a revert, bad
    /// input, a shortfall). Transient failures are retried with backoff, and reported stuck
    /// past [`ChainSettings::max_attempts`] ([`Attempts`]): an outage delays what depends
    /// on it, never drops it.
    pub(super) async fn retry<T, F, Fut>(
        &self,
        what: &'static str,
        step: F,
    ) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ChainError>>,
    {
        self.retry_as(&mut Attempts::unattached(self), what, step)
            .await
    }

    /// [`Self::retry`], counting in `attempts` (the slot it settles, if any).
    pub(super) async fn retry_as<T, F, Fut>(
        &self,
        attempts: &mut Attempts<'_>,
        what: &'static str,
        mut step: F,
    ) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ChainError>>,
    {
        loop {
            match step().await {
                Ok(value) => {
                    attempts.through();
                    return Ok(value);
                }
                Err(e) if e.is_transient() => attempts.failed(what, &e).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// The lock that makes a step the only one in flight, when the node sends one
    /// transaction at a time; `None` when it pipelines them: the session then numbers each
    /// transaction as it submits it, and several wait for their receipts at once.
    pub(super) async fn serially(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.settings.pipelined {
            true => None,
            false => Some(self.sending.lock().await),
        }
    }

    /// Sends one transaction's worth of work (alone, unless pipelined).
    pub(super) async fn send<T, F, Fut>(&self, what: &'static str, step: F) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ChainError>>,
    {
        let _one_at_a_time = self.serially().await;
        self.retry(what, step).await
    }

    /// Sends `step` once, if escrow job `escrow_id` is still in `expected` when read again
    /// just before (another step may have moved it): `None` when it was not. The caller
    /// retries, counting its attempts. Pipelined, a step of this node's own may be in
    /// flight for the same slot; the escrow refuses the second, and nothing is paid twice.
    pub(super) async fn send_while<T, F, Fut>(
        &self,
        escrow_id: u64,
        expected: JobState,
        step: F,
    ) -> Result<Option<T>, ChainError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, ChainError>>,
    {
        let _one_at_a_time = self.serially().await;
        if self.session.job_status(escrow_id).await?.state != expected {
            return Ok(None);
        }
        step().await.map(Some)
    }

    pub(super) async fn slot(&self, escrow_id: u64) -> Result<escrow::Job, ChainError> {
        self.retry("JobEscrow.job", || self.session.job_status(escrow_id))
            .await
    }

    /// Publishes the reputation changes of transaction `hash`.
    pub(super) async fn publish_reputation(&self, hash: Felt) {
        let updates = self
            .retry("ReputationUpdated events", || {
                self.session.reputation_updates(hash)
            })
            .await
            .unwrap_or_default();
        for (block, update) in updates {
            let _ = self.out.send(FromChain::Reputation(ReputationUpdate {
                worker: update.worker.0.to_bytes_be(),
                reason: parse_cairo_short_string(&update.reason).unwrap_or_default(),
                jobs_completed: update.new.jobs_completed,
                jobs_failed: update.new.jobs_failed,
                disputes_won: update.new.disputes_won,
                disputes_lost: update.new.disputes_lost,
                tx_hash: hash.to_bytes_be(),
                block,
            }));
        }
    }

    /// A time the chain has certainly reached or will reach before anything sent now lands:
    /// the later of the chain's clock and this machine's. For waits that must not end
    /// early (an arbitrator waiting for a reveal), never for deadlines a transaction needs
    /// passed: those compare with [`Session::clock`], the chain's own.
    pub(super) async fn not_before_now(&self) -> u64 {
        let wall = crate::clock::now_ms() / 1000;
        match self.session.clock().await {
            Ok(t) => t.max(wall),
            Err(_) => wall,
        }
    }
}
