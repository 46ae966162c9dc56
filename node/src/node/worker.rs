//! The worker role: hearing announcements, bidding, fetching, running, committing and
//! delivering, and submitting its result on chain.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WorkState {
    Bid,
    Fetching,
    Running,
    Committing,
    Delivering,
    Done,
}

pub(super) struct WorkerJob {
    pub(super) client: PeerId,
    pub(super) announcement: JobAnnouncement,
    pub(super) state: WorkState,
    pub(super) assignment: Option<Assignment>,
    pub(super) blobs: HashMap<Hash, Arc<Vec<u8>>>,
    pub(super) outcome: Option<Hashed>,
    pub(super) seen: Instant,
    /// The client's escrow job for this work, once it is assigned on chain.
    pub(super) escrow: Option<u64>,
    /// The salt of this worker's on-chain commitment to its result (a felt, big-endian).
    pub(super) salt: [u8; 32],
    pub(super) submitted: bool,
    /// The result is committed on chain and its slot not settled yet: the job's module and
    /// input are kept, in case a dispute needs them.
    pub(super) settling: bool,
    /// Who pays for the work, as far as this worker knows.
    pub(super) payer: Payer,
    /// The slot was disputed: arbitrators may fetch the job from this worker, so a client
    /// cannot starve them of it.
    pub(super) disputed_at: Option<Instant>,
    /// A durable duty is open for it (see [`super::duties`]): the client may still name
    /// its escrow job or accept its result, so it is kept like settling work.
    pub(super) owed: bool,
}

/// Who pays a worker for a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Payer {
    /// An escrow job (told by `Escrowed`), or nobody when the network does not settle.
    Escrow,
    /// The client's deposit, being checked: nothing runs until it is.
    Checking,
    /// The deposit of this account, checked.
    Deposit(Felt),
}

/// How long a worker keeps a job whose slot is still settling on chain.
pub(super) const SETTLING_RETENTION: Duration = Duration::from_secs(3600);

/// How long a worker keeps a disputed job for the arbitrators to fetch.
pub(super) const DISPUTED_RETENTION: Duration = Duration::from_secs(600);

impl Node {
    pub(super) fn busy(&self) -> usize {
        self.work
            .values()
            .filter(|w| {
                matches!(
                    w.state,
                    WorkState::Fetching
                        | WorkState::Running
                        | WorkState::Committing
                        | WorkState::Delivering
                )
            })
            .count()
    }

    pub(super) fn on_announcement(&mut self, client: PeerId, job: JobAnnouncement) {
        if !self.config.capabilities.contains(&job.capability) {
            return;
        }
        self.shared.emit(NodeEvent::Heard {
            job: job.job_id,
            at: Instant::now(),
        });
        let backed = match &self.chain {
            Some(link) => {
                self.config.conduct == WorkerConduct::IgnoreStake
                    || link
                        .own
                        .as_ref()
                        .is_some_and(|own| own.backs(&job.capability, 0))
            }
            None => true,
        };
        let bidding = backed
            && job.reward >= self.config.min_price
            && job.deadline_ms > now_ms()
            && self.busy() < self.config.slots as usize
            && !self.work.contains_key(&job.job_id)
            && self.draws_bid(&job);
        if !bidding {
            return;
        }
        // On chain, the bid carries this worker's signed consent: its price, its free stake
        // (capped by `--max-collateral`) as the most collateral, and its result due a margin
        // after the job's deadline.
        let link_and_standing = self
            .chain
            .as_ref()
            .and_then(|link| link.own.as_ref().map(|own| (link, own)));
        let consent = match link_and_standing {
            Some((link, own)) => match link.bidder.consent(
                &job.job_id,
                self.config.min_price,
                crate::chain::offered_collateral(own.free, link.max_collateral),
                job.deadline_ms,
                now_ms() / 1000,
            ) {
                Ok(consent) => Some(consent),
                Err(e) => {
                    tracing::warn!(job = %job.job_id, "signing a consent: {e}");
                    return;
                }
            },
            None => None,
        };
        for addr in addrs_from_wire(&job.addrs) {
            self.swarm.add_peer_address(client, addr);
        }
        let bid = Bid {
            job_id: job.job_id,
            price: self.config.min_price,
            eta_ms: (job.limits.timeout_ms / 4).max(1) * (1 + self.busy() as u32),
            stake_claim: self
                .chain
                .as_ref()
                .and_then(|l| l.own.as_ref())
                .map_or(0, |own| own.stake),
            reputation_claim_ppm: 0,
            backing: self.chain.as_ref().map(|l| l.backing.clone()),
            consent,
        };
        let id = self
            .swarm
            .behaviour_mut()
            .jobs
            .send_request(&client, Request::Bid(bid));
        self.pending.insert(id, Pending::Bid(job.job_id));
        self.work.insert(
            job.job_id,
            WorkerJob {
                client,
                announcement: job,
                state: WorkState::Bid,
                assignment: None,
                blobs: HashMap::new(),
                outcome: None,
                seen: Instant::now(),
                escrow: None,
                salt: random_felt(),
                submitted: false,
                settling: false,
                disputed_at: None,
                payer: Payer::Escrow,
                owed: false,
            },
        );
    }

    /// Whether this worker bids on a first announcement. The client needs a few bids,
    /// not one from every worker: each bids with probability `BID_FANOUT × k / N`, N the
    /// workers it knows offer the capability, so about `BID_FANOUT × k` bid however large
    /// the network. The draw is a hash of the job and the worker, so it is fair and
    /// reproducible. A re-announcement (round > 0) is bid on by everyone.
    pub(super) fn draws_bid(&self, job: &JobAnnouncement) -> bool {
        if job.round > 0 {
            return true;
        }
        let offering = self.ads.offering(&job.capability, Instant::now()).len() + 1;
        let p = BID_FANOUT * job.redundancy as f64 / offering as f64;
        if p >= 1.0 {
            return true;
        }
        let draw = Hash::of(&[job.job_id.0.as_slice(), &self.me.to_bytes()].concat());
        let draw = u64::from_be_bytes(draw.0[..8].try_into().expect("8 bytes"));
        (draw as f64) < p * u64::MAX as f64
    }

    /// The client's answer to a bid: a refusal or a lost request ends the work unless
    /// the client assigned it meanwhile.
    pub(super) fn on_bid_reply(&mut self, job: JobId, response: Result<Response, ()>) {
        match response {
            Ok(Response::Ack) => return,
            Ok(Response::Payer(backing)) => return self.check_payer(job, backing),
            _ => {}
        }
        if self
            .work
            .get(&job)
            .is_some_and(|w| w.state == WorkState::Bid)
        {
            self.work.remove(&job);
        }
    }

    /// The client's answer to a fetch of the job's module or input.
    pub(super) fn on_fetch_reply(
        &mut self,
        job: JobId,
        hash: Hash,
        client: PeerId,
        response: Result<Response, ()>,
    ) {
        match response {
            Ok(Response::Blob(blob)) => self.off_loop(move || Internal::Blob {
                job,
                hash,
                genuine: Hash::of(&blob) == hash,
                blob: Arc::new(blob),
            }),
            _ => self.abandon(job, client),
        }
    }

    /// The client's answer to the commitment: once acknowledged, the result follows.
    pub(super) fn on_commit_reply(&mut self, job: JobId, response: Result<Response, ()>) {
        match response {
            Ok(Response::Ack) => self.deliver(job),
            _ => self.on_result_reply(job),
        }
    }

    /// The result is delivered (or the client is gone): the work is done.
    pub(super) fn on_result_reply(&mut self, job: JobId) {
        if let Some(w) = self.work.get_mut(&job) {
            w.state = WorkState::Done;
        }
        if self.config.conduct == WorkerConduct::CrashBeforeSubmit {
            self.submit_on_chain(job);
        }
    }

    /// The client assigned this worker on chain: its result goes on chain too.
    pub(super) fn on_escrowed(
        &mut self,
        client: PeerId,
        job_id: JobId,
        escrow_id: u64,
    ) -> Response {
        match self.work.get_mut(&job_id) {
            Some(work) if work.client == client && self.chain.is_some() => {
                work.escrow = Some(escrow_id);
                self.persist(
                    crate::store::Write::Escrow {
                        job: job_id,
                        escrow_id,
                    },
                    Stored::Submit(job_id),
                );
                Response::Ack
            }
            Some(_) => Response::Refused(Refusal::NotAssigned),
            None => Response::Refused(Refusal::UnknownJob),
        }
    }

    /// The client accepted this worker's result from its deposit. The acceptance must name
    /// this worker's commitment to the result it delivered and at least the announced
    /// reward; the settler then checks it against the chain and pays it in a batch.
    pub(super) fn on_accepted(&mut self, client: PeerId, message: protocol::Accepted) -> Response {
        let Some(link) = &self.chain else {
            return Response::Refused(Refusal::NotAssigned);
        };
        let Some(work) = self.work.get_mut(&message.job_id) else {
            return Response::Refused(Refusal::UnknownJob);
        };
        let Some(outcome) = work.outcome.as_ref().filter(|_| work.client == client) else {
            return Response::Refused(Refusal::NotAssigned);
        };
        let me = link.bidder.account();
        let signed = crate::chain::signed_acceptance(me, &message);
        let mine = crate::chain::opening_of(&outcome.hash(), &work.salt).commitment(me);
        let other_payer = matches!(work.payer, Payer::Deposit(a) if a != signed.client);
        if signed.acceptance.commitment != mine
            || message.amount < work.announcement.reward
            || other_payer
        {
            self.penalize(client, "bad-acceptance");
            return Response::Refused(Refusal::BadRequest);
        }
        work.settling = true;
        let job = message.job_id;
        let then = match self.config.conduct {
            WorkerConduct::Hoard => Stored::Nothing,
            _ => Stored::Accepted {
                job,
                acceptance: Box::new(signed),
            },
        };
        self.persist(
            crate::store::Write::Acceptance {
                job,
                acceptance: message,
            },
            then,
        );
        Response::Ack
    }

    /// An acceptance the chain says will not pay: the client is struck for it.
    pub(super) fn on_acceptance_refused(
        &mut self,
        job: JobId,
        error: crate::chain::AcceptanceError,
    ) {
        tracing::warn!(%job, "the client's acceptance will not pay: {error}");
        if let Some(work) = self.work.get_mut(&job) {
            work.settling = false;
            let client = work.client;
            self.penalize(client, "bad-acceptance");
        }
        self.close_duty(job);
    }

    /// A batch paid this worker for `jobs`.
    pub(super) fn on_batch_settled(&mut self, tx_hash: Felt, jobs: Vec<JobId>, amount: u128) {
        for job in &jobs {
            if let Some(work) = self.work.get_mut(job) {
                work.settling = false;
            }
            self.close_duty(*job);
        }
        self.shared.emit(NodeEvent::BatchSettled {
            tx_hash: format!("{tx_hash:#x}"),
            jobs,
            amount,
        });
    }

    pub(super) fn on_assign(&mut self, client: PeerId, assignment: Assignment) -> Response {
        let busy = self.busy();
        let Some(work) = self.work.get_mut(&assignment.job_id) else {
            return Response::Refused(Refusal::UnknownJob);
        };
        if work.client != client || work.state != WorkState::Bid {
            return Response::Refused(Refusal::NotAssigned);
        }
        if work.announcement.limits != assignment.limits {
            return Response::Refused(Refusal::BadRequest);
        }
        if busy >= self.config.slots as usize {
            // Forget the bid, so the worker can bid again when the job is re-announced.
            self.work.remove(&assignment.job_id);
            return Response::Refused(Refusal::Busy);
        }
        work.state = WorkState::Fetching;
        work.assignment = Some(assignment.clone());
        if self.config.conduct == WorkerConduct::Stall {
            return Response::Ack;
        }
        for hash in [assignment.module, assignment.input] {
            let id = self.swarm.behaviour_mut().jobs.send_request(
                &client,
                Request::Fetch {
                    job_id: assignment.job_id,
                    hash,
                },
            );
            self.pending.insert(
                id,
                Pending::Fetch {
                    job: assignment.job_id,
                    hash,
                },
            );
        }
        Response::Ack
    }

    /// A fetched blob, checked against its hash on a blocking thread.
    pub(super) fn on_blob(&mut self, job: JobId, hash: Hash, blob: Arc<Vec<u8>>, genuine: bool) {
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        if !genuine {
            let client = work.client;
            work.state = WorkState::Done;
            self.penalize(client, "bad-blob");
            return;
        }
        work.blobs.insert(hash, blob);
        self.run_if_ready(job);
    }

    /// Runs an assigned job once its module and input are here and, when its client pays
    /// from a deposit, the deposit is checked.
    pub(super) fn run_if_ready(&mut self, job: JobId) {
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        let Some(assignment) = work.assignment.clone() else {
            return;
        };
        let (Some(module), Some(input)) = (
            work.blobs.get(&assignment.module).cloned(),
            work.blobs.get(&assignment.input).cloned(),
        ) else {
            return;
        };
        if work.state != WorkState::Fetching || work.payer == Payer::Checking {
            return;
        }
        work.state = WorkState::Running;
        let sandbox = self.sandbox.clone();
        self.off_loop(move || {
            let (outcome, cost) = hashed_run(sandbox.run(&module, &input, &assignment.limits));
            Internal::Executed { job, outcome, cost }
        });
    }

    /// The client pays from its deposit: ask the chain whether it can pay this job on top
    /// of what it owes this worker already.
    pub(super) fn check_payer(&mut self, job: JobId, backing: Backing) {
        let Some(link) = &self.chain else {
            return;
        };
        let account = Felt::from_bytes_be(&backing.account);
        let owed: u128 = self
            .work
            .values()
            .filter(|w| {
                w.payer == Payer::Deposit(account) && (w.state != WorkState::Done || w.settling)
            })
            .map(|w| w.announcement.reward)
            .sum();
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        work.payer = Payer::Checking;
        let _ = link.to.send(ToChain::CheckPayer {
            job,
            client: work.client,
            backing,
            amount: work.announcement.reward.saturating_add(owed),
        });
    }

    /// The chain's verdict on the client's deposit: run the job, or drop it and strike the
    /// client.
    pub(super) fn on_payer_checked(&mut self, job: JobId, verdict: Result<Felt, PayerError>) {
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        match verdict {
            Ok(account) => {
                work.payer = Payer::Deposit(account);
                self.run_if_ready(job);
            }
            Err(e) => {
                tracing::warn!(%job, "not working for this client: {e}");
                let client = work.client;
                // Forget the bid (an assignment then finds no job), or stop the work.
                if work.state == WorkState::Bid {
                    self.work.remove(&job);
                } else {
                    work.state = WorkState::Done;
                }
                if !matches!(e, PayerError::Chain(_)) {
                    self.penalize(client, "unfunded");
                }
            }
        }
    }

    /// A finished run: commit to its outcome's hash (computed with the run).
    pub(super) fn on_executed(
        &mut self,
        job: JobId,
        mut outcome: Hashed,
        cost: Option<(u64, Duration)>,
    ) {
        let (label, fuel) = match cost {
            Some((fuel, elapsed)) => {
                self.metrics
                    .execution_seconds
                    .observe(elapsed.as_secs_f64());
                ("ok", fuel)
            }
            None => ("error", 0),
        };
        self.metrics.executions.with_label_values(&[label]).inc();
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        if self.config.conduct == WorkerConduct::Lie {
            outcome = Hashed::new(match outcome.into_outcome() {
                Outcome::Output(mut bytes) => {
                    bytes.push(0xff);
                    Outcome::Output(bytes)
                }
                Outcome::Error(_) => Outcome::Output(b"made up".to_vec()),
            });
        }
        work.state = WorkState::Committing;
        work.outcome = Some(outcome);
        // The commitment goes out once the duty it creates is on disk.
        if let Some(duty) = self.duty_of(job) {
            self.persist(
                crate::store::Write::Duty(Box::new(duty)),
                Stored::Commit { job, fuel },
            );
        }
    }

    pub(super) fn deliver(&mut self, job: JobId) {
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        let (output, error) = match work.outcome.as_ref().map(Hashed::outcome) {
            Some(Outcome::Output(bytes)) => (bytes.clone(), None),
            Some(Outcome::Error(message)) => (Vec::new(), Some(message.clone())),
            None => return,
        };
        work.state = WorkState::Delivering;
        let client = work.client;
        let id = self.swarm.behaviour_mut().jobs.send_request(
            &client,
            Request::Result {
                job_id: job,
                output,
                error,
            },
        );
        self.pending.insert(id, Pending::Result(job));
    }

    /// Sends the worker's committed result to its escrow job, once both are known.
    pub(super) fn submit_on_chain(&mut self, job: JobId) {
        let Some(link) = &self.chain else {
            return;
        };
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        if let (Some(escrow_id), Some(outcome), false) =
            (work.escrow, &work.outcome, work.submitted)
        {
            if self.config.conduct == WorkerConduct::CrashBeforeSubmit {
                if work.state != WorkState::Done {
                    return; // Not delivered yet: the crash comes once it is.
                }
                tracing::warn!(%job, escrow_id, "crashing before the result goes on chain, as told");
                std::process::abort();
            }
            work.submitted = true;
            let _ = link.to.send(ToChain::Submit {
                job,
                escrow_id,
                result: outcome.hash(),
                salt: work.salt,
            });
        }
    }

    pub(super) fn abandon(&mut self, job: JobId, client: PeerId) {
        if let Some(w) = self.work.get_mut(&job) {
            tracing::debug!(%job, %client, "abandoning a job");
            w.state = WorkState::Done;
        }
    }

    /// This worker's result is on chain: the job is kept until its slot settles.
    pub(super) fn on_submitted(&mut self, job: JobId, escrow_id: u64) {
        if let Some(work) = self.work.get_mut(&job) {
            work.settling = true;
            work.submitted = true;
            work.escrow = Some(escrow_id);
        }
        self.shared
            .emit(NodeEvent::SubmittedOnChain { job, escrow_id });
    }

    /// This worker's slot is settled; a disputed one is kept a while for the arbitrators.
    pub(super) fn on_work_settled(&mut self, job: JobId, disputed: bool) {
        if let Some(work) = self.work.get_mut(&job) {
            work.settling = false;
            if disputed {
                work.disputed_at = Some(Instant::now());
            }
        }
        self.close_duty(job);
    }
}
