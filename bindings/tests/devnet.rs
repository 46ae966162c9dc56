//! The contracts through the bindings, on a real in-process devnet: the deploy routine, the
//! job lifecycle with exact balances, timeouts, disputes both ways, collateral locks, and
//! event decoding round trip.
//!
//! Each test owns a devnet on a free port, so they run in parallel.

mod common;

use cainome::cairo_serde::{CairoSerde, ContractAddress, U256};
use ciro_bindings::contracts::{disputes, escrow, staking};
use ciro_bindings::deploy::{Deploy, Progress};
use ciro_bindings::units::u256;
use ciro_bindings::{ChainError, Contract, DeployConfig, Deployment};
use common::*;
use starknet::accounts::Account as _;
use starknet::core::types::{BlockId, BlockTag, EventFilter, Felt};
use starknet::core::utils::get_selector_from_name;
use starknet::providers::Provider as _;
use starknet::signers::SigningKey;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_deploy_sends_nothing() {
    let suite = deploy_suite().await;
    let manifest = suite._dir.path().join("devnet.json");
    let mut sent = 0;
    let report = Deploy {
        chain: &suite.chain,
        account: &suite.owner,
        network: "devnet".into(),
        config: None,
        dry_run: false,
    }
    .run(&manifest, |event| {
        if matches!(event, Progress::Sent { .. }) {
            sent += 1;
        }
    })
    .await
    .unwrap();
    assert_eq!(sent, 0);
    assert!(report.sent.is_empty());
    assert_eq!(report.deployment.contracts, suite.deployment.contracts);

    // The manifest records every class, address, transaction and block.
    let saved = Deployment::load_complete(&manifest, "devnet").unwrap();
    assert_eq!(saved.chain_id, suite.chain.chain_id());
    for contract in Contract::ALL {
        let entry = &saved.contracts[contract.name()];
        assert_eq!(
            suite.chain.class_hash_at(entry.address).await.unwrap(),
            Some(entry.class_hash),
            "{contract} is deployed where the manifest says"
        );
        assert!(entry.declare_tx.is_some() && entry.deploy_tx.is_some() && entry.block > 0);
    }
    assert!(
        saved.wiring.iter().all(|w| w.tx.is_some()),
        "{:?}",
        saved.wiring
    );

    // Settings that differ from the manifest's are refused before anything is sent.
    let other = DeployConfig {
        fee_bps: 1,
        ..saved.config.clone()
    };
    let refused = Deploy {
        chain: &suite.chain,
        account: &suite.owner,
        network: "devnet".into(),
        config: Some(other),
        dry_run: false,
    }
    .run(&manifest, |_| {})
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("other settings"), "{refused}");

    // A manifest whose classes differ from these artifacts (rebuilt contracts) is not
    // silently joined by a second suite.
    let mut drifted = saved.clone();
    drifted.contracts.get_mut("Staking").unwrap().class_hash = Felt::from(0x5eed_u32);
    drifted.save(&manifest).unwrap();
    let refused = Deploy {
        chain: &suite.chain,
        account: &suite.owner,
        network: "devnet".into(),
        config: None,
        dry_run: false,
    }
    .run(&manifest, |_| {})
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("second suite"), "{refused}");
    assert_eq!(
        Deployment::load(&manifest, "devnet").unwrap(),
        drifted,
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_job_pays_the_worker_and_the_fee() {
    let suite = deploy_suite().await;
    suite.stake_worker().await;
    let job_id = suite.assigned_job(3600).await;
    assert_eq!(
        suite.stake_of(suite.worker.address()).await,
        (STAKE, COLLATERAL)
    );
    suite.submit(job_id).await;
    let accept = suite.escrow(&suite.client).accept_getcall(&job_id);
    suite.send(&suite.client, vec![accept]).await;

    let job = suite.job(job_id).await;
    assert_eq!(job.state, escrow::JobState::Completed);
    assert_eq!(suite.balance(suite.client.address()).await, FUNDS - REWARD);
    assert_eq!(
        suite.balance(suite.worker.address()).await,
        FUNDS - STAKE + REWARD - fee(REWARD)
    );
    assert_eq!(suite.balance(suite.treasury).await, fee(REWARD));
    assert_eq!(suite.balance(suite.at(Contract::JobEscrow)).await, 0);
    assert_eq!(suite.stake_of(suite.worker.address()).await, (STAKE, 0));
    let record = suite.reputation_of(suite.worker.address()).await;
    assert_eq!(record.jobs_completed, 1);
    assert_eq!(record.total_earned, u256(REWARD - fee(REWARD)));
}

/// Batched settlement with real accounts: the client deposits once and signs acceptances
/// with its account key; one transaction the worker sends pays them all. The escrow hashes an
/// acceptance exactly as `ciro_bindings::acceptance` does, and an acceptance the client did
/// not sign, or one already paid, pays nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_signed_acceptances_pays_in_one_transaction() {
    let suite = deploy_suite().await;
    let (chain_id, escrow_at, client, worker) = (
        suite.chain.chain_id(),
        suite.at(Contract::JobEscrow),
        suite.client.address(),
        suite.worker.address(),
    );
    suite.deposit(3 * REWARD).await;
    let key = suite.client_key();
    let batch: Vec<_> = (1..=3)
        .map(|nonce| suite.acceptance_signed_with(nonce, &key))
        .collect();
    let on_chain = escrow::JobEscrowReader::new(escrow_at, suite.chain.rpc())
        .acceptance_hash(
            &ContractAddress(client),
            &escrow::Settlement::from(&batch[0]).acceptance,
        )
        .call()
        .await
        .unwrap();
    assert_eq!(
        on_chain,
        batch[0]
            .acceptance
            .hash(chain_id, escrow_at, client)
            .unwrap()
    );

    // The worker signs an acceptance "from the client" itself.
    let worker_key = SigningKey::from_secret_scalar(suite.devnet.account(2).private_key);
    let forged = suite.acceptance_signed_with(9, &worker_key);
    let refused = suite
        .try_send(
            &suite.worker,
            vec![suite.settle_call(&suite.worker, &[forged])],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ChainError::Reverted { message, .. } if message.contains("invalid acceptance signature")),
        "{refused}"
    );

    suite
        .send(
            &suite.worker,
            vec![suite.settle_call(&suite.worker, &batch)],
        )
        .await;
    assert_eq!(
        suite.balance(worker).await,
        FUNDS + 3 * (REWARD - fee(REWARD))
    );
    assert_eq!(suite.balance(suite.treasury).await, 3 * fee(REWARD));
    assert_eq!(suite.balance(client).await, FUNDS - 3 * REWARD);
    assert_eq!(suite.balance(escrow_at).await, 0);
    let record = suite.reputation_of(worker).await;
    assert_eq!(record.jobs_completed, 3);
    assert_eq!(record.total_earned, u256(3 * (REWARD - fee(REWARD))));

    let replayed = suite
        .try_send(
            &suite.worker,
            vec![suite.settle_call(&suite.worker, &batch[..1])],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&replayed, ChainError::Reverted { message, .. } if message.contains("acceptance already used")),
        "{replayed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_deadline_refunds_the_client_and_slashes_the_worker() {
    let suite = deploy_suite().await;
    suite.stake_worker().await;
    let job_id = suite.assigned_job(60).await;

    // Before the deadline the claim is refused with the contract's message.
    let early = suite.escrow(&suite.client).claim_timeout_getcall(&job_id);
    let refused = suite
        .try_send(&suite.client, vec![early.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ChainError::Reverted { message, .. } if message.contains("deadline")),
        "{refused}"
    );

    suite.devnet.increase_time(120).await.unwrap();
    suite.send(&suite.client, vec![early]).await;
    let slashed = COLLATERAL * u128::from(TIMEOUT_SLASH_BPS) / 10_000;
    assert_eq!(suite.job(job_id).await.state, escrow::JobState::Refunded);
    // The client gets its reward back; the slash goes to the treasury, not to the client.
    assert_eq!(suite.balance(suite.client.address()).await, FUNDS);
    assert_eq!(suite.balance(suite.treasury).await, slashed);
    assert_eq!(
        suite.stake_of(suite.worker.address()).await,
        (STAKE - slashed, 0)
    );
    let record = suite.reputation_of(suite.worker.address()).await;
    assert_eq!(
        (record.jobs_failed, record.total_slashed),
        (1, u256(slashed))
    );
}

/// The attack the signed bid closes: a client assigned any staked worker, unasked, to a job
/// it could not finish and took a share of the worker's stake at the deadline. Here, with
/// real accounts on a real chain, the escrow asks the worker's own account whether it signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_assign_a_worker_without_its_signed_bid() {
    let suite = deploy_suite().await;
    suite.stake_worker().await;
    let (chain_id, escrow_at, worker) = (
        suite.chain.chain_id(),
        suite.at(Contract::JobEscrow),
        suite.worker.address(),
    );
    let job_id = suite.open_job(60).await;
    let genuine = suite.worker_bid(job_id).await;

    // The escrow hashes a bid exactly as `ciro_bindings::bid` does.
    let on_chain = escrow::JobEscrowReader::new(escrow_at, suite.chain.rpc())
        .bid_hash(&ContractAddress(worker), &genuine.bid.into())
        .call()
        .await
        .unwrap();
    assert_eq!(
        on_chain,
        genuine.bid.hash(chain_id, escrow_at, worker).unwrap()
    );

    let client_key = SigningKey::from_secret_scalar(suite.devnet.account(1).private_key);
    let forged = genuine
        .bid
        .sign(chain_id, escrow_at, worker, &client_key)
        .unwrap();
    let mut other_terms = genuine.clone();
    other_terms.bid.collateral += 1;
    for (what, bid, signature) in [
        ("signed by the client", forged.bid, forged.signature),
        ("no signature", genuine.bid, vec![]),
        (
            "terms changed after signing",
            other_terms.bid,
            other_terms.signature,
        ),
    ] {
        let call = suite.escrow(&suite.client).assign_getcall(
            &job_id,
            &ContractAddress(worker),
            &bid.into(),
            &signature,
        );
        let refused = suite
            .try_send(&suite.client, vec![call])
            .await
            .expect_err(what);
        assert!(
            matches!(&refused, ChainError::Reverted { message, .. } if message.contains("invalid bid signature")),
            "{what}: {refused}"
        );
    }
    // Nothing is locked, so the deadline passing gives the client nothing to claim.
    assert_eq!(suite.stake_of(worker).await, (STAKE, 0));
    suite.devnet.increase_time(120).await.unwrap();
    let claim = suite.escrow(&suite.client).claim_timeout_getcall(&job_id);
    let refused = suite
        .try_send(&suite.client, vec![claim])
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ChainError::Reverted { message, .. } if message.contains("job not assigned")),
        "{refused}"
    );
    assert_eq!(suite.stake_of(worker).await, (STAKE, 0));

    // The worker's own bid assigns it, once.
    let second = suite.open_job(3600).await;
    let signed = suite.worker_bid(second).await;
    let assign = |job: u64| {
        suite.escrow(&suite.client).assign_getcall(
            &job,
            &ContractAddress(worker),
            &signed.bid.into(),
            &signed.signature,
        )
    };
    suite.send(&suite.client, vec![assign(second)]).await;
    assert_eq!(suite.stake_of(worker).await, (STAKE, COLLATERAL));
    let third = suite.open_job(3600).await;
    let replayed = suite
        .try_send(&suite.client, vec![assign(third)])
        .await
        .unwrap_err();
    assert!(
        matches!(&replayed, ChainError::Reverted { message, .. } if message.contains("bid")),
        "{replayed}"
    );
    assert_eq!(suite.stake_of(worker).await, (STAKE, COLLATERAL));
}

async fn disputed(suite: &Suite) -> (u64, u64) {
    suite.stake_worker().await;
    let job_id = suite.assigned_job(3600).await;
    suite.submit(job_id).await;
    // Without the bond the dispute is refused.
    let unbonded = suite
        .escrow(&suite.client)
        .dispute_getcall(&job_id, &Felt::from(0xe1_u32));
    let refused = suite
        .try_send(&suite.client, vec![unbonded])
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ChainError::Reverted { message, .. } if message.contains("allowance")),
        "{refused}"
    );
    suite.send(&suite.client, suite.dispute_calls(job_id)).await;
    let job = suite.job(job_id).await;
    assert_eq!(job.state, escrow::JobState::Disputed);
    (job_id, job.dispute_id)
}

// The commitment a worker computes off chain is the one the escrow checks, and only its
// opening reveals it; a revealed result lets the worker finalize after a silent client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_result_is_revealed_by_its_opening_and_then_finalized() {
    let suite = deploy_suite().await;
    let worker = suite.worker.address();
    let view = escrow::JobEscrowReader::new(suite.at(Contract::JobEscrow), suite.chain.rpc())
        .result_commitment(
            &OPENING.result_hash,
            &ContractAddress(worker),
            &OPENING.salt,
        )
        .call()
        .await
        .unwrap();
    assert_eq!(view, OPENING.commitment(worker));

    suite.stake_worker().await;
    let job_id = suite.assigned_job(3600).await;
    suite.submit(job_id).await;
    let job = suite.job(job_id).await;
    assert!(OPENING.opens(job.commitment, worker));
    assert_eq!(job.result_hash, Felt::ZERO);
    // The suite's jobs have a 600 s challenge window.
    suite.devnet.increase_time(601).await.unwrap();
    let finalize = suite.escrow(&suite.worker).finalize_getcall(&job_id);
    let unrevealed = suite
        .try_send(&suite.worker, vec![finalize.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(&unrevealed, ChainError::Reverted { message, .. } if message.contains("result not revealed")),
        "{unrevealed}"
    );
    let forged =
        suite
            .escrow(&suite.worker)
            .reveal_getcall(&job_id, &Felt::from(0xbad_u32), &OPENING.salt);
    let refused = suite
        .try_send(&suite.worker, vec![forged])
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ChainError::Reverted { message, .. } if message.contains("reveal does not match")),
        "{refused}"
    );
    suite.reveal(job_id).await;
    suite.send(&suite.worker, vec![finalize]).await;
    let job = suite.job(job_id).await;
    assert_eq!(
        (job.state, job.result_hash),
        (escrow::JobState::Completed, OPENING.result_hash)
    );
    assert_eq!(
        suite.balance(worker).await,
        FUNDS - STAKE + REWARD - fee(REWARD)
    );
}

// A client that disputes a right result pays the worker its bond.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_won_by_the_worker_pays_it_and_the_clients_bond() {
    let suite = deploy_suite().await;
    let (job_id, dispute_id) = disputed(&suite).await;
    let vote = suite
        .disputes(&suite.arbitrator)
        .vote_getcall(&dispute_id, &disputes::Ruling::WorkerRight);
    suite.send(&suite.arbitrator, vec![vote]).await;

    assert_eq!(suite.job(job_id).await.state, escrow::JobState::Completed);
    assert_eq!(
        suite.balance(suite.worker.address()).await,
        FUNDS - STAKE + REWARD - fee(REWARD) + DISPUTE_BOND
    );
    assert_eq!(
        suite.balance(suite.client.address()).await,
        FUNDS - REWARD - DISPUTE_BOND
    );
    assert_eq!(suite.balance(suite.treasury).await, fee(REWARD));
    assert_eq!(suite.stake_of(suite.worker.address()).await, (STAKE, 0));
    let record = suite.reputation_of(suite.worker.address()).await;
    assert_eq!((record.disputes_won, record.disputes_lost), (1, 0));
}

// The slash goes to the treasury alone: the client gets back what it put in and no more, so
// provoking a slash does not pay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_lost_by_the_worker_slashes_its_collateral_to_the_treasury() {
    let suite = deploy_suite().await;
    let (job_id, dispute_id) = disputed(&suite).await;

    // A party cannot vote, and a non-arbitrator cannot either.
    let by_owner = suite
        .disputes(&suite.owner)
        .vote_getcall(&dispute_id, &disputes::Ruling::ClientRight);
    let refused = suite
        .try_send(&suite.owner, vec![by_owner])
        .await
        .unwrap_err();
    assert!(matches!(refused, ChainError::Reverted { .. }), "{refused}");

    let vote = suite
        .disputes(&suite.arbitrator)
        .vote_getcall(&dispute_id, &disputes::Ruling::ClientRight);
    suite.send(&suite.arbitrator, vec![vote]).await;

    assert_eq!(suite.job(job_id).await.state, escrow::JobState::Refunded);
    assert_eq!(suite.balance(suite.client.address()).await, FUNDS);
    assert_eq!(suite.balance(suite.treasury).await, COLLATERAL);
    assert_eq!(suite.balance(suite.worker.address()).await, FUNDS - STAKE);
    assert_eq!(
        suite.stake_of(suite.worker.address()).await,
        (STAKE - COLLATERAL, 0)
    );
    let record = suite.reputation_of(suite.worker.address()).await;
    assert_eq!((record.disputes_won, record.disputes_lost), (0, 1));
    assert_eq!(record.total_slashed, u256(COLLATERAL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_collateral_cannot_be_unstaked() {
    let suite = deploy_suite().await;
    suite.stake_worker().await;
    let _job = suite.assigned_job(3600).await;
    let free = STAKE - COLLATERAL;
    let too_much = suite
        .staking(&suite.worker)
        .unstake_intent_getcall(&u256(free + 1));
    let refused = suite
        .try_send(&suite.worker, vec![too_much])
        .await
        .unwrap_err();
    assert!(matches!(refused, ChainError::Reverted { .. }), "{refused}");
    // Exactly the free part can leave.
    let ok = suite
        .staking(&suite.worker)
        .unstake_intent_getcall(&u256(free));
    suite.send(&suite.worker, vec![ok]).await;
    assert_eq!(
        suite.stake_of(suite.worker.address()).await,
        (STAKE, COLLATERAL)
    );
}

/// Serializes an event's fields the way Starknet lays them out, for the round trip.
fn keys_and_data(
    selector: &str,
    keys: Vec<Vec<Felt>>,
    data: Vec<Vec<Felt>>,
) -> (Vec<Felt>, Vec<Felt>) {
    let mut all_keys = vec![get_selector_from_name(selector).unwrap()];
    all_keys.extend(keys.into_iter().flatten());
    (all_keys, data.into_iter().flatten().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emitted_events_decode_and_encode_back_to_the_same_felts() {
    let suite = deploy_suite().await;
    suite.stake_worker().await;
    let job_id = suite.assigned_job(3600).await;
    let events = suite
        .chain
        .rpc()
        .get_events(
            EventFilter {
                from_block: Some(BlockId::Number(0)),
                to_block: Some(BlockId::Tag(BlockTag::Latest)),
                address: None,
                keys: None,
            },
            None,
            1000,
        )
        .await
        .unwrap()
        .events;

    let mut checked = 0;
    for event in &events {
        if event.from_address == suite.at(Contract::JobEscrow) {
            match escrow::Event::try_from(event).expect("every escrow event decodes") {
                escrow::Event::JobCreated(e) => {
                    assert_eq!(e.job_id, job_id);
                    assert_eq!(e.client.0, suite.client.address());
                    assert_eq!(e.reward, u256(REWARD));
                    let (keys, data) = keys_and_data(
                        "JobCreated",
                        vec![
                            u64::cairo_serialize(&e.job_id),
                            ContractAddress::cairo_serialize(&e.client),
                            ContractAddress::cairo_serialize(&e.worker),
                        ],
                        vec![
                            Felt::cairo_serialize(&e.spec_hash),
                            Felt::cairo_serialize(&e.capability),
                            U256::cairo_serialize(&e.reward),
                            U256::cairo_serialize(&e.collateral),
                            u64::cairo_serialize(&e.deadline),
                            u64::cairo_serialize(&e.challenge_window),
                        ],
                    );
                    assert_eq!((keys, data), (event.keys.clone(), event.data.clone()));
                    checked += 1;
                }
                escrow::Event::JobAssigned(e) => {
                    assert_eq!(e.worker.0, suite.worker.address());
                    let (keys, data) = keys_and_data(
                        "JobAssigned",
                        vec![
                            u64::cairo_serialize(&e.job_id),
                            ContractAddress::cairo_serialize(&e.client),
                            ContractAddress::cairo_serialize(&e.worker),
                        ],
                        vec![
                            U256::cairo_serialize(&e.collateral),
                            u64::cairo_serialize(&e.deadline),
                            Felt::cairo_serialize(&e.nonce),
                        ],
                    );
                    assert_eq!((keys, data), (event.keys.clone(), event.data.clone()));
                    checked += 1;
                }
                _ => {}
            }
        }
        if event.from_address == suite.at(Contract::Staking) {
            if let staking::Event::Staked(e) =
                staking::Event::try_from(event).expect("every staking event decodes")
            {
                assert_eq!(e.worker.0, suite.worker.address());
                assert_eq!((e.amount, e.new_stake), (u256(STAKE), u256(STAKE)));
                let (keys, data) = keys_and_data(
                    "Staked",
                    vec![ContractAddress::cairo_serialize(&e.worker)],
                    vec![
                        U256::cairo_serialize(&e.amount),
                        U256::cairo_serialize(&e.old_stake),
                        U256::cairo_serialize(&e.new_stake),
                    ],
                );
                assert_eq!((keys, data), (event.keys.clone(), event.data.clone()));
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked, 3,
        "JobCreated, JobAssigned and Staked were each checked once"
    );

    // A foreign event does not decode as ours.
    let mut forged = events
        .iter()
        .find(|e| e.from_address == suite.at(Contract::JobEscrow))
        .unwrap()
        .clone();
    forged.keys[0] = get_selector_from_name("NoSuchEvent").unwrap();
    assert!(escrow::Event::try_from(&forged).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_owner_accepts_and_ends_up_owning_everything_and_minting() {
    let devnet = tokio::task::spawn_blocking(ciro_devnet::Devnet::spawn_default)
        .await
        .unwrap()
        .unwrap();
    let chain = ciro_bindings::Chain::connect(devnet.rpc_url())
        .await
        .unwrap();
    let deployer = account_of(&chain, &devnet, 0);
    let owner = devnet.account(5).address;
    // The deployer is treasury and the only arbitrator: a one-person court, which only a
    // devnet accepts.
    assert!(chain.is_devnet().await);
    let dir = tempfile::tempdir().unwrap();
    let report = Deploy {
        chain: &chain,
        account: &deployer,
        network: "devnet".into(),
        config: Some(DeployConfig {
            owner: Some(owner),
            ..DeployConfig::default()
        }),
        dry_run: false,
    }
    .run(&dir.path().join("devnet.json"), |_| {})
    .await
    .unwrap();
    let minter = starknet::core::utils::cairo_short_string_to_felt("MINTER").unwrap();
    // Ownership moves in two steps: the deploy names the owner, which must accept.
    for contract in Contract::ALL {
        let at = report.deployment.address(contract).unwrap();
        let reader = staking::StakingReader::new(at, chain.rpc());
        assert_eq!(
            reader.owner().call().await.unwrap().0,
            deployer.address(),
            "{contract}"
        );
        assert_eq!(reader.pending_owner().call().await.unwrap().0, owner);
    }
    // A stranger cannot take the contracts over.
    let stranger = ciro_bindings::ops::Session::new(
        chain.clone(),
        report.deployment.clone(),
        account_of(&chain, &devnet, 6),
    );
    let refused = stranger.accept_ownership().await.unwrap_err();
    assert!(
        refused.to_string().contains("no contract names"),
        "{refused}"
    );
    let named = ciro_bindings::ops::Session::new(
        chain.clone(),
        report.deployment.clone(),
        account_of(&chain, &devnet, 5),
    );
    let (taken, _) = named.accept_ownership().await.unwrap();
    assert_eq!(taken, Contract::ALL.to_vec());
    for contract in Contract::ALL {
        let at = report.deployment.address(contract).unwrap();
        let reader = staking::StakingReader::new(at, chain.rpc());
        assert_eq!(reader.owner().call().await.unwrap().0, owner, "{contract}");
        assert_eq!(reader.pending_owner().call().await.unwrap().0, Felt::ZERO);
    }
    let token_at = report.deployment.address(Contract::CiroToken).unwrap();
    let token = ciro_bindings::contracts::token::CiroTokenReader::new(token_at, chain.rpc());
    assert!(token
        .has_role(&minter, &ContractAddress(owner))
        .call()
        .await
        .unwrap());
    assert!(!token
        .has_role(&minter, &ContractAddress(deployer.address()))
        .call()
        .await
        .unwrap());
}
