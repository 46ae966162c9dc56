//! The worker's durable duties (see [`crate::store`]): each step that creates or changes
//! what the worker is owed is written first, and the message or transaction that depends
//! on it goes out once the write is on disk (`Internal::Stored`). At start, the open
//! duties come back as work the client or the chain can still settle.

use super::*;
use crate::store::{Duty, Write};

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
