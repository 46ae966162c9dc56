//! Loading and saving the view's rows. One place maps each struct to its table, for the
//! engine (inside its transaction) and the API alike.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{amount, i, u};
use crate::error::{IndexerError, Result};
use crate::model::{Dispute, DisputeStatus, Job, JobState, Worker, WorkerStatus};
use crate::score::ScoreState;

pub(crate) const WORKER_COLUMNS: &str = "address, status, stake, locked, pending_unstake, unlock_at, capabilities, jobs_assigned, jobs_completed, jobs_failed, disputes_won, disputes_lost, slashes, total_earned, total_slashed, score_success, score_failure, score_at, score_ppm, slashed_since_stake, first_block, last_block, updated_at";
pub(crate) const JOB_COLUMNS: &str = "job_id, client, worker, state, spec_hash, capability, reward, collateral, deadline, challenge_window, result_hash, challenge_ends_at, dispute_id, payout, fee, refund, slashed, created_at, updated_at, created_block, updated_block, created_tx, commitment";
pub(crate) const DISPUTE_COLUMNS: &str = "dispute_id, job_id, client, worker, evidence_hash, voting_ends_at, votes_worker, votes_client, status, ruling, by_timeout, payout, bond, slashed_to_treasury, opened_at, resolved_at, opened_block, updated_block";

/// `INSERT ... ON CONFLICT (key) DO UPDATE SET every other column`, valid on both backends.
fn upsert(table: &str, columns: &str) -> String {
    let cols: Vec<&str> = columns.split(", ").collect();
    let params: Vec<String> = (1..=cols.len()).map(|n| format!("${n}")).collect();
    let set: Vec<String> = cols[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO {table} ({columns}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
        params.join(", "),
        cols[0],
        set.join(", ")
    )
}

fn opt_u(v: Option<i64>, what: &str) -> Result<Option<u64>> {
    v.map(|v| u(v, what)).transpose()
}

fn opt_amount(v: Option<String>, what: &str) -> Result<Option<u128>> {
    v.map(|v| amount(&v, what)).transpose()
}

pub(crate) fn worker_from(row: &AnyRow) -> Result<Worker> {
    let status: String = row.try_get("status")?;
    let capabilities: String = row.try_get("capabilities")?;
    let score_at: Option<i64> = row.try_get("score_at")?;
    let mut w = Worker {
        address: row.try_get("address")?,
        status: WorkerStatus::parse(&status)
            .ok_or_else(|| IndexerError::Corrupt(format!("worker status {status:?}")))?,
        stake: amount(&row.try_get::<String, _>("stake")?, "stake")?,
        locked: amount(&row.try_get::<String, _>("locked")?, "locked")?,
        pending_unstake: amount(&row.try_get::<String, _>("pending_unstake")?, "pending")?,
        unlock_at: opt_u(row.try_get("unlock_at")?, "unlock_at")?,
        capabilities: serde_json::from_str(&capabilities)
            .map_err(|e| IndexerError::Corrupt(format!("capabilities {capabilities:?}: {e}")))?,
        jobs_assigned: u(row.try_get("jobs_assigned")?, "jobs_assigned")?,
        jobs_completed: u(row.try_get("jobs_completed")?, "jobs_completed")?,
        jobs_failed: u(row.try_get("jobs_failed")?, "jobs_failed")?,
        disputes_won: u(row.try_get("disputes_won")?, "disputes_won")?,
        disputes_lost: u(row.try_get("disputes_lost")?, "disputes_lost")?,
        slashes: u(row.try_get("slashes")?, "slashes")?,
        total_earned: amount(&row.try_get::<String, _>("total_earned")?, "total_earned")?,
        total_slashed: amount(&row.try_get::<String, _>("total_slashed")?, "total_slashed")?,
        score: 0.0,
        score_ppm: row.try_get("score_ppm")?,
        first_block: u(row.try_get("first_block")?, "first_block")?,
        last_block: u(row.try_get("last_block")?, "last_block")?,
        updated_at: u(row.try_get("updated_at")?, "updated_at")?,
        score_state: ScoreState {
            success: row.try_get("score_success")?,
            failure: row.try_get("score_failure")?,
            at: opt_u(score_at, "score_at")?,
        },
        slashed_since_stake: row.try_get::<i64, _>("slashed_since_stake")? != 0,
        new_points: Vec::new(),
    };
    w.score = w.score_state.score();
    Ok(w)
}

pub(crate) async fn load_worker(conn: &mut AnyConnection, address: &str) -> Result<Option<Worker>> {
    let sql = format!("SELECT {WORKER_COLUMNS} FROM workers WHERE address = $1");
    let row = sqlx::query(&sql).bind(address).fetch_optional(conn).await?;
    row.as_ref().map(worker_from).transpose()
}

/// Saves the worker, its capability index rows and its new score points.
pub(crate) async fn save_worker(conn: &mut AnyConnection, w: &Worker) -> Result<()> {
    let capabilities = serde_json::to_string(&w.capabilities).expect("strings serialize");
    sqlx::query(&upsert("workers", WORKER_COLUMNS))
        .bind(&w.address)
        .bind(w.status.as_str())
        .bind(w.stake.to_string())
        .bind(w.locked.to_string())
        .bind(w.pending_unstake.to_string())
        .bind(w.unlock_at.map(i))
        .bind(capabilities)
        .bind(i(w.jobs_assigned))
        .bind(i(w.jobs_completed))
        .bind(i(w.jobs_failed))
        .bind(i(w.disputes_won))
        .bind(i(w.disputes_lost))
        .bind(i(w.slashes))
        .bind(w.total_earned.to_string())
        .bind(w.total_slashed.to_string())
        .bind(w.score_state.success)
        .bind(w.score_state.failure)
        .bind(w.score_state.at.map(i))
        .bind(w.score_ppm)
        .bind(i64::from(w.slashed_since_stake))
        .bind(i(w.first_block))
        .bind(i(w.last_block))
        .bind(i(w.updated_at))
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM worker_capabilities WHERE worker = $1")
        .bind(&w.address)
        .execute(&mut *conn)
        .await?;
    for capability in &w.capabilities {
        sqlx::query(
            "INSERT INTO worker_capabilities (capability, worker, score_ppm, status) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (capability, worker) DO NOTHING",
        )
        .bind(capability)
        .bind(&w.address)
        .bind(w.score_ppm)
        .bind(w.status.as_str())
        .execute(&mut *conn)
        .await?;
    }
    for p in &w.new_points {
        sqlx::query(
            "INSERT INTO score_history (worker, block_number, tx_hash, tx_index, event_index, reason, score, timestamp) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&w.address)
        .bind(i(p.block_number))
        .bind(&p.tx_hash)
        .bind(i(p.tx_index))
        .bind(i(p.event_index))
        .bind(&p.reason)
        .bind(p.score)
        .bind(i(p.timestamp))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes a worker and everything derived from it.
pub(crate) async fn delete_worker(conn: &mut AnyConnection, address: &str) -> Result<()> {
    for sql in [
        "DELETE FROM workers WHERE address = $1",
        "DELETE FROM worker_capabilities WHERE worker = $1",
        "DELETE FROM score_history WHERE worker = $1",
    ] {
        sqlx::query(sql).bind(address).execute(&mut *conn).await?;
    }
    Ok(())
}

pub(crate) fn job_from(row: &AnyRow) -> Result<Job> {
    let state: String = row.try_get("state")?;
    Ok(Job {
        job_id: u(row.try_get("job_id")?, "job_id")?,
        client: row.try_get("client")?,
        worker: row.try_get("worker")?,
        state: JobState::parse(&state)
            .ok_or_else(|| IndexerError::Corrupt(format!("job state {state:?}")))?,
        spec_hash: row.try_get("spec_hash")?,
        capability: row.try_get("capability")?,
        reward: amount(&row.try_get::<String, _>("reward")?, "reward")?,
        collateral: row.try_get("collateral")?,
        deadline: u(row.try_get("deadline")?, "deadline")?,
        challenge_window: u(row.try_get("challenge_window")?, "challenge_window")?,
        result_hash: row.try_get("result_hash")?,
        challenge_ends_at: opt_u(row.try_get("challenge_ends_at")?, "challenge_ends_at")?,
        dispute_id: opt_u(row.try_get("dispute_id")?, "dispute_id")?,
        payout: opt_amount(row.try_get("payout")?, "payout")?,
        fee: opt_amount(row.try_get("fee")?, "fee")?,
        refund: opt_amount(row.try_get("refund")?, "refund")?,
        slashed: opt_amount(row.try_get("slashed")?, "slashed")?,
        created_at: u(row.try_get("created_at")?, "created_at")?,
        updated_at: u(row.try_get("updated_at")?, "updated_at")?,
        created_block: u(row.try_get("created_block")?, "created_block")?,
        updated_block: u(row.try_get("updated_block")?, "updated_block")?,
        created_tx: row.try_get("created_tx")?,
        commitment: row.try_get("commitment")?,
    })
}

pub(crate) async fn load_job(conn: &mut AnyConnection, job_id: u64) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1");
    let row = sqlx::query(&sql)
        .bind(i(job_id))
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(job_from).transpose()
}

pub(crate) async fn save_job(conn: &mut AnyConnection, j: &Job) -> Result<()> {
    let text = |v: Option<u128>| v.map(|v| v.to_string());
    sqlx::query(&upsert("jobs", JOB_COLUMNS))
        .bind(i(j.job_id))
        .bind(&j.client)
        .bind(j.worker.clone())
        .bind(j.state.as_str())
        .bind(&j.spec_hash)
        .bind(&j.capability)
        .bind(j.reward.to_string())
        .bind(&j.collateral)
        .bind(i(j.deadline))
        .bind(i(j.challenge_window))
        .bind(j.result_hash.clone())
        .bind(j.challenge_ends_at.map(i))
        .bind(j.dispute_id.map(i))
        .bind(text(j.payout))
        .bind(text(j.fee))
        .bind(text(j.refund))
        .bind(text(j.slashed))
        .bind(i(j.created_at))
        .bind(i(j.updated_at))
        .bind(i(j.created_block))
        .bind(i(j.updated_block))
        .bind(&j.created_tx)
        .bind(j.commitment.clone())
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) fn dispute_from(row: &AnyRow) -> Result<Dispute> {
    let status: String = row.try_get("status")?;
    Ok(Dispute {
        dispute_id: u(row.try_get("dispute_id")?, "dispute_id")?,
        job_id: u(row.try_get("job_id")?, "job_id")?,
        client: row.try_get("client")?,
        worker: row.try_get("worker")?,
        evidence_hash: row.try_get("evidence_hash")?,
        voting_ends_at: u(row.try_get("voting_ends_at")?, "voting_ends_at")?,
        votes_worker: u(row.try_get("votes_worker")?, "votes_worker")?,
        votes_client: u(row.try_get("votes_client")?, "votes_client")?,
        status: match status.as_str() {
            "open" => DisputeStatus::Open,
            "resolved" => DisputeStatus::Resolved,
            other => return Err(IndexerError::Corrupt(format!("dispute status {other:?}"))),
        },
        ruling: row.try_get("ruling")?,
        by_timeout: row.try_get::<Option<i64>, _>("by_timeout")?.map(|b| b != 0),
        payout: opt_amount(row.try_get("payout")?, "payout")?,
        bond: opt_amount(row.try_get("bond")?, "bond")?,
        slashed_to_treasury: opt_amount(
            row.try_get("slashed_to_treasury")?,
            "slashed_to_treasury",
        )?,
        opened_at: u(row.try_get("opened_at")?, "opened_at")?,
        resolved_at: opt_u(row.try_get("resolved_at")?, "resolved_at")?,
        opened_block: u(row.try_get("opened_block")?, "opened_block")?,
        updated_block: u(row.try_get("updated_block")?, "updated_block")?,
    })
}

pub(crate) async fn load_dispute(conn: &mut AnyConnection, id: u64) -> Result<Option<Dispute>> {
    let sql = format!("SELECT {DISPUTE_COLUMNS} FROM disputes WHERE dispute_id = $1");
    let row = sqlx::query(&sql).bind(i(id)).fetch_optional(conn).await?;
    row.as_ref().map(dispute_from).transpose()
}

pub(crate) async fn save_dispute(conn: &mut AnyConnection, d: &Dispute) -> Result<()> {
    let text = |v: Option<u128>| v.map(|v| v.to_string());
    let status = match d.status {
        DisputeStatus::Open => "open",
        DisputeStatus::Resolved => "resolved",
    };
    sqlx::query(&upsert("disputes", DISPUTE_COLUMNS))
        .bind(i(d.dispute_id))
        .bind(i(d.job_id))
        .bind(&d.client)
        .bind(&d.worker)
        .bind(&d.evidence_hash)
        .bind(i(d.voting_ends_at))
        .bind(i(d.votes_worker))
        .bind(i(d.votes_client))
        .bind(status)
        .bind(d.ruling.clone())
        .bind(d.by_timeout.map(i64::from))
        .bind(text(d.payout))
        .bind(text(d.bond))
        .bind(text(d.slashed_to_treasury))
        .bind(i(d.opened_at))
        .bind(d.resolved_at.map(i))
        .bind(i(d.opened_block))
        .bind(i(d.updated_block))
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn upserts_update_every_column_but_the_key() {
        assert_eq!(
            super::upsert("t", "k, a, b"),
            "INSERT INTO t (k, a, b) VALUES ($1, $2, $3) ON CONFLICT (k) DO UPDATE SET a = excluded.a, b = excluded.b"
        );
    }
}
