//! The whole system, end to end: jobs go through the job network and settle on a real
//! devnet, and the indexer's HTTP API reports what happened.

use std::{collections::HashMap, time::Duration};

use ciro::up::{LocalNetwork, UpSettings};
use ciro_bindings::units::ONE;
use starknet::core::types::Felt;

fn settings(dir: &tempfile::TempDir, workers: usize) -> UpSettings {
    UpSettings {
        workers,
        dir: dir.path().to_path_buf(),
        indexer_http: "127.0.0.1:0".parse().unwrap(),
        client_http: "127.0.0.1:0".parse().unwrap(),
        ..UpSettings::default()
    }
}

/// The default protocol fee: 2.5 %.
fn fee(reward: u128) -> u128 {
    reward * 250 / 10_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_settle_on_chain_pay_workers_and_raise_their_reputation() {
    let dir = tempfile::tempdir().unwrap();
    let net = LocalNetwork::start(&settings(&dir, 3), |_| {})
        .await
        .unwrap();
    net.wait_for_workers(Duration::from_secs(30)).await.unwrap();
    let client_before = net.owner.balance(net.client_account).await.unwrap();

    let reward = 2 * ONE;
    let jobs = net.submit_samples(3, 2, reward).await.unwrap();
    let settled = net
        .wait_settled(&jobs, Duration::from_secs(120), |_| {})
        .await
        .unwrap();

    // Every job completed with two agreeing workers, and both of its slots were paid.
    let mut paid: HashMap<Felt, u128> = HashMap::new();
    let accounts: HashMap<String, Felt> = net
        .workers
        .iter()
        .map(|w| (w.node.peer_id().to_string(), w.account))
        .collect();
    for job in &jobs {
        let record = net.job(job).unwrap();
        let result = record.result.as_ref().expect("a result");
        assert_eq!(result.agreeing.len(), 2, "{record:?}");
        let slots = &settled[job];
        assert!(net.paid_in_full(job, slots), "{slots:?}");
        let used: Vec<_> = slots.iter().filter(|s| s.worker.is_some()).collect();
        assert_eq!(used.len(), 2, "{slots:?}");
        for slot in used {
            assert_eq!(slot.state, "completed");
            let worker = slot.worker.unwrap();
            assert!(result.agreeing.contains(&worker));
            *paid.entry(accounts[&worker.to_string()]).or_default() += reward - fee(reward);
        }
        assert!(record.chain_errors.is_empty(), "{:?}", record.chain_errors);
    }

    // Each worker holds exactly what it was paid (its own funds are all staked); the
    // treasury holds the fees; the client paid rewards and nothing more.
    let mut total = 0;
    for worker in &net.workers {
        let expected = paid.get(&worker.account).copied().unwrap_or(0);
        assert_eq!(
            net.owner.balance(worker.account).await.unwrap(),
            expected,
            "worker {:#x}",
            worker.account
        );
        total += expected;
    }
    let slots = 2 * jobs.len() as u128;
    assert_eq!(total, slots * (reward - fee(reward)));
    assert_eq!(
        net.owner.balance(net.treasury).await.unwrap(),
        slots * fee(reward)
    );
    assert_eq!(
        client_before - net.owner.balance(net.client_account).await.unwrap(),
        slots * reward
    );

    // The indexer saw it all: completed jobs and earnings per worker, and a score above
    // the prior (0.5) for every worker that completed one.
    net.indexer_synced(Duration::from_secs(30)).await.unwrap();
    for worker in &net.workers {
        let summary = net.worker_summary(worker).await.unwrap();
        let earned = paid.get(&worker.account).copied().unwrap_or(0);
        assert_eq!(summary.earned, earned);
        assert_eq!(
            summary.jobs_completed as u128,
            earned / (reward - fee(reward))
        );
        if earned > 0 {
            assert!(summary.score > 0.5, "{summary:?}");
        }
    }
    net.stop().await.unwrap();
}
