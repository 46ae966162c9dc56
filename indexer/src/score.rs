//! The reputation score: a Bayesian success ratio with exponential time decay, computed only
//! from indexed `ReputationUpdated` events, so anyone can recompute it from the chain.
//!
//! ```text
//! on each outcome at block time t (seconds):
//!     decay   = 0.5 ^ ((t - t_last) / HALF_LIFE)        t_last = time of the previous outcome
//!     success = success * decay + s                      s = 1 for job_completed, dispute_won,
//!                                                          and each job of a jobs_completed batch
//!     failure = failure * decay + f                      f = 3 for job_failed (a timeout, slashed)
//!                                                          f = 5 for dispute_lost (slashed)
//! score = (success + PRIOR_SUCCESS) / (success + failure + PRIOR_SUCCESS + PRIOR_FAILURE)
//! ```
//!
//! A worker with no outcomes scores 0.5. Failures weigh 3 to 5 times a success, because
//! each one cost a client a deadline or a wrong result and cost the worker a slash. Decay
//! is relative to the worker's own latest outcome, so the score of a given set of events
//! never changes with the wall clock and two indexers always agree. It is stored in parts
//! per million (`score_ppm`) so ordering and pagination are exact integer comparisons.

use serde::Serialize;
use utoipa::ToSchema;

/// Seconds for an outcome's weight to halve: 30 days.
pub const HALF_LIFE_SECS: f64 = 30.0 * 24.0 * 3600.0;
/// Pseudo-successes every worker starts with.
pub const PRIOR_SUCCESS: f64 = 1.0;
/// Pseudo-failures every worker starts with.
pub const PRIOR_FAILURE: f64 = 1.0;
/// The formula, as served with every score.
pub const FORMULA: &str = "score = (S + 1) / (S + F + 2), where S and F are sums over the worker's ReputationUpdated events, each weighted 0.5^(age / 30 days) with age measured from the worker's latest outcome: job_completed and dispute_won add 1 to S (jobs_completed, a batch, adds 1 per job), job_failed adds 3 to F, dispute_lost adds 5 to F";

/// What happened to a worker, as the reputation contract records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A job was accepted or finalized.
    JobCompleted,
    /// Jobs settled in one batch; the event's change in `jobs_completed` says how many, and
    /// each counts as a `JobCompleted`.
    JobsCompleted,
    /// A job timed out.
    JobFailed,
    /// A dispute was ruled for the worker.
    DisputeWon,
    /// A dispute was ruled for the client.
    DisputeLost,
}

impl Outcome {
    /// From the event's `reason` short string.
    pub fn from_reason(reason: &str) -> Option<Self> {
        Some(match reason {
            "job_completed" => Self::JobCompleted,
            "jobs_completed" => Self::JobsCompleted,
            "job_failed" => Self::JobFailed,
            "dispute_won" => Self::DisputeWon,
            "dispute_lost" => Self::DisputeLost,
            _ => return None,
        })
    }

    /// The `reason` short string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JobCompleted => "job_completed",
            Self::JobsCompleted => "jobs_completed",
            Self::JobFailed => "job_failed",
            Self::DisputeWon => "dispute_won",
            Self::DisputeLost => "dispute_lost",
        }
    }

    /// (success weight, failure weight).
    fn weights(self) -> (f64, f64) {
        match self {
            Self::JobCompleted | Self::JobsCompleted | Self::DisputeWon => (1.0, 0.0),
            Self::JobFailed => (0.0, 3.0),
            Self::DisputeLost => (0.0, 5.0),
        }
    }
}

/// The decayed sums a score is made of.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScoreState {
    /// Decayed successes.
    pub success: f64,
    /// Decayed failures.
    pub failure: f64,
    /// Block time of the latest outcome, or `None` before the first.
    pub at: Option<u64>,
}

impl ScoreState {
    /// Folds in one outcome at block time `t`.
    pub fn record(&mut self, outcome: Outcome, t: u64) {
        self.record_many(outcome, t, 1);
    }

    /// Folds in `times` outcomes at block time `t`, as many `record`s would (they decay
    /// together), in constant time.
    pub fn record_many(&mut self, outcome: Outcome, t: u64, times: u64) {
        let decay = match self.at {
            Some(last) if t > last => 0.5f64.powf((t - last) as f64 / HALF_LIFE_SECS),
            _ => 1.0,
        };
        let (s, f) = outcome.weights();
        let n = times as f64;
        self.success = self.success * decay + s * n;
        self.failure = self.failure * decay + f * n;
        self.at = Some(self.at.map_or(t, |last| last.max(t)));
    }

    /// The score in [0, 1].
    pub fn score(&self) -> f64 {
        (self.success + PRIOR_SUCCESS)
            / (self.success + self.failure + PRIOR_SUCCESS + PRIOR_FAILURE)
    }

    /// The score in parts per million, as stored and compared.
    pub fn ppm(&self) -> i64 {
        (self.score() * 1_000_000.0).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_worker_scores_one_half_and_outcomes_move_it() {
        let mut s = ScoreState::default();
        assert_eq!(s.ppm(), 500_000);
        s.record(Outcome::JobCompleted, 100);
        assert_eq!(s.ppm(), 666_667); // 2/3
        s.record(Outcome::JobFailed, 100);
        assert_eq!(s.ppm(), 333_333); // 2/6
        s.record(Outcome::DisputeLost, 100);
        assert_eq!(s.ppm(), 181_818); // 2/11
    }

    #[test]
    fn a_batch_of_jobs_counts_as_that_many_completions() {
        let mut one_by_one = ScoreState::default();
        one_by_one.record(Outcome::JobFailed, 10);
        let mut batched = one_by_one;
        for _ in 0..3 {
            one_by_one.record(Outcome::JobCompleted, 1_000);
        }
        batched.record_many(Outcome::JobsCompleted, 1_000, 3);
        assert_eq!(batched, one_by_one);
        assert_eq!(
            batched.ppm(),
            (4.0 / (4.0 + 3.0 * 0.5f64.powf(990.0 / HALF_LIFE_SECS) + 1.0) * 1e6).round() as i64
        );
    }

    #[test]
    fn old_outcomes_fade_with_a_thirty_day_half_life() {
        let mut s = ScoreState::default();
        s.record(Outcome::DisputeLost, 0);
        let after_lost = s.ppm();
        s.record(Outcome::JobCompleted, HALF_LIFE_SECS as u64);
        // failure 5 -> 2.5, success 0 -> 1: (1 + 1) / (1 + 2.5 + 2)
        assert_eq!(s.ppm(), (2.0 / 5.5 * 1e6f64).round() as i64);
        assert!(s.ppm() > after_lost);
    }

    #[test]
    fn reasons_round_trip_and_unknown_ones_are_none() {
        for o in [
            Outcome::JobCompleted,
            Outcome::JobsCompleted,
            Outcome::JobFailed,
            Outcome::DisputeWon,
            Outcome::DisputeLost,
        ] {
            assert_eq!(Outcome::from_reason(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::from_reason("bonus"), None);
    }
}
