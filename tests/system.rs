//! The whole system, end to end: jobs go through the job network and settle on a real
//! devnet, and the indexer's HTTP API reports what happened.

use std::{collections::HashMap, time::Duration};

use ciro::up::{LocalNetwork, UpSettings};
use ciro_bindings::units::ONE;
use ciro_node::reputation::{Fetched, IndexerSource};
use starknet::core::types::Felt;

/// A network whose client gives each worker an escrow job (collateral, disputes,
/// timeouts).
fn settings(dir: &tempfile::TempDir, workers: usize) -> UpSettings {
    UpSettings {
        workers,
        dir: dir.path().to_path_buf(),
        indexer_http: "127.0.0.1:0".parse().unwrap(),
        client_http: "127.0.0.1:0".parse().unwrap(),
        deposit: None,
        ..UpSettings::default()
    }
}

/// A local network from `settings`, once every worker has advertised to the client.
///
/// With `RUST_LOG` set, the nodes' and indexer's logs go to the test's output.
async fn started(settings: UpSettings) -> LocalNetwork {
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    let net = LocalNetwork::start(&settings, |_| {}).await.unwrap();
    net.wait_for_workers(Duration::from_secs(30)).await.unwrap();
    net
}

/// The default protocol fee: 2.5 %.
fn fee(reward: u128) -> u128 {
    reward * 250 / 10_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_settle_on_chain_pay_workers_and_raise_their_reputation() {
    let dir = tempfile::tempdir().unwrap();
    jobs_pay_workers_and_raise_their_reputation(settings(&dir, 3)).await;
}

/// The same jobs paid from the client's deposit: each agreed result gets a signed
/// acceptance, and the workers settle them in batches, fewer transactions than jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_paid_from_a_deposit_settle_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    jobs_pay_workers_and_raise_their_reputation(UpSettings {
        deposit: Some(5 * ONE),
        // Long enough that each worker pays all its acceptances in one batch.
        batch_wait: Duration::from_secs(10),
        ..settings(&dir, 3)
    })
    .await;
}

async fn jobs_pay_workers_and_raise_their_reputation(settings: UpSettings) {
    let batched = settings.deposit.is_some();
    let net = started(settings).await;
    let client_before = net.owner.balance(net.client_account).await.unwrap();

    let reward = 2 * ONE;
    let jobs = net.submit_samples(3, 2, reward).await.unwrap();
    let settled = net
        .wait_settled(&jobs, Duration::from_secs(120), |_| {})
        .await
        .unwrap();

    // Every job completed with two agreeing workers, and both of its slots were paid.
    let mut paid: HashMap<Felt, u128> = HashMap::new();
    let mut batches = std::collections::HashSet::new();
    let accounts: HashMap<String, Felt> = net
        .workers
        .iter()
        .map(|w| (w.node.peer_id().to_string(), w.account))
        .collect();
    for job in &jobs {
        let record = net.job(job).await.unwrap();
        let result = record.result.as_ref().expect("a result");
        assert_eq!(result.agreeing.len(), 2, "{record:?}");
        let slots = &settled[job];
        assert!(net.paid_in_full(job, slots).await, "{slots:?}");
        let used: Vec<_> = slots.iter().filter(|s| s.worker.is_some()).collect();
        assert_eq!(used.len(), 2, "{slots:?}");
        for slot in used {
            assert_eq!(slot.state, "completed");
            // A batch names its acceptance and the transaction that paid it.
            assert_eq!(slot.acceptance.is_some(), batched, "{slot:?}");
            if batched {
                batches.insert(slot.tx_hash.clone().expect("the paying batch"));
            }
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
    // What the client still holds in its deposit is its own.
    let (deposit_left, _, _) = net.owner.deposit_of(net.client_account).await.unwrap();
    assert_eq!(
        client_before - net.owner.balance(net.client_account).await.unwrap() - deposit_left,
        slots * reward
    );
    if batched {
        assert!(
            (batches.len() as u128) < slots,
            "{} acceptances took {} transactions",
            slots,
            batches.len()
        );
    } else {
        assert_eq!(deposit_left, 0);
    }

    // The reputation changes went out over gossip, naming their transactions, and the
    // other peers checked them against the chain before keeping them.
    let paid_worker = *paid.keys().next().unwrap();
    let heard_by = &net.workers[0].node.shared;
    let update = eventually(
        "a checked reputation update",
        Duration::from_secs(30),
        || async {
            heard_by
                .reputation
                .lock()
                .unwrap()
                .get(&paid_worker.to_bytes_be())
                .cloned()
                .filter(|u| u.jobs_completed >= 1)
        },
    )
    .await;
    let reason = if batched {
        "jobs_completed"
    } else {
        "job_completed"
    };
    assert_eq!(update.reason, reason);
    let receipt = net
        .owner
        .reputation_updates(Felt::from_bytes_be(&update.tx_hash))
        .await
        .unwrap();
    assert!(receipt
        .iter()
        .any(|(block, e)| *block == update.block && e.worker.0 == paid_worker));

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

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The collateral every job asks of a worker in `UpSettings::default()`.
const COLLATERAL: u128 = 5 * ONE;

/// Waits for `job` to have `count` disputes, then for each to be resolved; returns them
/// with their ids, in the order the client opened them.
async fn resolved_disputes(
    net: &LocalNetwork,
    job: ciro_node::protocol::JobId,
    count: usize,
) -> Vec<(u64, ciro_bindings::contracts::disputes::Dispute)> {
    use ciro_bindings::contracts::disputes::DisputeStatus;
    let ids = eventually("the disputes", Duration::from_secs(10), || async {
        let d = net.job(&job).await.unwrap().disputes;
        (d.len() == count).then_some(d)
    })
    .await;
    let mut resolved = Vec::new();
    for id in ids {
        let dispute = eventually("the ruling", Duration::from_secs(60), || async {
            let d = net.owner.dispute_status(id).await.unwrap();
            (d.status == DisputeStatus::Resolved).then_some(d)
        })
        .await;
        resolved.push((id, dispute));
    }
    resolved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lying_worker_is_disputed_voted_down_slashed_and_loses_reputation() {
    use ciro_bindings::contracts::disputes::{DisputeStatus, Ruling};
    let dir = tempfile::tempdir().unwrap();
    // The liar stakes the most, so selection picks it first.
    let net = started(UpSettings {
        conduct: vec![ciro_node::WorkerConduct::Lie],
        stakes: vec![900 * ONE],
        ..settings(&dir, 3)
    })
    .await;
    let liar = net.workers[0].account;
    let liar_peer = net.workers[0].node.peer_id();
    let client_before = net.owner.balance(net.client_account).await.unwrap();
    let treasury_before = net.owner.balance(net.treasury).await.unwrap();

    let reward = 2 * ONE;
    let jobs = net.submit_samples(1, 2, reward).await.unwrap();
    let settled = net
        .wait_settled(&jobs, Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    let record = net.job(&jobs[0]).await.unwrap();
    assert_eq!(record.status, ciro_node::job::JobStatus::Completed);
    assert!(record
        .verification_failures
        .iter()
        .any(|f| f.worker == liar_peer));
    // Selection weighed the stake the indexer reports (the liar's 900 CIRO against 200),
    // not what the bids claim: the liar's bid scored highest, by the stake term's share.
    let score_of = |peer| {
        record
            .bids
            .iter()
            .find(|b| b.worker == peer)
            .map(|b| b.score)
            .unwrap()
    };
    let best_other = net.workers[1..]
        .iter()
        .map(|w| score_of(w.node.peer_id()))
        .fold(f64::MIN, f64::max);
    assert!(
        score_of(liar_peer) - best_other > 0.1,
        "{} vs {best_other}",
        score_of(liar_peer)
    );
    let slots = &settled[&jobs[0]];
    let liar_slot = slots
        .iter()
        .find(|s| s.worker == Some(liar_peer))
        .expect("the liar was assigned");
    assert_eq!(liar_slot.state, "disputed", "{slots:?}");
    assert_eq!(
        slots.iter().filter(|s| s.state == "completed").count(),
        2,
        "the two honest workers are paid: {slots:?}"
    );

    // The arbitrator re-runs the job and votes for the client.
    let dispute_id = record.disputes[0];
    let dispute = eventually("the ruling", Duration::from_secs(60), || async {
        let d = net.owner.dispute_status(dispute_id).await.unwrap();
        (d.status == DisputeStatus::Resolved).then_some(d)
    })
    .await;
    assert_eq!(dispute.ruling, Ruling::ClientRight);
    assert_eq!(dispute.votes_client, 1);
    assert_eq!(dispute.worker.0, liar);

    // The liar loses its whole collateral, exactly, to the treasury; the client gets the
    // liar's reward and its dispute bond back, and no share of the slash.
    let status = net.owner.worker_status(liar).await.unwrap();
    assert_eq!(status.stake, 900 * ONE - COLLATERAL);
    assert_eq!(status.locked, 0);
    assert_eq!(
        client_before - net.owner.balance(net.client_account).await.unwrap(),
        2 * reward
    );
    assert_eq!(
        net.owner.balance(net.treasury).await.unwrap() - treasury_before,
        2 * fee(reward) + COLLATERAL
    );

    // Its reputation falls below the prior, over HTTP.
    net.indexer_synced(Duration::from_secs(30)).await.unwrap();
    let summary = net.worker_summary(&net.workers[0]).await.unwrap();
    assert_eq!(summary.disputes_lost, 1, "{summary:?}");
    assert!(summary.score < 0.5, "{summary:?}");

    // A client node polling that standing revalidates it: while nothing changes, the
    // indexer answers 304 and the node keeps what it has.
    let source = IndexerSource::new(
        format!("http://{}/", net.indexer).parse().unwrap(),
        Duration::from_secs(2),
    );
    let account = net.workers[0].account;
    let Fetched::Changed {
        standing: Some(standing),
        etag: Some(etag),
    } = source.fetch_if_changed(account, None).await.unwrap()
    else {
        panic!("the indexer knows the liar, and tags its answer");
    };
    assert!(standing.reputation_ppm < 500_000, "{standing:?}");
    assert_eq!(
        source.fetch_if_changed(account, Some(&etag)).await.unwrap(),
        Fetched::Unchanged
    );
    assert!(matches!(
        source.fetch_if_changed(account, Some("\"stale\"")).await.unwrap(),
        Fetched::Changed { standing: Some(s), .. } if s == standing
    ));
    net.stop().await.unwrap();
}

/// A network whose first worker (staked the most, so it is picked first) stalls on every
/// job it takes, its escrow deadline 30 s past the job's.
fn with_a_stalling_worker(dir: &tempfile::TempDir) -> UpSettings {
    UpSettings {
        conduct: vec![ciro_node::WorkerConduct::Stall],
        stakes: vec![900 * ONE],
        settle_margin_secs: 30,
        ..settings(dir, 3)
    }
}

/// Waits until `worker` is assigned to `job` and the job has at least two escrow slots.
async fn assigned_on_chain(
    net: &LocalNetwork,
    job: &ciro_node::protocol::JobId,
    worker: libp2p::PeerId,
) {
    eventually(
        "the stalling worker's assignment",
        Duration::from_secs(30),
        || async {
            let j = net.job(job).await.unwrap();
            (j.assignments.iter().any(|a| a.worker == worker) && j.escrow_ids.len() >= 2)
                .then_some(())
        },
    )
    .await;
}

/// On a chain that makes a block only per transaction, a dead worker's slot waits for the
/// chain's clock, the one the escrow reads: once this machine's clock is past the deadline
/// by the grace and the chain's is not, the slot is reported stuck (in the job's JSON and
/// the metrics), and it is refunded as soon as a block moves the clock. Before, the client
/// compared the deadline with this machine's clock, the fee estimate reverted, and the slot
/// was retried every poll, forever and silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slot_waiting_on_a_stopped_chain_clock_is_reported_stuck_then_refunded() {
    let dir = tempfile::tempdir().unwrap();
    let net = started(UpSettings {
        blocks: ciro_devnet::Blocks::PerTransaction,
        clock_grace: Duration::from_secs(2),
        ..with_a_stalling_worker(&dir)
    })
    .await;
    let doomed = net.workers[0].node.peer_id();
    let job = net
        .submit_sample(0, 2, ONE, Duration::from_secs(10))
        .await
        .unwrap();
    assigned_on_chain(&net, &job, doomed).await;
    net.workers[0].node.kill();
    // The others deliver and are paid; then nothing is sent, and the chain's clock stops
    // short of the stalled slot's deadline while this machine's runs past it.
    let stuck = eventually("the stuck report", Duration::from_secs(120), || async {
        let j = net.job(&job).await.unwrap();
        j.settling
            .iter()
            .find(|p| p.state == ciro_node::job::Progress::Stuck)
            .cloned()
    })
    .await;
    assert_eq!(stuck.step, "JobEscrow.claim_timeout", "{stuck:?}");
    assert!(
        stuck.reason.contains("is the chain making blocks?"),
        "{stuck:?}"
    );
    let metrics = || async {
        reqwest::get(format!("http://{}/metrics", net.gateway().unwrap()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(
        metrics()
            .await
            .lines()
            .any(|l| l == "ciro_node_settlements_stuck 1"),
        "{}",
        metrics().await
    );
    assert!(net.job(&job).await.unwrap().settlement.is_none());

    // One block, and the clock passes the deadline: the slot is refunded.
    net.devnet
        .control("devnet_createBlock", serde_json::json!({}))
        .await
        .unwrap();
    let settled = net
        .wait_settled(&[job], Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    let slots = &settled[&job];
    let dead = slots.iter().find(|s| s.worker == Some(doomed)).unwrap();
    assert_eq!(dead.state, "refunded", "{slots:?}");
    assert_eq!(slots.iter().filter(|s| s.state == "completed").count(), 2);
    assert!(net.job(&job).await.unwrap().settling.is_empty());
    assert!(
        metrics()
            .await
            .lines()
            .any(|l| l == "ciro_node_settlements_stuck 0"),
        "{}",
        metrics().await
    );
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_dies_mid_job_is_timed_out_slashed_and_the_client_refunded() {
    let dir = tempfile::tempdir().unwrap();
    let net = started(with_a_stalling_worker(&dir)).await;
    let doomed = net.workers[0].node.peer_id();
    let client_before = net.owner.balance(net.client_account).await.unwrap();
    let treasury_before = net.owner.balance(net.treasury).await.unwrap();

    let reward = 2 * ONE;
    let jobs = net.submit_samples(1, 2, reward).await.unwrap();
    // It is assigned on chain, then dies.
    assigned_on_chain(&net, &jobs[0], doomed).await;
    net.workers[0].node.kill();
    // The others finish the job; then the chain's clock passes the escrow deadline.
    eventually("the job's completion", Duration::from_secs(60), || async {
        (net.job(&jobs[0]).await.unwrap().status == ciro_node::job::JobStatus::Completed)
            .then_some(())
    })
    .await;
    // The two who delivered are paid before the clock moves.
    let doomed_account = net.workers[0].account;
    eventually("the others' payment", Duration::from_secs(60), || async {
        let job = net.job(&jobs[0]).await.unwrap();
        let mut completed = 0;
        for id in &job.escrow_ids {
            let slot = net.owner.job_status(*id).await.unwrap();
            if slot.worker.0 != doomed_account
                && slot.state == ciro_bindings::contracts::escrow::JobState::Completed
            {
                completed += 1;
            }
        }
        (completed == 2).then_some(())
    })
    .await;
    net.devnet.increase_time(600).await.unwrap();
    let settled = net
        .wait_settled(&jobs, Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    let slots = &settled[&jobs[0]];
    let dead = slots
        .iter()
        .find(|s| s.worker == Some(doomed))
        .expect("the doomed worker had a slot");
    assert_eq!(dead.state, "refunded", "{slots:?}");
    assert_eq!(slots.iter().filter(|s| s.state == "completed").count(), 2);

    // 10 % of the collateral is slashed to the treasury; the client only gets the reward
    // back, so a timeout it provokes earns it nothing.
    let slash = COLLATERAL / 10;
    let status = net
        .owner
        .worker_status(net.workers[0].account)
        .await
        .unwrap();
    assert_eq!(status.stake, 900 * ONE - slash);
    assert_eq!(status.locked, 0);
    assert_eq!(
        client_before - net.owner.balance(net.client_account).await.unwrap(),
        2 * reward
    );
    assert_eq!(
        net.owner.balance(net.treasury).await.unwrap() - treasury_before,
        2 * fee(reward) + slash
    );
    net.indexer_synced(Duration::from_secs(30)).await.unwrap();
    let summary = net.worker_summary(&net.workers[0]).await.unwrap();
    assert_eq!(summary.jobs_failed, 1, "{summary:?}");
    assert!(summary.score < 0.5, "{summary:?}");
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn peers_the_chain_does_not_back_are_ignored_and_penalized() {
    use ciro_node::{Node, NodeConfig, WorkerConduct};
    let dir = tempfile::tempdir().unwrap();
    let net = started(settings(&dir, 2)).await;

    // One peer backed by an account with no stake, bidding anyway; one claiming a staked
    // worker's account without its key.
    let unstaked = net.devnet.account(2);
    let rogue = |account: Felt, key: Felt| NodeConfig {
        capabilities: vec!["wasm".into()],
        conduct: WorkerConduct::IgnoreStake,
        ..net.node_config(account, key)
    };
    let unbacked = Node::start(rogue(unstaked.address, unstaked.private_key))
        .await
        .unwrap();
    let forger = Node::start(rogue(net.workers[0].account, Felt::from(0xbad_u32)))
        .await
        .unwrap();
    // And one, backed by nobody in particular, that makes up reputation records.
    let liar = Node::start(NodeConfig {
        conduct: WorkerConduct::ForgeReputation,
        capabilities: vec![],
        health_interval: Duration::from_millis(500),
        ..rogue(unstaked.address, unstaked.private_key)
    })
    .await
    .unwrap();
    let rogues = [unbacked.peer_id(), forger.peer_id()];

    // Both are heard, checked against the chain, and penalized.
    eventually("both rogues penalized", Duration::from_secs(30), || async {
        let peers = net.client.shared.peers().await;
        rogues
            .iter()
            .all(|r| {
                peers.iter().any(|p| {
                    p.peer_id == *r && p.strikes > 0 && p.backer.as_ref().is_none_or(|b| !b.active)
                })
            })
            .then_some(())
    })
    .await;

    let jobs = net.submit_samples(2, 2, ONE).await.unwrap();
    let settled = net
        .wait_settled(&jobs, Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    for job in &jobs {
        let record = net.job(job).await.unwrap();
        assert!(net.paid_in_full(job, &settled[job]).await);
        for rogue in &rogues {
            assert!(record.bids.iter().all(|b| b.worker != *rogue), "{record:?}");
            assert!(record.assignments.iter().all(|a| a.worker != *rogue));
        }
    }
    // The made-up records were checked against the chain, refused and penalized; none
    // was kept.
    eventually(
        "the forged reputation refused",
        Duration::from_secs(30),
        || async {
            let peers = net.client.shared.peers().await;
            peers
                .iter()
                .any(|p| p.peer_id == liar.peer_id() && p.strikes > 0)
                .then_some(())
        },
    )
    .await;
    // The rogues did bid: their bids were refused as unbacked. The forger's records were
    // penalized.
    let metrics = reqwest::get(format!("http://{}/metrics", net.gateway().unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ciro_node_requests_total{kind=\"bid\",outcome=\"unbacked\"}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("ciro_node_penalties_total{reason=\"forged-reputation\"}"),
        "{metrics}"
    );
    assert!(net
        .client
        .shared
        .reputation
        .lock()
        .unwrap()
        .values()
        .all(|u| u.jobs_completed < 1000));
    drop((unbacked, forger, liar));
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_settle_exactly_once_through_an_rpc_outage_and_an_indexer_restart() {
    use starknet::providers::Provider as _;
    let dir = tempfile::tempdir().unwrap();
    let mut net = started(UpSettings {
        rpc_proxy: true,
        ..settings(&dir, 3)
    })
    .await;
    let client_before = net.owner.balance(net.client_account).await.unwrap();
    let slots_before = net.owner.job_count().await.unwrap();

    // The chain goes away as the jobs are submitted, and the indexer restarts meanwhile.
    let reward = ONE;
    let proxy = net.rpc.as_ref().unwrap();
    let first = net.submit_samples(2, 2, reward).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.set_up(false);
    let second = net.submit_samples(2, 2, reward).await.unwrap();
    let jobs: Vec<_> = first.into_iter().chain(second).collect();
    // Off chain the network keeps working: every job completes.
    eventually(
        "every job's completion off chain",
        Duration::from_secs(60),
        || async {
            for j in &jobs {
                if net.job(j).await.unwrap().status != ciro_node::job::JobStatus::Completed {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    net.restart_indexer().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let proxy = net.rpc.as_ref().unwrap();
    assert!(proxy.refused() > 0, "the nodes met the outage");
    let unsettled = {
        let mut n = 0;
        for job in &jobs {
            n += net.job(job).await.unwrap().settlement.is_none() as usize;
        }
        n
    };
    assert!(unsettled > 0, "settlement waited for the chain");
    proxy.set_up(true);

    let settled = net
        .wait_settled(&jobs, Duration::from_secs(180), |_| {})
        .await
        .unwrap();
    let mut paid_slots = 0u128;
    for job in &jobs {
        assert!(
            net.paid_in_full(job, &settled[job]).await,
            "{:?}",
            settled[job]
        );
        paid_slots += settled[job]
            .iter()
            .filter(|s| s.state == "completed")
            .count() as u128;
    }
    assert_eq!(paid_slots, 2 * jobs.len() as u128);
    // Exactly once: one escrow job per used or cancelled slot, and the money adds up.
    let reported: usize = settled.values().map(Vec::len).sum();
    assert_eq!(
        net.owner.job_count().await.unwrap() - slots_before,
        reported as u64
    );
    assert_eq!(
        client_before - net.owner.balance(net.client_account).await.unwrap(),
        paid_slots * reward
    );
    let mut earned = 0;
    for worker in &net.workers {
        earned += net.owner.balance(worker.account).await.unwrap();
    }
    assert_eq!(earned, paid_slots * (reward - fee(reward)));
    assert_eq!(
        net.owner.balance(net.treasury).await.unwrap(),
        paid_slots * fee(reward)
    );

    // The restarted indexer caught up and agrees with the chain.
    net.indexer_synced(Duration::from_secs(30)).await.unwrap();
    let mut completed = 0;
    for worker in &net.workers {
        completed += net.worker_summary(worker).await.unwrap().jobs_completed as u128;
    }
    assert_eq!(completed, paid_slots);
    assert!(net.chain.rpc().block_number().await.is_ok());
    net.stop().await.unwrap();
}

// A worker's consent names the most collateral it lets a job lock. With a cap below what
// the client asks, the worker that selection would otherwise pick first (it stakes the
// most) gets no consent accepted, and the job goes to the other worker; the capped
// worker's stake is never locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_is_never_assigned_more_collateral_than_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let net = started(UpSettings {
        stakes: vec![900 * ONE],
        max_collateral: vec![COLLATERAL - 1],
        ..settings(&dir, 2)
    })
    .await;
    let (capped, other) = (&net.workers[0], &net.workers[1]);
    let jobs = net.submit_samples(1, 1, ONE).await.unwrap();
    let settled = net
        .wait_settled(&jobs, Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    let slots = &settled[&jobs[0]];
    assert_eq!(slots.len(), 1, "{slots:?}");
    assert_eq!(slots[0].state, "completed", "{slots:?}");
    assert_eq!(slots[0].worker, Some(other.node.peer_id()), "{slots:?}");
    let record = net.job(&jobs[0]).await.unwrap();
    assert!(
        record
            .bids
            .iter()
            .all(|b| b.worker != capped.node.peer_id()),
        "the capped worker's bid was refused: {:?}",
        record.bids
    );
    let status = net.owner.worker_status(capped.account).await.unwrap();
    assert_eq!((status.stake, status.locked), (900 * ONE, 0));
    net.stop().await.unwrap();
}

/// The dispute bond of the default deploy settings.
const DISPUTE_BOND: u128 = 10 * ONE;

// Two workers who disagree, and no third: no k results agree. This test used to show the
// client leaving both slots to finalize after the window, which paid the liar exactly what
// it paid the honest worker. Now the client disputes both slots; the arbitrator re-runs
// the job, pays the honest worker (with the client's bond) and slashes the liar.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_agreement_every_slot_is_disputed_and_only_the_honest_worker_is_paid() {
    use ciro_bindings::contracts::disputes::Ruling;
    let dir = tempfile::tempdir().unwrap();
    let net = started(UpSettings {
        conduct: vec![ciro_node::WorkerConduct::Lie],
        ..settings(&dir, 2)
    })
    .await;
    let (liar, honest) = (net.workers[0].account, net.workers[1].account);
    let client_before = net.owner.balance(net.client_account).await.unwrap();
    let treasury_before = net.owner.balance(net.treasury).await.unwrap();
    let reward = ONE;
    let job = net
        .submit_sample(0, 2, reward, Duration::from_secs(8))
        .await
        .unwrap();
    let settled = net
        .wait_settled(&[job], Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    assert_eq!(
        net.job(&job).await.unwrap().status,
        ciro_node::job::JobStatus::Failed
    );
    let slots = &settled[&job];
    assert_eq!(slots.len(), 2, "{slots:?}");
    assert!(slots.iter().all(|s| s.state == "disputed"), "{slots:?}");

    // The arbitrator re-runs the job and rules on each slot.
    for (dispute_id, dispute) in resolved_disputes(&net, job, 2).await {
        let expected = if dispute.worker.0 == liar {
            Ruling::ClientRight
        } else {
            Ruling::WorkerRight
        };
        assert_eq!(dispute.ruling, expected, "dispute {dispute_id}");
    }
    // The honest worker gets its reward and the client's bond; the liar nothing, and it
    // loses its collateral to the treasury.
    assert_eq!(
        net.owner.balance(honest).await.unwrap(),
        reward - fee(reward) + DISPUTE_BOND
    );
    assert_eq!(net.owner.balance(liar).await.unwrap(), 0);
    let status = net.owner.worker_status(liar).await.unwrap();
    assert_eq!(status.stake, 200 * ONE - COLLATERAL);
    assert_eq!(
        client_before - net.owner.balance(net.client_account).await.unwrap(),
        reward + DISPUTE_BOND
    );
    assert_eq!(
        net.owner.balance(net.treasury).await.unwrap() - treasury_before,
        fee(reward) + COLLATERAL
    );
    net.stop().await.unwrap();
}

// A client that disputes right results, hoping nobody can vote because it hands the job to
// no arbitrator: each worker reveals its result, the arbitrator fetches the job from the
// worker instead, re-runs it and rules for the worker. The client pays every reward and
// loses both bonds; the workers keep their stake.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_disputes_right_results_and_withholds_the_job_loses_its_bonds() {
    use ciro_bindings::contracts::disputes::Ruling;
    let dir = tempfile::tempdir().unwrap();
    let net = started(UpSettings {
        client_conduct: ciro_node::ClientConduct::Grief,
        ..settings(&dir, 2)
    })
    .await;
    let client_before = net.owner.balance(net.client_account).await.unwrap();
    let reward = ONE;
    let job = net
        .submit_sample(0, 2, reward, Duration::from_secs(8))
        .await
        .unwrap();
    let settled = net
        .wait_settled(&[job], Duration::from_secs(60), |_| {})
        .await
        .unwrap();
    let slots = &settled[&job];
    assert!(slots.iter().all(|s| s.state == "disputed"), "{slots:?}");
    for (dispute_id, dispute) in resolved_disputes(&net, job, 2).await {
        // Ruled by the arbitrator's vote, not by the voting period running out.
        assert_eq!(
            (dispute.ruling, dispute.votes_worker, dispute.votes_client),
            (Ruling::WorkerRight, 1, 0),
            "dispute {dispute_id}"
        );
    }
    for worker in &net.workers {
        assert_eq!(
            net.owner.balance(worker.account).await.unwrap(),
            reward - fee(reward) + DISPUTE_BOND
        );
        let status = net.owner.worker_status(worker.account).await.unwrap();
        assert_eq!((status.stake, status.locked), (200 * ONE, 0));
    }
    assert_eq!(
        client_before - net.owner.balance(net.client_account).await.unwrap(),
        2 * (reward + DISPUTE_BOND)
    );
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_client_settles_what_its_crashed_run_left_open() {
    use ciro_node::{node::NodeEvent, JobRequest, Node};
    let dir = tempfile::tempdir().unwrap();
    let net = started(settings(&dir, 1)).await;
    let client = net.devnet.account(1);
    let before = net.owner.balance(client.address).await.unwrap();

    // A second client node of the same account submits a job nobody can run: its two
    // rewards are held in two open escrow jobs. Then it crashes.
    let config = || net.node_config(client.address, client.private_key);
    let crashing = Node::start(config()).await.unwrap();
    let job = crashing
        .shared
        .submit(JobRequest {
            capability: "gpu:h100".into(),
            ..ciro::up::sample_job(0, 2, ONE, Duration::from_secs(60))
        })
        .await
        .unwrap();
    let slots = eventually("the escrow", Duration::from_secs(30), || async {
        let j = crashing.shared.job(&job).await.unwrap();
        (j.escrow_ids.len() == 2).then_some(j.escrow_ids)
    })
    .await;
    assert_eq!(
        before - net.owner.balance(client.address).await.unwrap(),
        2 * ONE
    );
    crashing.kill();
    drop(crashing);

    // The next run of that client finds both and cancels them: the rewards come back.
    let restarted = Node::start(config()).await.unwrap();
    let mut events = restarted.shared.subscribe();
    let mut recovered = Vec::new();
    while recovered.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
            Ok(Ok(NodeEvent::Recovered(report))) => recovered.push(report),
            Ok(_) => {}
            Err(_) => panic!("recovered only {recovered:?}"),
        }
    }
    recovered.sort_by_key(|r| r.escrow_id);
    assert_eq!(
        recovered.iter().map(|r| r.escrow_id).collect::<Vec<_>>(),
        slots
    );
    assert!(
        recovered.iter().all(|r| r.state == "cancelled"),
        "{recovered:?}"
    );
    assert_eq!(net.owner.balance(client.address).await.unwrap(), before);
    drop(restarted);
    net.stop().await.unwrap();
}

/// A worker checks every acceptance against the chain before it counts on it: a client
/// cannot pay with a signature its account never made, a fee above the agreed one, a
/// deposit that cannot cover it, or an acceptance already paid. Only the sound one is
/// settled, in a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_counts_only_on_acceptances_the_escrow_will_pay() {
    use ciro_bindings::{acceptance::Acceptance, ops::Session, units::capability};
    use ciro_node::chain::{AcceptanceError, Batching, ChainSettings, FromChain, Settler, ToChain};
    use ciro_node::protocol::Hash;
    use starknet::signers::SigningKey;

    let dir = tempfile::tempdir().unwrap();
    let net = started(settings(&dir, 1)).await;
    let client = net.devnet.account(1);
    let worker = net.devnet.account(4);
    assert_eq!(worker.address, net.workers[0].account);
    let client_key = SigningKey::from_secret_scalar(client.private_key);
    let paying = Session::new(
        net.chain.clone(),
        net.deployment.clone(),
        net.chain.account(client.address, client_key.clone()),
    );
    paying.deposit(3 * ONE, true).await.unwrap();
    let fee_bps = paying.fee_bps().await.unwrap();

    // The worker's settler, paying each acceptance as soon as it is checked.
    let (out, mut from_chain) = tokio::sync::mpsc::unbounded_channel();
    let settings = ChainSettings {
        batching: Batching {
            max_jobs: 1,
            ..Batching::default()
        },
        ..net
            .node_config(worker.address, worker.private_key)
            .chain
            .unwrap()
    };
    let (to_chain, _, _) = Settler::start(
        settings,
        libp2p::PeerId::random(),
        out,
        ciro_node::metrics::Metrics::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let job = Hash::of(b"a job run off chain");
    let terms = |amount: u128, fee_bps: u16, nonce: u64| Acceptance {
        worker: worker.address,
        spec_hash: Felt::from(7u8),
        capability: capability("wasm").unwrap(),
        amount,
        fee_bps,
        commitment: Felt::from(9u8),
        nonce: Felt::from(nonce),
    };
    let mut verdict = async |acceptance| {
        to_chain
            .send(ToChain::Accepted {
                job,
                acceptance,
                resumed: false,
            })
            .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(60), from_chain.recv()).await {
                Ok(Some(FromChain::AcceptanceRefused { error, .. })) => return Err(error),
                Ok(Some(FromChain::BatchSettled { jobs, amount, .. })) => {
                    return Ok((jobs, amount))
                }
                Ok(Some(_)) => {}
                other => panic!("no verdict: {other:?}"),
            }
        }
    };

    // Signed with the worker's own key, in the client's name.
    let forged = terms(ONE, fee_bps, 1)
        .sign(
            net.chain.chain_id(),
            net.deployment
                .address(ciro_bindings::Contract::JobEscrow)
                .unwrap(),
            client.address,
            &SigningKey::from_secret_scalar(worker.private_key),
        )
        .unwrap();
    assert!(matches!(
        verdict(forged).await,
        Err(AcceptanceError::NotSigned(a)) if a == client.address
    ));
    let greedy_fee = paying
        .sign_acceptance(terms(ONE, fee_bps + 1, 2), &client_key)
        .unwrap();
    assert!(matches!(
        verdict(greedy_fee).await,
        Err(AcceptanceError::FeeAboveTerms { .. })
    ));
    let unfunded = paying
        .sign_acceptance(terms(4 * ONE, fee_bps, 3), &client_key)
        .unwrap();
    assert!(matches!(
        verdict(unfunded).await,
        Err(AcceptanceError::Unfunded { held, amount }) if held == 3 * ONE && amount == 4 * ONE
    ));

    let before = net.owner.balance(worker.address).await.unwrap();
    let sound = paying
        .sign_acceptance(terms(ONE, fee_bps, 4), &client_key)
        .unwrap();
    assert_eq!(verdict(sound.clone()).await.unwrap(), (vec![job], ONE));
    assert_eq!(
        net.owner.balance(worker.address).await.unwrap() - before,
        ONE - fee(ONE)
    );
    assert_eq!(paying.deposit_of(client.address).await.unwrap().0, 2 * ONE);
    // Paid once: the same acceptance again is refused before any transaction.
    assert!(matches!(verdict(sound).await, Err(AcceptanceError::Used)));
    net.stop().await.unwrap();
}

/// A worker runs nothing for a client that pays from a deposit it does not have. An honest
/// client ends such a job before offering it; one that offers it anyway names its account
/// in its bid replies, and each worker checks the deposit before running the job, finds
/// it empty, drops the job and strikes the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_runs_nothing_for_a_client_whose_deposit_cannot_pay() {
    use ciro_node::{chain::Batching, job::JobStatus, ClientConduct, Node};
    let dir = tempfile::tempdir().unwrap();
    let net = started(settings(&dir, 2)).await;
    // Account 2 (the treasury) holds no CIRO, so it cannot deposit any.
    let broke = net.devnet.account(2);
    assert_eq!(net.owner.balance(broke.address).await.unwrap(), 0);
    let mut config = net.node_config(broke.address, broke.private_key);
    config.chain.as_mut().unwrap().batching = Batching {
        deposit: Some(ONE),
        ..Batching::default()
    };
    let honest = Node::start(config.clone()).await.unwrap();
    let job = honest
        .shared
        .submit(ciro::up::sample_job(0, 1, ONE, Duration::from_secs(8)))
        .await
        .unwrap();
    let record = eventually("the job to end", Duration::from_secs(30), || async {
        honest.shared.job(&job).await.filter(|j| !j.is_open())
    })
    .await;
    assert_eq!(
        record.error.as_deref(),
        Some("the deposit could not hold the rewards")
    );
    assert!(record.bids.is_empty(), "it was never offered: {record:?}");
    honest.kill();

    config.client_conduct = ClientConduct::Unfunded;
    let client = Node::start(config).await.unwrap();
    let workers: Vec<_> = net.workers.iter().map(|w| w.node.peer_id()).collect();
    ciro::up::wait_for_advertised(&client, &workers, Duration::from_secs(30))
        .await
        .unwrap();

    let job = client
        .shared
        .submit(ciro::up::sample_job(0, 1, ONE, Duration::from_secs(8)))
        .await
        .unwrap();
    let record = eventually("the job to end", Duration::from_secs(60), || async {
        client.shared.job(&job).await.filter(|j| !j.is_open())
    })
    .await;
    assert_eq!(record.status, JobStatus::Failed, "{record:?}");
    assert!(record.result.is_none());
    assert!(
        record
            .chain_errors
            .iter()
            .any(|e| e.contains("holding the rewards")),
        "{:?}",
        record.chain_errors
    );
    // Workers bid, but none ran the job.
    assert!(!record.bids.is_empty(), "{record:?}");
    for worker in &net.workers {
        let ran = &worker.node.shared.metrics.executions;
        assert_eq!(
            ran.with_label_values(&["ok"]).get() + ran.with_label_values(&["error"]).get(),
            0
        );
    }
    client.kill();
    net.stop().await.unwrap();
}

/// A worker that takes its acceptances and never settles them (it vanished) is still
/// paid: the client settles each after the fallback itself and reports the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_settles_the_acceptances_its_worker_never_did() {
    use ciro_node::{node::NodeEvent, WorkerConduct};
    let dir = tempfile::tempdir().unwrap();
    let net = started(UpSettings {
        deposit: Some(5 * ONE),
        conduct: vec![WorkerConduct::Hoard],
        batch_fallback: Duration::from_secs(3),
        ..settings(&dir, 1)
    })
    .await;
    let worker = net.workers[0].account;
    let before = net.owner.balance(worker).await.unwrap();
    let mut worker_events = net.workers[0].node.shared.subscribe();

    let reward = ONE;
    let jobs = net.submit_samples(2, 1, reward).await.unwrap();
    let settled = net
        .wait_settled(&jobs, Duration::from_secs(90), |_| {})
        .await
        .unwrap();
    for job in &jobs {
        let slots = &settled[job];
        assert!(net.paid_in_full(job, slots).await, "{slots:?}");
        assert!(
            slots
                .iter()
                .all(|s| s.acceptance.is_some() && s.tx_hash.is_some()),
            "{slots:?}"
        );
    }
    assert_eq!(
        net.owner.balance(worker).await.unwrap() - before,
        2 * (reward - fee(reward))
    );
    // The worker settled nothing itself.
    while let Ok(event) = worker_events.try_recv() {
        assert!(
            !matches!(event, NodeEvent::BatchSettled { .. }),
            "{event:?}"
        );
    }
    net.stop().await.unwrap();
}
