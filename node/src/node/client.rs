//! The client role: submitting, announcing, selecting bids, verifying results, serving
//! the job's module and input, and publishing dispute evidence.

use super::*;
use crate::store::Write;

/// How many times a client tells a worker its escrow job, [`ESCROWED_RETRY`] apart, while
/// the message does not get through.
const ESCROWED_TRIES: u32 = 10;
const ESCROWED_RETRY: Duration = Duration::from_secs(3);

/// An escrow job to tell its worker, once `due`.
pub(super) struct EscrowedAgain {
    pub(super) due: Instant,
    pub(super) job: JobId,
    pub(super) worker: PeerId,
    pub(super) escrow_id: u64,
    pub(super) tries: u32,
}

/// Evidence this client publishes until the dispute is old.
pub(super) struct Published {
    pub(super) evidence: protocol::Evidence,
    pub(super) next: Instant,
}

/// Evidence is published this many times, a few seconds apart, for arbitrators that join
/// late or miss one.
pub(super) const EVIDENCE_ROUNDS: u32 = 10;

/// A job with nobody left to assign is announced again after this long.
pub(super) const REANNOUNCE: Duration = Duration::from_secs(2);

/// About this many bids per required worker answer a first announcement.
pub(super) const BID_FANOUT: f64 = 6.0;

/// The agreed result of a finished job, and each assigned worker's standing against it:
/// what the escrow settles by.
pub(super) fn verdicts(job: &ClientJob) -> (Option<Hash>, Vec<(PeerId, SlotVerdict)>) {
    let expected = job
        .result
        .as_ref()
        .filter(|_| job.status == JobStatus::Completed)
        .map(|r| r.hash);
    let mut seen = HashSet::new();
    let verdicts = job
        .assignments
        .iter()
        .filter(|a| a.state != crate::job::AssignmentState::Refused)
        .filter(|a| seen.insert(a.worker))
        .map(|a| {
            let agreed = job
                .result
                .as_ref()
                .is_some_and(|r| r.agreeing.contains(&a.worker));
            let failure = job
                .verification_failures
                .iter()
                .find(|f| f.worker == a.worker && f.claimed.is_some());
            let verdict = match (agreed, failure, expected, a.salt) {
                (true, _, Some(result), Some(salt)) => SlotVerdict::Agreed { result, salt },
                (false, Some(failure), _, _) => SlotVerdict::Wrong {
                    evidence: failure.evidence_hash(&job.id),
                },
                _ => SlotVerdict::NoResult,
            };
            (a.worker, verdict)
        })
        .collect();
    (expected, verdicts)
}

impl Node {
    /// A job [`Shared::submit`] has checked: it is announced at once.
    pub(super) fn submit(&mut self, checked: Checked) -> JobId {
        let Checked {
            request,
            module,
            input,
            spec,
        } = checked;
        let now = now_ms();
        let nonce: [u8; 16] = rand_nonce();
        let id = protocol::job_id(&self.me, &spec, &nonce);
        self.blobs.insert(module, Arc::new(request.module));
        self.blobs.insert(input, Arc::new(request.input));
        let mut job = ClientJob::new(
            id,
            spec,
            request.capability,
            request.reward,
            request.redundancy,
            request.limits,
            module,
            input,
            now,
            now + request.deadline.as_millis() as u64,
        );
        job.nonce = nonce;
        self.persist(Write::Submitted(Box::new(record_of(&job))), Stored::Nothing);
        if let Some(link) = &self.chain {
            let _ = link.to.send(ToChain::Created {
                job: id,
                slots: job.redundancy,
                reward: job.reward,
                capability: job.capability.clone(),
                deadline_ms: job.deadline_ms,
            });
        }
        self.jobs.borrow_mut().insert(id, job);
        // A job paid from the deposit is offered once the deposit holds its rewards.
        let funded_first = self.chain.as_ref().is_some_and(|l| l.pays_from_deposit)
            && self.config.client_conduct != ClientConduct::Unfunded;
        if funded_first {
            self.awaiting_funds.insert(id);
        } else {
            self.announce(id);
        }
        id
    }

    /// The deposit holds the job's rewards: offer it.
    pub(super) fn on_funded(&mut self, job: JobId) {
        if self.awaiting_funds.remove(&job) {
            self.announce(job);
        }
    }

    /// The chain refused something for the job; a job still waiting for its funds ends.
    pub(super) fn on_refused(&mut self, job: JobId, message: String) {
        let unfunded = self.awaiting_funds.remove(&job);
        self.with_job(&job, |j| {
            if unfunded {
                j.abort("the deposit could not hold the rewards", now_ms());
            }
            j.chain_errors.push(message);
        });
    }

    /// Publishes the job's announcement; with nobody subscribed yet, looks for workers
    /// and waits for one to appear.
    pub(super) fn announce(&mut self, id: JobId) {
        let Some(job) = self.jobs.borrow().get(&id).cloned() else {
            return;
        };
        if !job.is_open() {
            self.unannounced.remove(&id);
            return;
        }
        let announcement = Gossip::Job(JobAnnouncement {
            job_id: id,
            spec_hash: job.spec_hash,
            capability: job.capability.clone(),
            reward: job.reward,
            deadline_ms: job.deadline_ms,
            redundancy: job.redundancy,
            limits: job.limits,
            addrs: self.advertised_addrs(),
            round: job.announcements,
        });
        match self.publish(&announcement) {
            Ok(()) => {
                self.shared.emit(NodeEvent::Announced {
                    job: id,
                    at: Instant::now(),
                });
                self.unannounced.remove(&id);
                let mut jobs = self.jobs.borrow_mut();
                if let Some(job) = jobs.get_mut(&id) {
                    job.announced_ms.get_or_insert(now_ms());
                    job.announcements += 1;
                    job.last_announced_ms = now_ms();
                }
            }
            Err(e) => {
                tracing::debug!(job = %id, "announcement waits: {e}");
                self.unannounced.insert(id);
                // Nobody to send it to: look for workers, one lookup per capability at a
                // time. (A full queue is only retried.)
                let looking = self
                    .lookups
                    .values()
                    .any(|l| l.capability == job.capability);
                if matches!(e, gossipsub::PublishError::NoPeersSubscribedToTopic) && !looking {
                    self.start_lookup(job.capability.clone(), job.redundancy as usize * 2, None);
                }
            }
        }
    }

    pub(super) fn announce_waiting(&mut self, topic: &TopicHash) {
        let waiting: Vec<JobId> = {
            let jobs = self.jobs.borrow();
            self.unannounced
                .iter()
                .filter(|id| {
                    jobs.get(id)
                        .is_some_and(|j| topics::jobs(&j.capability) == topic.as_str())
                })
                .copied()
                .collect()
        };
        for id in waiting {
            self.announce(id);
        }
    }

    /// A bid. When the network settles on chain, a bid counts only once the chain backs
    /// the worker for the job's capability with enough free stake; until the chain has
    /// answered, the bid waits.
    pub(super) fn on_bid(&mut self, worker: PeerId, bid: Bid) -> Response {
        let mut account = None;
        if let Some(link) = &mut self.chain {
            let Some(backing) = bid.backing.clone() else {
                self.penalize(worker, "unbacked");
                return Response::Refused(Refusal::Unbacked);
            };
            let Some(job) = self.jobs.borrow().get(&bid.job_id).cloned() else {
                return Response::Refused(Refusal::UnknownJob);
            };
            // Without a consent to these terms the escrow would refuse the assignment.
            let consents = bid.consent.as_ref().is_some_and(|c| {
                c.price <= job.reward
                    && c.collateral >= link.collateral
                    && c.deadline.saturating_mul(1000) >= job.deadline_ms
                    && c.expiry > now_ms() / 1000
            });
            if !consents {
                return Response::Refused(Refusal::Unconsented);
            }
            match link.backed(&worker, &backing) {
                Some(Backed::Yes(backer, _)) if backer.backs(&job.capability, link.collateral) => {
                    account = Some(backer.account);
                }
                Some(_) => {
                    self.penalize(worker, "unbacked");
                    return Response::Refused(Refusal::Unbacked);
                }
                None => {
                    link.parked_bids.entry(worker).or_default().push(bid);
                    link.verify(worker, backing);
                    return Response::Ack;
                }
            }
        }
        let standing = self
            .config
            .reputation
            .standing(&worker, account)
            .unwrap_or(Standing::UNKNOWN);
        let mut jobs = self.jobs.borrow_mut();
        let Some(job) = jobs.get_mut(&bid.job_id) else {
            return Response::Refused(Refusal::UnknownJob);
        };
        let score = self.config.weights.score(
            standing,
            bid.price,
            job.reward,
            bid.eta_ms,
            job.limits.timeout_ms,
        );
        match job.add_bid(worker, &bid, score, now_ms()) {
            Ok(()) => {
                if let (Some(link), Some(consent)) = (&mut self.chain, bid.consent) {
                    link.consents.insert((bid.job_id, worker), consent);
                }
                Response::Ack
            }
            Err(refusal) => Response::Refused(refusal),
        }
    }

    /// Assigns workers where a job wants them, and re-announces jobs with no one left:
    /// one job right after an event that concerns it, every job on the clock.
    pub(super) fn drive_jobs(&mut self, only: Option<JobId>) {
        let now = now_ms();
        let grace = self.config.assign_grace.as_millis() as u64;
        let window = self.config.bid_window.as_millis() as u64;
        let mut assign = Vec::new();
        let mut reannounce = Vec::new();
        {
            let mut jobs = self.jobs.borrow_mut();
            let selected: Vec<&mut ClientJob> = match only {
                Some(id) => jobs.get_mut(&id).into_iter().collect(),
                None => jobs.values_mut().collect(),
            };
            for job in selected {
                let was_open = job.is_open();
                job.expire(now);
                if !job.is_open() {
                    if was_open {
                        self.finished(job);
                    }
                    continue;
                }
                let Some(announced) = job.announced_ms else {
                    continue;
                };
                let k = job.redundancy as usize;
                let ready = job.status == JobStatus::Running
                    || job.bids.len() >= 2 * k
                    || (now >= announced + window && !job.bids.is_empty());
                if ready && job.wanted() > 0 {
                    let initial = job.selected_ms.is_none();
                    let chosen = job.select(now, grace);
                    if !initial {
                        self.metrics.reassignments.inc_by(chosen.len() as u64);
                    }
                    for worker in chosen {
                        assign.push((
                            worker,
                            Assignment {
                                job_id: job.id,
                                module: job.module,
                                input: job.input,
                                limits: job.limits,
                                deadline_ms: job
                                    .assignment(&worker)
                                    .expect("just assigned")
                                    .deadline_ms,
                            },
                        ));
                    }
                }
                // No bid at all for a first announcement (every worker drew "no") is
                // retried after three bid windows; anything else after REANNOUNCE.
                let retry = if job.bids.is_empty() && job.announcements == 1 {
                    3 * window
                } else {
                    REANNOUNCE.as_millis() as u64
                };
                if job.wanted() > 0
                    && job.reserve().is_empty()
                    && now >= job.last_announced_ms + retry
                {
                    reannounce.push(job.id);
                }
            }
        }
        for (worker, assignment) in assign {
            let job = assignment.job_id;
            let id = self
                .swarm
                .behaviour_mut()
                .jobs
                .send_request(&worker, Request::Assign(assignment));
            self.pending.insert(id, Pending::Assign { job, worker });
        }
        for id in reannounce {
            self.announce(id);
        }
    }

    pub(super) fn finished(&self, job: &ClientJob) {
        self.shared.emit(NodeEvent::Settled {
            job: job.id,
            status: job.status,
            at: Instant::now(),
        });
        let status = match job.status {
            JobStatus::Completed => "completed",
            _ => "failed",
        };
        self.metrics.jobs.with_label_values(&[status]).inc();
        tracing::info!(job = %job.id, status, error = ?job.error, "job finished");
        if let Some(link) = &self.chain {
            let (expected, mut verdicts) = verdicts(job);
            if self.config.client_conduct == ClientConduct::Grief {
                // Contest every agreed result, naming the agreed result as the evidence.
                for (_, verdict) in &mut verdicts {
                    if let SlotVerdict::Agreed { result, .. } = verdict {
                        *verdict = SlotVerdict::Wrong { evidence: *result };
                    }
                }
            }
            // With a store, the verdicts reach the disk before any slot is settled by them.
            match &self.duties {
                Some(writer) => {
                    let ending = ending_of(job, expected, &verdicts, |p| {
                        let consent = link.consents.get(&(job.id, *p))?;
                        Some(signed_bid(&job.id, link.account_of(p)?, consent))
                    });
                    writer.write(
                        Write::Ended {
                            job: job.id,
                            ending: Box::new(ending),
                        },
                        Stored::Finished {
                            job: job.id,
                            expected,
                            verdicts,
                        },
                    );
                }
                None => {
                    let _ = link.to.send(ToChain::Finished {
                        job: job.id,
                        expected,
                        verdicts,
                    });
                }
            }
        }
    }

    /// Applies `f` to a job, then records its end if `f` ended it.
    pub(super) fn with_job<T>(&self, id: &JobId, f: impl FnOnce(&mut ClientJob) -> T) -> Option<T> {
        let mut jobs = self.jobs.borrow_mut();
        let job = jobs.get_mut(id)?;
        let (was_open, failures) = (job.is_open(), job.verification_failures.len());
        let out = f(job);
        let new_failures = job.verification_failures.len() - failures;
        self.metrics
            .verification_failures
            .inc_by(new_failures as u64);
        if was_open && !job.is_open() {
            self.finished(job);
        }
        Some(out)
    }

    pub(super) fn worker_lost(&mut self, peer: PeerId) {
        let ids: Vec<JobId> = {
            let jobs = self.jobs.borrow();
            jobs.values()
                .filter(|j| j.is_open() && j.assignment(&peer).is_some())
                .map(|j| j.id)
                .collect()
        };
        for id in ids {
            self.with_job(&id, |job| job.lost(&peer, now_ms()));
            self.drive_jobs(Some(id));
        }
    }

    /// A worker's answer to its assignment. Only a worker that took the job is assigned on
    /// chain: one that refused (busy) must not be slashed for a job it never had.
    pub(super) fn on_assign_reply(
        &mut self,
        job: JobId,
        worker: PeerId,
        response: Result<Response, ()>,
    ) {
        let accepted = matches!(response, Ok(Response::Ack));
        let now = now_ms();
        self.with_job(&job, |j| match response {
            Ok(_) => j.assign_reply(&worker, accepted, now),
            Err(()) => j.lost(&worker, now),
        });
        if !accepted {
            self.drive_jobs(Some(job));
            return;
        }
        if let Some(link) = &self.chain {
            match (link.account_of(&worker), link.consents.get(&(job, worker))) {
                (Some(account), Some(consent)) => {
                    let _ = link.to.send(ToChain::Assigned {
                        job,
                        worker,
                        bid: signed_bid(&job, account, consent),
                    });
                }
                _ => tracing::warn!(%job, %worker, "assigned a worker with no account or consent"),
            }
        }
    }

    /// A worker's commitment to its result's hash.
    pub(super) fn on_commit(&mut self, worker: PeerId, commit: ResultCommit) -> Response {
        let now = now_ms();
        self.with_job(&commit.job_id, |job| {
            job.commit(&worker, commit.result, commit.salt, commit.fuel_used, now)
        })
        .unwrap_or(Err(Refusal::UnknownJob))
        .map_or_else(Response::Refused, |()| Response::Ack)
    }

    /// A worker's result: hashed on a blocking thread, then judged by [`Self::on_result`].
    pub(super) fn hash_result(
        &mut self,
        worker: PeerId,
        job_id: JobId,
        output: Vec<u8>,
        error: Option<String>,
        channel: ResponseChannel<Response>,
    ) {
        self.off_loop(move || {
            let outcome = match error {
                Some(message) => Outcome::Error(message),
                None => Outcome::Output(output),
            };
            Internal::Result {
                worker,
                job_id,
                outcome: Hashed::new(outcome),
                channel,
            }
        });
    }

    /// A worker's result, which must match its commitment.
    pub(super) fn on_result(&mut self, worker: PeerId, job_id: JobId, outcome: Hashed) -> Response {
        let result = self
            .with_job(&job_id, |job| job.deliver(&worker, outcome, now_ms()))
            .unwrap_or(Err(Refusal::UnknownJob));
        if result == Err(Refusal::HashMismatch) {
            self.penalize(worker, "broken-commit");
        }
        result.map_or_else(Response::Refused, |()| Response::Ack)
    }

    pub(super) fn serve_fetch(&self, peer: &PeerId, job_id: &JobId, hash: &Hash) -> Response {
        // A worker hands its disputed job to whoever re-runs it.
        if let Some(work) = self.work.get(job_id) {
            if let (Some(_), Some(blob)) = (work.disputed_at, work.blobs.get(hash)) {
                return Response::Blob(blob.to_vec());
            }
        }
        let jobs = self.jobs.borrow();
        let disputed = self.config.client_conduct != ClientConduct::Grief
            && jobs.get(job_id).is_some_and(|job| {
                !job.disputes.is_empty() && (job.module == *hash || job.input == *hash)
            });
        let allowed = disputed
            || jobs.get(job_id).is_some_and(|job| {
                job.is_open()
                    && (job.module == *hash || job.input == *hash)
                    && job.assignment(peer).is_some_and(|a| {
                        matches!(
                            a.state,
                            crate::job::AssignmentState::Offered
                                | crate::job::AssignmentState::Accepted
                        )
                    })
            });
        match (allowed, self.blobs.get(hash)) {
            (true, Some(blob)) => Response::Blob(blob.to_vec()),
            _ => Response::Refused(Refusal::NotAssigned),
        }
    }

    /// A client's dispute is open: publish the evidence for the arbitrators.
    pub(super) fn on_disputed(
        &mut self,
        job: JobId,
        escrow_id: u64,
        dispute_id: u64,
        worker: PeerId,
    ) {
        let Some(record) = self.with_job(&job, |j| {
            j.disputes.push(dispute_id);
            j.clone()
        }) else {
            return;
        };
        let failure = record
            .verification_failures
            .iter()
            .find(|f| f.worker == worker);
        let evidence = protocol::Evidence {
            escrow_id,
            dispute_id,
            job_id: job,
            nonce: record.nonce,
            module: record.module,
            input: record.input,
            capability: record.capability.clone(),
            limits: record.limits,
            worker: worker.to_bytes(),
            claimed: failure.and_then(|f| f.claimed),
            accepted: failure
                .and_then(|f| f.accepted)
                .or(record.result.as_ref().map(|r| r.hash)),
            addrs: self.advertised_addrs(),
            round: 0,
        };
        tracing::info!(%job, dispute_id, "dispute opened; publishing the evidence");
        self.evidence.insert(
            dispute_id,
            Published {
                evidence,
                next: Instant::now(),
            },
        );
        self.publish_evidence();
    }

    /// Publishes the evidence that is due, each a few times in all.
    pub(super) fn publish_evidence(&mut self) {
        let now = Instant::now();
        let due: Vec<u64> = self
            .evidence
            .iter()
            .filter(|(_, p)| p.next <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(published) = self.evidence.get_mut(&id) else {
                continue;
            };
            let message = Gossip::Evidence(published.evidence.clone());
            published.evidence.round += 1;
            published.next = now + Duration::from_secs(3);
            if published.evidence.round >= EVIDENCE_ROUNDS {
                self.evidence.remove(&id);
            }
            if let Err(e) = self.publish(&message) {
                tracing::debug!(dispute = id, "evidence not published yet: {e}");
            }
        }
    }

    /// The worker's slot is escrowed on chain: tell the worker, so it submits its result.
    pub(super) fn tell_escrowed(&mut self, job: JobId, worker: PeerId, escrow_id: u64) {
        self.send_escrowed(EscrowedAgain {
            due: Instant::now(),
            job,
            worker,
            escrow_id,
            tries: 1,
        });
    }

    fn send_escrowed(&mut self, escrowed: EscrowedAgain) {
        let EscrowedAgain {
            job,
            worker,
            escrow_id,
            tries,
            ..
        } = escrowed;
        let id = self.swarm.behaviour_mut().jobs.send_request(
            &worker,
            Request::Escrowed {
                job_id: job,
                escrow_id,
            },
        );
        self.pending.insert(
            id,
            Pending::Escrowed {
                job,
                worker,
                escrow_id,
                tries,
            },
        );
    }

    /// A worker that never hears of its escrow job cannot commit its result and is timed
    /// out: a message that did not get through is sent again, a few seconds later.
    pub(super) fn on_escrowed_reply(
        &mut self,
        job: JobId,
        worker: PeerId,
        escrow_id: u64,
        tries: u32,
        response: Result<Response, ()>,
    ) {
        if response.is_ok() {
            return;
        }
        if tries >= ESCROWED_TRIES {
            tracing::warn!(%job, %worker, escrow_id, tries, "the worker never heard of its escrow job");
            return;
        }
        self.escrowed_again.push(EscrowedAgain {
            due: Instant::now() + ESCROWED_RETRY,
            job,
            worker,
            escrow_id,
            tries: tries + 1,
        });
    }

    /// Sends the escrow jobs whose retry is due.
    pub(super) fn retry_escrowed(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.escrowed_again)
            .into_iter()
            .partition(|e| e.due <= now);
        self.escrowed_again = later;
        for escrowed in due {
            self.send_escrowed(escrowed);
        }
    }

    /// The worker's result is accepted from this client's deposit: hand it the acceptance,
    /// which it settles in a batch.
    pub(super) fn send_acceptance(
        &mut self,
        job: JobId,
        worker: PeerId,
        signed: &SignedAcceptance,
    ) {
        let id = self.swarm.behaviour_mut().jobs.send_request(
            &worker,
            Request::Accepted(crate::chain::accepted_message(&job, signed)),
        );
        self.pending.insert(id, Pending::Accepted(job));
    }

    /// Every escrow slot of a job is settled on chain.
    pub(super) fn on_settled(&mut self, job: JobId, slots: Vec<SlotReport>) {
        if let Some(link) = &mut self.chain {
            link.consents.retain(|(j, _), _| *j != job);
        }
        self.with_job(&job, |j| {
            j.settlement = Some(slots.clone());
            j.settling.clear();
        });
        self.persist(Write::JobSettled { job }, Stored::Nothing);
        self.shared.emit(NodeEvent::SettledOnChain { job, slots });
    }

    /// Where one of the job's slots stands while its settlement does not go through at
    /// once; the gateway shows it in the job's `settling`. A worker's own slots, and slots
    /// an earlier run left, have no client job here: the settler's log and metrics tell.
    pub(super) fn on_progress(
        &mut self,
        job: JobId,
        escrow_id: u64,
        progress: Option<crate::job::SlotProgress>,
    ) {
        self.with_job(&job, |j| match progress {
            Some(progress) => j.progress(progress),
            None => j.progressed(escrow_id),
        });
    }
}
