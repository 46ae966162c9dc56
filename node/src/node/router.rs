//! The router: every gossip topic, request kind and message from the chain has one arm
//! here, which hands it to the role that handles it.

use super::*;

impl Node {
    pub(super) fn on_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let (acceptance, kind) =
                    self.on_gossip(propagation_source, &message.topic, &message.data);
                let verdict = match acceptance {
                    MessageAcceptance::Accept => "accept",
                    MessageAcceptance::Ignore => "ignore",
                    MessageAcceptance::Reject => "reject",
                };
                self.metrics
                    .gossip
                    .with_label_values(&[kind, verdict])
                    .inc();
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            gossipsub::Event::Subscribed { topic, .. } => {
                if topics::job_capability(topic.as_str()).is_some() {
                    self.announce_waiting(&topic);
                }
                if topic.as_str() == topics::CAPABILITIES && self.last_ad.is_none() {
                    self.advertise();
                }
            }
            _ => {}
        }
    }

    /// Validates one gossip message and acts on it. The verdict decides whether gossipsub
    /// forwards it, and a rejection counts against the peer that sent it.
    pub(super) fn on_gossip(
        &mut self,
        from: PeerId,
        topic: &TopicHash,
        data: &[u8],
    ) -> (MessageAcceptance, &'static str) {
        let (signer, message) = match protocol::open(data, topic.as_str()) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::debug!(peer = %from, "rejected gossip: {e}");
                self.penalize(from, e.label());
                return (MessageAcceptance::Reject, "invalid");
            }
        };
        let kind = message.kind();
        if self.limits.is_banned(&signer) {
            return (MessageAcceptance::Reject, kind);
        }
        if !self.limits.allow(&signer, Channel::Gossip) {
            self.penalize(signer, "rate-limited");
            return (MessageAcceptance::Ignore, kind);
        }
        if signer == self.me {
            return (MessageAcceptance::Ignore, kind);
        }
        match message {
            Gossip::Job(job) => self.on_announcement(signer, job),
            Gossip::Capabilities(ad) => self.on_ad(signer, ad),
            Gossip::Reputation(update) => self.check_reputation(signer, update),
            Gossip::Health(_) => {}
            Gossip::Evidence(evidence) => return (self.on_evidence(signer, evidence), kind),
        }
        (MessageAcceptance::Accept, kind)
    }

    pub(super) fn on_jobs(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_request(peer, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_response(peer, request_id, Ok(response)),
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, "request failed: {error}");
                self.on_response(peer, request_id, Err(()));
            }
            _ => {}
        }
    }

    /// Answers a request. Each is rate-limited per peer and kind first.
    pub(super) fn on_request(
        &mut self,
        peer: PeerId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        let kind = request.kind();
        let concerns = match &request {
            Request::Bid(b) => Some(b.job_id),
            Request::Result { job_id, .. } => Some(*job_id),
            _ => None,
        };
        let response = if !self.limits.allow(&peer, Channel::of(&request)) {
            self.penalize(peer, "rate-limited");
            Response::Refused(Refusal::RateLimited)
        } else {
            match request {
                Request::Refused(e) => {
                    tracing::debug!(%peer, "refused a request: {e}");
                    self.penalize(peer, e.label());
                    Response::Refused(Refusal::BadRequest)
                }
                Request::Bid(bid) => {
                    // A client that pays from its deposit names the account that pays, so
                    // the worker can check it before it runs anything.
                    match (self.on_bid(peer, bid), &self.chain) {
                        (Response::Ack, Some(link)) if link.pays_from_deposit => {
                            Response::Payer(link.backing.clone())
                        }
                        (response, _) => response,
                    }
                }
                Request::Escrowed { job_id, escrow_id } => {
                    self.on_escrowed(peer, job_id, escrow_id)
                }
                Request::Assign(assignment) => self.on_assign(peer, assignment),
                Request::Accepted(accepted) => self.on_accepted(peer, accepted),
                Request::Fetch { job_id, hash } => self.serve_fetch(&peer, &job_id, &hash),
                Request::Commit(commit) => self.on_commit(peer, commit),
                Request::Result {
                    job_id,
                    output,
                    error,
                } => {
                    // Hashed off the loop; answered from `on_internal`.
                    return self.hash_result(peer, job_id, output, error, channel);
                }
            }
        };
        self.respond(kind, channel, response, concerns);
    }

    /// Answers a request, counts the answer, and moves the job it concerns along.
    pub(super) fn respond(
        &mut self,
        kind: &'static str,
        channel: ResponseChannel<Response>,
        response: Response,
        concerns: Option<JobId>,
    ) {
        let outcome = match &response {
            Response::Refused(r) => format!("{r:?}").to_lowercase(),
            _ => "ok".into(),
        };
        self.metrics
            .requests
            .with_label_values(&[kind, &outcome])
            .inc();
        let _ = self
            .swarm
            .behaviour_mut()
            .jobs
            .send_response(channel, response);
        if concerns.is_some() {
            self.drive_jobs(concerns);
        }
    }

    /// Work that comes back from blocking threads, each kind to its role.
    pub(super) fn on_internal(&mut self, done: Internal) {
        match done {
            Internal::Executed { job, outcome, cost } => self.on_executed(job, outcome, cost),
            Internal::Rerun {
                dispute_id,
                outcome,
            } => self.on_rerun(dispute_id, outcome),
            Internal::Blob {
                job,
                hash,
                blob,
                genuine,
            } => self.on_blob(job, hash, blob, genuine),
            Internal::EvidenceBlob {
                dispute_id,
                hash,
                blob,
                genuine,
            } => self.on_evidence_blob(dispute_id, hash, blob, genuine),
            Internal::Result {
                worker,
                job_id,
                outcome,
                channel,
            } => {
                let response = self.on_result(worker, job_id, outcome);
                self.respond("result", channel, response, Some(job_id));
            }
            Internal::Stored { then, written } => self.on_stored(then, written),
        }
    }

    pub(super) fn on_response(
        &mut self,
        peer: PeerId,
        id: OutboundRequestId,
        response: Result<Response, ()>,
    ) {
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        match pending {
            Pending::Assign { job, worker } => self.on_assign_reply(job, worker, response),
            Pending::Escrowed {
                job,
                worker,
                escrow_id,
                tries,
            } => self.on_escrowed_reply(job, worker, escrow_id, tries, response),
            Pending::Accepted(job) => {
                if !matches!(response, Ok(Response::Ack)) {
                    tracing::info!(%job, %peer, ?response, "the worker did not take its acceptance; this client pays it after the fallback");
                }
            }
            Pending::Bid(job) => self.on_bid_reply(job, response),
            Pending::Fetch { job, hash } => self.on_fetch_reply(job, hash, peer, response),
            Pending::Commit(job) => self.on_commit_reply(job, response),
            Pending::Result(job) => self.on_result_reply(job),
            Pending::Evidence {
                dispute_id,
                hash,
                from_worker,
            } => self.on_evidence_reply(dispute_id, hash, from_worker, response),
        }
    }

    pub(super) fn on_chain(&mut self, message: FromChain) {
        match message {
            FromChain::Verified {
                peer,
                backing,
                verdict,
            } => self.on_verified(peer, backing, verdict),
            FromChain::OwnStanding(backer) => self.on_own_standing(backer),
            FromChain::Slots { job, escrow_ids } => {
                self.with_job(&job, |j| j.escrow_ids.extend(escrow_ids));
            }
            FromChain::Escrowed {
                job,
                worker,
                escrow_id,
            } => self.tell_escrowed(job, worker, escrow_id),
            FromChain::Funded { job } => self.on_funded(job),
            FromChain::Refused { job, message } => self.on_refused(job, message),
            FromChain::Settled { job, slots } => self.on_settled(job, slots),
            FromChain::Disputed {
                job,
                escrow_id,
                dispute_id,
                worker,
            } => self.on_disputed(job, escrow_id, dispute_id, worker),
            FromChain::Rerun {
                client,
                evidence,
                worker_result,
            } => self.on_rerun_wanted(client, evidence, worker_result),
            FromChain::Voted {
                dispute_id,
                worker_right,
            } => {
                tracing::info!(dispute_id, worker_right, "arbitrated");
                self.shared.emit(NodeEvent::Voted {
                    dispute_id,
                    worker_right,
                });
            }
            FromChain::Progress {
                job,
                escrow_id,
                progress,
            } => self.on_progress(job, escrow_id, progress),
            FromChain::Recovered(report) => {
                tracing::info!(?report, "settled a slot left by an earlier run");
                self.shared.emit(NodeEvent::Recovered(report));
            }
            FromChain::Finalized { job, escrow_id } => {
                self.close_duty(job);
                self.shared
                    .emit(NodeEvent::FinalizedOnChain { job, escrow_id });
            }
            FromChain::Submitted { job, escrow_id } => self.on_submitted(job, escrow_id),
            FromChain::WorkSettled { job, disputed } => self.on_work_settled(job, disputed),
            FromChain::Reputation(update) => self.publish_reputation(update),
            FromChain::Accepted {
                job,
                worker,
                acceptance,
            } => self.send_acceptance(job, worker, &acceptance),
            FromChain::AcceptanceRefused { job, error } => self.on_acceptance_refused(job, error),
            FromChain::PayerChecked { job, verdict } => self.on_payer_checked(job, verdict),
            FromChain::BatchSettled {
                tx_hash,
                jobs,
                amount,
            } => self.on_batch_settled(tx_hash, jobs, amount),
            FromChain::ReputationChecked {
                from,
                update,
                genuine,
            } => self.on_reputation_checked(from, update, genuine),
        }
    }
}
