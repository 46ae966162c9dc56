//! The attempts of one step against the chain: the backoff between them, the limit after
//! which the step is reported stuck, and what an operator sees of it (a WARN naming the
//! step, the escrow id and the reason, `ciro_node_settlements_stuck`, and for a client's
//! slot the job's `settling` entry in the gateway's JSON). A stuck step is still tried,
//! every [`ChainSettings::stuck_retry`]: giving up would lose a payment the chain still
//! owes, so nothing is dropped, and nothing is retried silently either.

use super::*;
use crate::job::{Progress, SlotProgress};

/// Where a slot's step stands, as [`Attempts`] decides it. A pure function of the count, so
/// the limit is unit-tested without a chain.
pub(super) fn standing(failures: u32, max_attempts: u32) -> Progress {
    if failures >= max_attempts.max(1) {
        Progress::Stuck
    } else {
        Progress::Retrying
    }
}

/// Whether a deadline that this machine's clock (`wall`) passed `grace` seconds ago, but
/// the chain's clock (`chain`) has not, means the chain has stopped making blocks.
pub(super) fn clock_stopped(deadline: u64, chain: u64, wall: u64, grace: u64) -> bool {
    chain <= deadline && wall > deadline.saturating_add(grace)
}

pub(super) struct Attempts<'a> {
    settler: &'a Settler,
    /// The client job and escrow job the step settles, when it settles one (escrow id 0
    /// while a job's slots are being created).
    slot: Option<(JobId, u64)>,
    failures: u32,
    backoff: ExponentialBackoff,
    /// What was last reported, so a state is logged once when it starts.
    reported: Option<(Progress, &'static str)>,
    since_ms: u64,
    /// Counted in the stuck gauge now.
    stuck: bool,
}

impl<'a> Attempts<'a> {
    /// Attempts at settling escrow job `escrow_id` of `job`.
    pub(super) fn new(settler: &'a Settler, job: JobId, escrow_id: u64) -> Self {
        Self::of(settler, Some((job, escrow_id)))
    }

    /// Attempts at a step that settles no particular slot (a read, a deposit, a batch).
    pub(super) fn unattached(settler: &'a Settler) -> Self {
        Self::of(settler, None)
    }

    fn of(settler: &'a Settler, slot: Option<(JobId, u64)>) -> Self {
        Self {
            settler,
            slot,
            failures: 0,
            backoff: settler.backoff(),
            reported: None,
            since_ms: crate::clock::now_ms(),
            stuck: false,
        }
    }

    /// `step` failed with `error`: waits its backoff, or once past the limit reports the
    /// slot stuck and waits [`ChainSettings::stuck_retry`] before the next try.
    pub(super) async fn failed(&mut self, step: &'static str, error: &ChainError) {
        self.failures += 1;
        self.settler
            .metrics
            .settlement_retries
            .with_label_values(&[step])
            .inc();
        let state = standing(self.failures, self.settler.settings.max_attempts);
        let wait = match state {
            Progress::Stuck => self.settler.settings.stuck_retry,
            _ => self
                .backoff
                .next()
                .unwrap_or(self.settler.settings.max_backoff),
        };
        let reason = error.to_string();
        let (job, escrow_id) = self.named();
        match state {
            Progress::Stuck if !self.is(state, step) => tracing::warn!(
                job = job.as_deref(),
                escrow_id,
                step,
                attempts = self.failures,
                "settlement stuck: {reason}; trying again every {wait:?}"
            ),
            _ => tracing::info!(
                job = job.as_deref(),
                escrow_id,
                step,
                attempt = self.failures,
                "{reason}; trying again in {wait:?}"
            ),
        }
        self.report(state, step, reason);
        tokio::time::sleep(wait).await;
    }

    /// The slot waits for the chain's clock to pass `deadline` before `step` can go.
    /// Reported as waiting, or as stuck once this machine's clock is more than
    /// [`ChainSettings::clock_grace`] past the deadline while the chain's is not: a chain
    /// that makes no blocks.
    pub(super) async fn wait_for_clock(&mut self, step: &'static str, deadline: u64, chain: u64) {
        let wall = crate::clock::now_ms() / 1000;
        let grace = self.settler.settings.clock_grace.as_secs();
        let (state, reason) = if clock_stopped(deadline, chain, wall, grace) {
            (
                Progress::Stuck,
                format!(
                    "the chain's clock reads {chain}, {} s behind this machine's, and has not passed the deadline {deadline}: is the chain making blocks?",
                    wall.saturating_sub(chain)
                ),
            )
        } else {
            (
                Progress::Waiting,
                format!("waiting for the chain's clock to pass {deadline}"),
            )
        };
        if state == Progress::Stuck && !self.is(state, step) {
            let (job, escrow_id) = self.named();
            tracing::warn!(
                job = job.as_deref(),
                escrow_id,
                step,
                "settlement stuck: {reason}"
            );
        }
        self.report(state, step, reason);
        tokio::time::sleep(self.settler.settings.poll).await;
    }

    /// The step went through: the slot is no longer held.
    pub(super) fn through(&mut self) {
        if self.reported.take().is_some() {
            if let Some((job, escrow_id)) = self.slot {
                let _ = self.settler.out.send(FromChain::Progress {
                    job,
                    escrow_id,
                    progress: None,
                });
            }
        }
        if self.stuck {
            let (job, escrow_id) = self.named();
            tracing::info!(
                job = job.as_deref(),
                escrow_id,
                "settlement no longer stuck"
            );
        }
        self.set_stuck(false);
        self.failures = 0;
        self.backoff = self.settler.backoff();
    }

    /// The job and escrow id for a log line, when the step settles a slot.
    fn named(&self) -> (Option<String>, Option<u64>) {
        match self.slot {
            Some((job, escrow_id)) => (Some(job.to_string()), Some(escrow_id)),
            None => (None, None),
        }
    }

    fn is(&self, state: Progress, step: &'static str) -> bool {
        self.reported == Some((state, step))
    }

    /// Tells the loop where the slot stands: on every failure, and when a wait starts
    /// (not on each poll of it).
    fn report(&mut self, state: Progress, step: &'static str, reason: String) {
        let changed = !self.is(state, step);
        if changed {
            self.since_ms = crate::clock::now_ms();
        }
        self.reported = Some((state, step));
        self.set_stuck(state == Progress::Stuck);
        let Some((job, escrow_id)) = self.slot else {
            return;
        };
        if !changed && state == Progress::Waiting {
            return;
        }
        let _ = self.settler.out.send(FromChain::Progress {
            job,
            escrow_id,
            progress: Some(SlotProgress {
                escrow_id,
                state,
                step,
                reason,
                attempts: self.failures,
                since_ms: self.since_ms,
            }),
        });
    }

    fn set_stuck(&mut self, stuck: bool) {
        match (self.stuck, stuck) {
            (false, true) => self.settler.metrics.settlements_stuck.inc(),
            (true, false) => self.settler.metrics.settlements_stuck.dec(),
            _ => {}
        }
        self.stuck = stuck;
    }
}

impl Drop for Attempts<'_> {
    // A settlement that ends (or stops with the node) leaves the gauge as it found it.
    fn drop(&mut self) {
        self.set_stuck(false);
    }
}
