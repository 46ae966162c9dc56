//! The worker's durable duties (see [`crate::store`]): each step that creates or changes
//! what the worker is owed is written first, and the message or transaction that depends
//! on it goes out once the write is on disk (`Internal::Stored`). At start, the open
//! duties come back as work the client or the chain can still settle.

use super::*;
use ciro_bindings::bid::SignedBid;

use crate::{
    chain::{ResumedJob, ResumedWorker},
    job::JobResult,
    store::{ClientRecord, Duty, Ending, OpenJob, TakenResult, Write},
};

/// What waits for a write to reach the disk.
pub(super) enum Stored {
    /// Send the commitment to the result (and, once the slot is known, put it on chain).
    Commit { job: JobId, fuel: u64 },
    /// Put the committed result on chain: its escrow job is known.
    Submit(JobId),
    /// Settle the client's acceptance in a batch.
    Accepted {
        job: JobId,
        acceptance: Box<SignedAcceptance>,
    },
    /// Settle a client job's slots: its verdicts are on disk.
    Finished {
        job: JobId,
        expected: Option<Hash>,
        verdicts: Vec<(PeerId, SlotVerdict)>,
    },
    /// Nothing: the write only records.
    Nothing,
}

/// How long a settled duty stays on disk, for an operator to look back at, before a start
/// forgets it.
pub(super) const SETTLED_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long past its deadline a duty with no escrow job and no acceptance is kept open:
/// by then no client can assign it on chain, so nothing will ever pay it.
const UNCLAIMED_RETENTION: Duration = SETTLING_RETENTION;

impl Node {
    /// Writes `write`, then carries out `then` once it is on disk. A node without a data
    /// directory, or that does not settle on chain (nothing is owed off chain), carries it
    /// out at once.
    pub(super) fn persist(&mut self, write: Write, then: Stored) {
        match (&self.duties, &self.chain) {
            (Some(writer), Some(_)) => writer.write(write, then),
            _ => self.on_stored(then, true),
        }
    }

    /// A write reached the disk (`written`), or failed: carry out what waited on it.
    pub(super) fn on_stored(&mut self, then: Stored, written: bool) {
        match then {
            Stored::Commit { job, fuel } => {
                let Some(work) = self.work.get_mut(&job) else {
                    return;
                };
                if !written {
                    // Without a record, a restart would forget the commitment and lose
                    // its pay: better not to make it.
                    tracing::error!(%job, "not committing to a result that could not be saved");
                    work.state = WorkState::Done;
                    return;
                }
                let Some(outcome) = &work.outcome else {
                    return;
                };
                work.owed = self.chain.is_some();
                let commit = ResultCommit {
                    job_id: job,
                    result: outcome.hash(),
                    fuel_used: fuel,
                    salt: work.salt,
                };
                let client = work.client;
                self.submit_on_chain(job);
                let id = self
                    .swarm
                    .behaviour_mut()
                    .jobs
                    .send_request(&client, Request::Commit(commit));
                self.pending.insert(id, Pending::Commit(job));
            }
            Stored::Submit(job) => self.submit_on_chain(job),
            Stored::Accepted { job, acceptance } => {
                if let Some(link) = &self.chain {
                    let _ = link.to.send(ToChain::Accepted {
                        job,
                        acceptance: *acceptance,
                        resumed: false,
                    });
                }
            }
            Stored::Finished {
                job,
                expected,
                verdicts,
            } => {
                if !written {
                    // Settling now still pays what is owed; only a crash before it ends
                    // would leave the slots to the chain's recovery.
                    tracing::error!(%job, "settling a job whose ending could not be saved");
                } else if self.config.client_conduct == ClientConduct::CrashBeforeSettle {
                    tracing::warn!(%job, "crashing before the job's slots are settled, as told");
                    std::process::abort();
                }
                if let Some(link) = &self.chain {
                    let _ = link.to.send(ToChain::Finished {
                        job,
                        expected,
                        verdicts,
                    });
                }
            }
            Stored::Nothing => {}
        }
    }

    /// The duty of `job` is settled: nothing more is owed either way.
    pub(super) fn close_duty(&mut self, job: JobId) {
        if let Some(work) = self.work.get_mut(&job) {
            work.owed = false;
        }
        self.persist(Write::Settled { job }, Stored::Nothing);
    }

    /// The record of what this worker owes for `job`, from its work.
    pub(super) fn duty_of(&self, job: JobId) -> Option<Duty> {
        let work = self.work.get(&job)?;
        Some(Duty {
            job,
            client: work.client,
            announcement: work.announcement.clone(),
            salt: work.salt,
            outcome: work.outcome.as_ref()?.outcome().clone(),
            payer: match work.payer {
                Payer::Deposit(account) => Some(account.to_bytes_be()),
                _ => None,
            },
            escrow_id: work.escrow,
            acceptance: None,
        })
    }
}

/// What a client stores of a job it submitted.
pub(super) fn record_of(job: &ClientJob) -> ClientRecord {
    ClientRecord {
        job: job.id,
        spec_hash: job.spec_hash,
        capability: job.capability.clone(),
        reward: job.reward,
        redundancy: job.redundancy,
        limits: job.limits,
        module: job.module,
        input: job.input,
        created_ms: job.created_ms,
        deadline_ms: job.deadline_ms,
    }
}

/// What a client stores of a job that ended, before any transaction settles it.
pub(super) fn ending_of(
    job: &ClientJob,
    expected: Option<Hash>,
    verdicts: &[(PeerId, SlotVerdict)],
    bid_of: impl Fn(&PeerId) -> Option<SignedBid>,
) -> Ending {
    Ending {
        completed: job.status == JobStatus::Completed,
        error: job.error.clone(),
        result: job.result.as_ref().map(|r| TakenResult {
            hash: r.hash,
            output: match &r.outcome {
                Outcome::Output(bytes) => Ok(bytes.clone()),
                Outcome::Error(message) => Err(message.clone()),
            },
            agreeing: r.agreeing.clone(),
        }),
        expected,
        verdicts: verdicts
            .iter()
            .map(|(peer, verdict)| (*peer, bid_of(peer), verdict.clone()))
            .collect(),
    }
}

/// Why a job an earlier run left running ended without a result.
pub(super) const INTERRUPTED: &str =
    "the node stopped before the job ended; its escrow slots were settled without a verdict";

/// The client jobs an earlier run left unsettled: each comes back as a job the gateway
/// shows (ended: a run's off-chain work does not survive it) and as one the settler
/// finishes settling.
pub(super) fn restore_jobs(open: Vec<OpenJob>) -> (Vec<ClientJob>, Vec<ResumedJob>) {
    open.into_iter()
        .map(|OpenJob { record, ending }| {
            let mut job = ClientJob::new(
                record.job,
                record.spec_hash,
                record.capability.clone(),
                record.reward,
                record.redundancy,
                record.limits,
                record.module,
                record.input,
                record.created_ms,
                record.deadline_ms,
            );
            let resumed = ResumedJob {
                job: record.job,
                reward: record.reward,
                capability: record.capability,
                ended: ending.is_some(),
                expected: ending.as_ref().and_then(|e| e.expected),
                workers: ending
                    .iter()
                    .flat_map(|e| &e.verdicts)
                    .filter_map(|(peer, bid, verdict)| {
                        Some(ResumedWorker {
                            peer: *peer,
                            verdict: verdict.clone(),
                            bid: bid.clone()?,
                        })
                    })
                    .collect(),
            };
            match ending {
                Some(ending) => {
                    job.status = if ending.completed {
                        JobStatus::Completed
                    } else {
                        JobStatus::Failed
                    };
                    job.error = ending.error;
                    job.result = ending.result.map(|r| JobResult {
                        hash: r.hash,
                        outcome: match r.output {
                            Ok(bytes) => Outcome::Output(bytes),
                            Err(message) => Outcome::Error(message),
                        },
                        agreeing: r.agreeing,
                    });
                }
                None => {
                    job.status = JobStatus::Failed;
                    job.error = Some(INTERRUPTED.into());
                }
            }
            (job, resumed)
        })
        .unzip()
}

/// The open duties of an earlier run, read at start: work the client can still name an
/// escrow job or send an acceptance for, and what the settler resumes on chain. A duty
/// nothing can pay any more (no escrow job, no acceptance, long past its deadline) is
/// closed instead. Outputs are hashed here, before the loop runs.
pub(super) struct Restored {
    pub(super) work: HashMap<JobId, WorkerJob>,
    /// Acceptances to settle again (the batch may have paid them: the settler checks).
    pub(super) acceptances: Vec<(JobId, SignedAcceptance)>,
    /// What the settler needs to commit, reveal or finalize each duty's slot.
    pub(super) openings: Vec<(JobId, ciro_bindings::commitment::Opening)>,
    pub(super) expired: Vec<JobId>,
}

pub(super) async fn restore(duties: Vec<Duty>, account: Option<Felt>) -> Restored {
    let now = now_ms();
    let mut restored = Restored {
        work: HashMap::new(),
        acceptances: Vec::new(),
        openings: Vec::new(),
        expired: Vec::new(),
    };
    for duty in duties {
        let unclaimed = duty.escrow_id.is_none() && duty.acceptance.is_none();
        let deadline = duty.announcement.deadline_ms;
        if unclaimed && now > deadline.saturating_add(UNCLAIMED_RETENTION.as_millis() as u64) {
            restored.expired.push(duty.job);
            continue;
        }
        let outcome = duty.outcome.clone();
        let hashed = tokio::task::spawn_blocking(move || Hashed::new(outcome))
            .await
            .expect("hashing does not panic");
        restored.openings.push((
            duty.job,
            crate::chain::opening_of(&hashed.hash(), &duty.salt),
        ));
        if let (Some(message), Some(account)) = (&duty.acceptance, account) {
            restored
                .acceptances
                .push((duty.job, crate::chain::signed_acceptance(account, message)));
        }
        restored.work.insert(
            duty.job,
            WorkerJob {
                client: duty.client,
                announcement: duty.announcement,
                state: WorkState::Done,
                assignment: None,
                blobs: HashMap::new(),
                outcome: Some(hashed),
                seen: Instant::now(),
                escrow: duty.escrow_id,
                salt: duty.salt,
                // The settler's recovery commits, reveals or finalizes a slot it finds.
                submitted: duty.escrow_id.is_some(),
                settling: duty.acceptance.is_some(),
                owed: true,
                payer: duty
                    .payer
                    .map_or(Payer::Escrow, |p| Payer::Deposit(Felt::from_bytes_be(&p))),
                disputed_at: None,
            },
        );
    }
    restored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_job_is_settled_by_its_verdicts_or_without_any_if_it_never_ended() {
        let (agreed, unbacked) = (PeerId::random(), PeerId::random());
        let consent = Consent {
            price: 5,
            collateral: 6,
            deadline: 100,
            expiry: 200,
            nonce: [3; 32],
            signature: vec![[8; 32]],
        };
        let bid = crate::chain::signed_bid(&Hash::of(&[1]), Felt::from(7u8), &consent);
        let verdict = SlotVerdict::Agreed {
            result: Hash::of(b"42"),
            salt: [1; 32],
        };
        let ending = Ending::agreed_on_42(
            agreed,
            vec![
                (agreed, Some(bid.clone()), verdict.clone()),
                (unbacked, None, SlotVerdict::NoResult),
            ],
        );
        let (jobs, resumed) = restore_jobs(vec![
            OpenJob {
                record: ClientRecord::sample(1),
                ending: Some(ending),
            },
            OpenJob {
                record: ClientRecord::sample(2),
                ending: None,
            },
        ]);
        assert_eq!(jobs[0].status, JobStatus::Completed);
        let result = jobs[0].result.as_ref().unwrap();
        assert_eq!(result.outcome, Outcome::Output(b"42".to_vec()));
        assert_eq!(result.agreeing, vec![agreed]);
        assert_eq!(
            resumed[0],
            ResumedJob {
                job: Hash::of(&[1]),
                reward: 5,
                capability: "wasm".into(),
                ended: true,
                expected: Some(Hash::of(b"42")),
                // A worker with no consent has no slot to find or take: it is left out.
                workers: vec![ResumedWorker {
                    peer: agreed,
                    verdict,
                    bid,
                }],
            }
        );
        assert_eq!(jobs[1].status, JobStatus::Failed);
        assert_eq!(jobs[1].error.as_deref(), Some(INTERRUPTED));
        assert!(!resumed[1].ended && resumed[1].workers.is_empty());
        assert_eq!(resumed[1].expected, None);
    }
}
