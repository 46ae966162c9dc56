//! Fee benchmark: deploys the suite on an in-process devnet and runs a job's whole life,
//! recording the actual fee (STRK), L2 gas and L1 data gas of every transaction, and the
//! wall time of each round trip. Then the same work paid the batched way: a deposit once,
//! acceptances signed off chain, and `settle_batch` with 1, 10 and 100 jobs, against the
//! per-job path (approve, create_job, assign, submit_result, accept) measured in the same run.
//!
//! `cargo bench -p ciro-bindings --bench fees` (add `--profile dev` to skip the long
//! release build: fees and gas do not depend on the build profile, only the times do).
//! Writes `target/ciro-bench/fees.md` under the workspace (or `$CIRO_BENCH_OUT`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use cainome::cairo_serde::ContractAddress;
use ciro_bindings::contracts::disputes;
use ciro_bindings::units::{capability, format_tokens, u256, ONE};
use ciro_bindings::{Contract, Receipt};
use common::*;
use starknet::accounts::Account as _;
use starknet::core::types::Felt;

struct Row {
    step: String,
    receipt: Receipt,
    millis: Option<f64>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let started = Instant::now();
    let suite = deploy_suite().await;
    let deploy_secs = started.elapsed().as_secs_f64();
    let mut rows: Vec<Row> = suite
        .deploy_receipts
        .iter()
        .map(|(step, receipt)| Row {
            step: step.clone(),
            receipt: *receipt,
            millis: None,
        })
        .collect();

    macro_rules! step {
        ($name:expr, $account:expr, $calls:expr) => {{
            let t = Instant::now();
            let receipt = suite.send($account, $calls).await;
            rows.push(Row {
                step: $name.to_owned(),
                receipt,
                millis: Some(t.elapsed().as_secs_f64() * 1e3),
            });
        }};
    }

    let (client, worker) = (&suite.client, &suite.worker);
    let staking_at = ContractAddress(suite.at(Contract::Staking));
    let escrow_at = ContractAddress(suite.at(Contract::JobEscrow));
    let wasm = capability("wasm").unwrap();

    step!(
        "CiroToken.approve (staking)",
        worker,
        vec![suite
            .token(worker)
            .approve_getcall(&staking_at, &u256(STAKE))]
    );
    step!(
        "Staking.stake",
        worker,
        vec![suite.staking(worker).stake_getcall(&u256(STAKE))]
    );
    step!(
        "Staking.register (1 capability)",
        worker,
        vec![suite.staking(worker).register_getcall(&vec![wasm])]
    );

    let mut job = 0u64;
    let mut create = |rows: &mut Vec<Row>, label: &str, receipt: Receipt, millis: f64| {
        job += 1;
        rows.push(Row {
            step: label.to_owned(),
            receipt,
            millis: Some(millis),
        });
        job
    };
    // Three jobs: accepted, timed out, disputed. The first one's approve, create_job and
    // assign, with its submit_result and accept below, are the per-job path.
    let first_job = rows.len();
    let mut jobs = Vec::new();
    for deadline_in in [3600u64, 60, 3600] {
        let now = suite.now().await;
        step!(
            "CiroToken.approve (escrow)",
            client,
            vec![suite
                .token(client)
                .approve_getcall(&escrow_at, &u256(REWARD))]
        );
        let t = Instant::now();
        let receipt = suite
            .send(
                client,
                vec![suite.escrow(client).create_job_getcall(
                    &Felt::ONE,
                    &u256(REWARD),
                    &wasm,
                    &(now + deadline_in),
                    &600,
                    &u256(COLLATERAL),
                )],
            )
            .await;
        let id = create(
            &mut rows,
            "JobEscrow.create_job",
            receipt,
            t.elapsed().as_secs_f64() * 1e3,
        );
        let assign = suite.assign_call(id).await;
        step!(
            "JobEscrow.assign (checks the signed bid, locks collateral)",
            client,
            vec![assign]
        );
        jobs.push(id);
    }
    let (accepted, timed_out, disputed) = (jobs[0], jobs[1], jobs[2]);
    let first_settled = rows.len();
    step!(
        "JobEscrow.submit_result",
        worker,
        vec![suite
            .escrow(worker)
            .submit_result_getcall(&accepted, &Felt::TWO)]
    );
    step!(
        "JobEscrow.accept (pays worker and fee)",
        client,
        vec![suite.escrow(client).accept_getcall(&accepted)]
    );
    step!(
        "JobEscrow.submit_result",
        worker,
        vec![suite
            .escrow(worker)
            .submit_result_getcall(&disputed, &Felt::TWO)]
    );
    step!(
        "JobEscrow.dispute (approves the bond, opens a dispute)",
        client,
        suite.dispute_calls(disputed)
    );
    step!(
        "Disputes.vote (quorum reached: slash and refund)",
        &suite.arbitrator,
        vec![suite
            .disputes(&suite.arbitrator)
            .vote_getcall(&1, &disputes::Ruling::ClientRight)]
    );
    suite.devnet.increase_time(120).await.unwrap();
    step!(
        "JobEscrow.claim_timeout (refund and slash)",
        client,
        vec![suite.escrow(client).claim_timeout_getcall(&timed_out)]
    );
    // A fourth job, once the first released its collateral.
    let finalized = suite.assigned_job(3600).await;
    step!(
        "JobEscrow.submit_result (a commitment)",
        worker,
        vec![suite
            .escrow(worker)
            .submit_result_getcall(&finalized, &OPENING.commitment(worker.address()))]
    );
    // The client stays silent for the whole 600 s challenge window.
    suite.devnet.increase_time(601).await.unwrap();
    step!(
        "JobEscrow.reveal + finalize (one transaction, after a silent client)",
        worker,
        vec![
            suite
                .escrow(worker)
                .reveal_getcall(&finalized, &OPENING.result_hash, &OPENING.salt),
            suite.escrow(worker).finalize_getcall(&finalized)
        ]
    );
    let per_job: Vec<Receipt> = rows[first_job..first_job + 3]
        .iter()
        .chain(&rows[first_settled..first_settled + 2])
        .map(|row| row.receipt)
        .collect();

    // Batched: one deposit, then each batch in one transaction the worker sends.
    let sizes = [1usize, 10, 100];
    let total = sizes.iter().sum::<usize>() as u128 * REWARD;
    suite
        .send(
            &suite.owner,
            vec![suite
                .token(&suite.owner)
                .mint_getcall(&ContractAddress(client.address()), &u256(total))],
        )
        .await;
    step!(
        "JobEscrow.deposit (with its approve; once for every batch below)",
        client,
        vec![
            suite
                .token(client)
                .approve_getcall(&escrow_at, &u256(total)),
            suite.escrow(client).deposit_getcall(&u256(total))
        ]
    );
    let key = suite.client_key();
    let mut nonce = 1_000u64;
    let mut batches = Vec::new();
    for size in sizes {
        let batch: Vec<_> = (0..size)
            .map(|_| {
                nonce += 1;
                suite.acceptance_signed_with(nonce, &key)
            })
            .collect();
        let t = Instant::now();
        let receipt = suite
            .send(worker, vec![suite.settle_call(worker, &batch)])
            .await;
        batches.push((size, receipt, t.elapsed().as_secs_f64()));
    }

    step!(
        "Staking.unstake_intent",
        worker,
        vec![suite.staking(worker).unstake_intent_getcall(&u256(ONE))]
    );

    let mut out = String::new();
    out.push_str("# Fees of the CIRO contracts on starknet-devnet 0.10.1 (in-process)\n\n");
    out.push_str(&format!(
        "Deploy of the whole suite (5 declares, 5 deploys, wiring): {} transactions, {:.1} s wall, {} STRK in all.\n\n",
        suite.deploy_receipts.len(),
        deploy_secs,
        format_tokens(suite.deploy_receipts.iter().map(|(_, r)| r.fee).sum())
    ));
    out.push_str("| step | fee (STRK) | L2 gas | L1 data gas | round trip (ms) |\n|---|---:|---:|---:|---:|\n");
    for row in &rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            row.step,
            format_tokens(row.receipt.fee),
            row.receipt.l2_gas,
            row.receipt.l1_data_gas,
            row.millis.map_or("-".to_owned(), |m| format!("{m:.0}"))
        ));
    }
    let path_fee: u128 = per_job.iter().map(|r| r.fee).sum();
    let path_gas: u64 = per_job.iter().map(|r| r.l2_gas).sum();
    out.push_str(&format!(
        "\n## Per job: one transaction per step against batched settlement\n\n\
         The per-job path is the first job above: approve, create_job, assign, submit_result, \
         accept ({} transactions). A batched job costs its share of one `settle_batch` the worker \
         sends (the client's deposit is paid once for all of them, and its acceptances are \
         signed off chain). Same devnet, same run.\n\n",
        per_job.len()
    ));
    out.push_str("| path | jobs per tx | fee per job (STRK) | L2 gas per job | fee ratio to per-job | tx round trip (ms) |\n|---|---:|---:|---:|---:|---:|\n");
    out.push_str(&format!(
        "| one tx per step | - | {} | {} | 1.0x | - |\n",
        format_tokens(path_fee),
        path_gas
    ));
    for (size, receipt, secs) in &batches {
        let n = *size as u128;
        out.push_str(&format!(
            "| settle_batch | {size} | {} | {} | {:.1}x lower | {:.0} |\n",
            format_tokens(receipt.fee / n),
            receipt.l2_gas / *size as u64,
            path_fee as f64 / (receipt.fee as f64 / n as f64),
            secs * 1e3
        ));
    }
    write_figures("fees", &out);
}
