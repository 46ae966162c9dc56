//! Shared by the devnet tests and the fee benchmark: a devnet with the suite deployed and
//! four funded parties, and the steps of a job's life.

#![allow(dead_code)] // each user takes what it needs

use cainome::cairo_serde::ContractAddress;
use ciro_bindings::chain::{Account, Chain};
use ciro_bindings::contracts::{disputes, escrow, reputation, staking, token};
use ciro_bindings::deploy::Deploy;
use ciro_bindings::units::{capability, u256, ONE};
use ciro_bindings::{ChainError, Contract, DeployConfig, Deployment, Receipt};
use ciro_devnet::Devnet;
use starknet::accounts::Account as _;
use starknet::core::types::{BlockId, BlockTag, Call, Felt};
use starknet::providers::Provider as _;
use starknet::signers::SigningKey;

pub const FEE_BPS: u16 = 250;
pub const TIMEOUT_SLASH_BPS: u16 = 1000;
pub const DISPUTE_BOND: u128 = 5 * ONE;
pub const REWARD: u128 = 40 * ONE;
pub const COLLATERAL: u128 = 20 * ONE;
pub const STAKE: u128 = 150 * ONE;
pub const FUNDS: u128 = 1_000 * ONE;

/// A devnet with the suite deployed and four funded parties.
pub struct Suite {
    pub devnet: Devnet,
    pub chain: Chain,
    pub deployment: Deployment,
    pub owner: Account,
    pub client: Account,
    pub worker: Account,
    pub arbitrator: Account,
    pub treasury: Felt,
    pub deploy_receipts: Vec<(String, Receipt)>,
    pub _dir: tempfile::TempDir,
}

pub fn config(treasury: Felt, arbitrator: Felt) -> DeployConfig {
    DeployConfig {
        treasury: Some(treasury),
        fee_bps: FEE_BPS,
        timeout_slash_bps: TIMEOUT_SLASH_BPS,
        dispute_bond: "5".into(),
        arbitrators: vec![arbitrator],
        ..DeployConfig::default()
    }
}

pub fn account_of(chain: &Chain, devnet: &Devnet, index: usize) -> Account {
    let a = devnet.account(index);
    chain.account(a.address, SigningKey::from_secret_scalar(a.private_key))
}

pub async fn deploy_suite() -> Suite {
    let devnet = tokio::task::spawn_blocking(Devnet::spawn_default)
        .await
        .unwrap()
        .expect("devnet starts");
    let chain = Chain::connect(devnet.rpc_url())
        .await
        .expect("devnet answers");
    let owner = account_of(&chain, &devnet, 0);
    let client = account_of(&chain, &devnet, 1);
    let worker = account_of(&chain, &devnet, 2);
    let arbitrator = account_of(&chain, &devnet, 3);
    let treasury = devnet.account(4).address;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("devnet.json");
    let report = Deploy {
        chain: &chain,
        account: &owner,
        network: "devnet".into(),
        config: Some(config(treasury, arbitrator.address())),
        dry_run: false,
    }
    .run(&manifest, |_| {})
    .await
    .expect("the suite deploys");
    let deployment = report.deployment.clone();
    assert!(deployment.complete);

    let suite = Suite {
        devnet,
        chain,
        deployment,
        owner,
        client,
        worker,
        arbitrator,
        treasury,
        deploy_receipts: report.sent.clone(),
        _dir: dir,
    };
    let token = suite.token(&suite.owner);
    for who in [suite.client.address(), suite.worker.address()] {
        suite
            .send(
                &suite.owner,
                vec![token.mint_getcall(&ContractAddress(who), &u256(FUNDS))],
            )
            .await;
    }
    suite
}

impl Suite {
    pub fn at(&self, contract: Contract) -> Felt {
        self.deployment.address(contract).unwrap()
    }
    pub fn token<'a>(&self, account: &'a Account) -> token::CiroToken<&'a Account> {
        token::CiroToken::new(self.at(Contract::CiroToken), account)
    }
    pub fn staking<'a>(&self, account: &'a Account) -> staking::Staking<&'a Account> {
        staking::Staking::new(self.at(Contract::Staking), account)
    }
    pub fn escrow<'a>(&self, account: &'a Account) -> escrow::JobEscrow<&'a Account> {
        escrow::JobEscrow::new(self.at(Contract::JobEscrow), account)
    }
    pub fn disputes<'a>(&self, account: &'a Account) -> disputes::Disputes<&'a Account> {
        disputes::Disputes::new(self.at(Contract::Disputes), account)
    }

    /// Sends `calls` from `account` and waits; panics with the contract's message on failure.
    pub async fn send(&self, account: &Account, calls: Vec<Call>) -> Receipt {
        self.try_send(account, calls)
            .await
            .expect("transaction succeeds")
    }

    pub async fn try_send(
        &self,
        account: &Account,
        calls: Vec<Call>,
    ) -> Result<ciro_bindings::Receipt, ChainError> {
        let sent = account
            .execute_v3(calls)
            .send()
            .await
            .map_err(|e| self.chain.error("test call", e))?;
        self.chain.wait("test call", sent.transaction_hash).await
    }

    pub async fn balance(&self, who: Felt) -> u128 {
        let reader = token::CiroTokenReader::new(self.at(Contract::CiroToken), self.chain.rpc());
        let balance = reader
            .balance_of(&ContractAddress(who))
            .call()
            .await
            .unwrap();
        assert_eq!(balance.high, 0);
        balance.low
    }

    pub async fn stake_of(&self, who: Felt) -> (u128, u128) {
        let reader = staking::StakingReader::new(self.at(Contract::Staking), self.chain.rpc());
        let stake = reader.stake_of(&ContractAddress(who)).call().await.unwrap();
        let locked = reader
            .locked_of(&ContractAddress(who))
            .call()
            .await
            .unwrap();
        (stake.low, locked.low)
    }

    pub async fn reputation_of(&self, who: Felt) -> reputation::ReputationRecord {
        reputation::ReputationReader::new(self.at(Contract::Reputation), self.chain.rpc())
            .reputation_of(&ContractAddress(who))
            .call()
            .await
            .unwrap()
    }

    pub async fn job(&self, job_id: u64) -> escrow::Job {
        escrow::JobEscrowReader::new(self.at(Contract::JobEscrow), self.chain.rpc())
            .job(&job_id)
            .call()
            .await
            .unwrap()
    }

    /// The worker stakes and registers for `wasm`.
    pub async fn stake_worker(&self) {
        let staking_at = ContractAddress(self.at(Contract::Staking));
        let calls = vec![
            self.token(&self.worker)
                .approve_getcall(&staking_at, &u256(STAKE)),
            self.staking(&self.worker).stake_getcall(&u256(STAKE)),
            self.staking(&self.worker)
                .register_getcall(&vec![capability("wasm").unwrap()]),
        ];
        self.send(&self.worker, calls).await;
    }

    /// A job the worker signed a bid for and the client assigned it on; returns the job id.
    pub async fn assigned_job(&self, deadline_in: u64) -> u64 {
        let job_id = self.open_job(deadline_in).await;
        let assign = self.assign_call(job_id).await;
        self.send(&self.client, vec![assign]).await;
        job_id
    }

    /// A job the client created, with nobody assigned.
    pub async fn open_job(&self, deadline_in: u64) -> u64 {
        let now = self.now().await;
        let escrow_at = ContractAddress(self.at(Contract::JobEscrow));
        let calls = vec![
            self.token(&self.client)
                .approve_getcall(&escrow_at, &u256(REWARD)),
            self.escrow(&self.client).create_job_getcall(
                &Felt::from(0x5bec_u32),
                &u256(REWARD),
                &capability("wasm").unwrap(),
                &(now + deadline_in),
                &600,
                &u256(COLLATERAL),
            ),
        ];
        self.send(&self.client, calls).await;
        escrow::JobEscrowReader::new(self.at(Contract::JobEscrow), self.chain.rpc())
            .job_count()
            .call()
            .await
            .unwrap()
    }

    /// The worker's bid on exactly the terms of escrow job `job_id`, signed with the
    /// worker's real account key.
    pub async fn worker_bid(&self, job_id: u64) -> ciro_bindings::bid::SignedBid {
        let job = escrow::JobEscrowReader::new(self.at(Contract::JobEscrow), self.chain.rpc())
            .job(&job_id)
            .call()
            .await
            .unwrap();
        let bid = ciro_bindings::bid::Bid {
            spec_hash: job.spec_hash,
            price: job.reward.low,
            collateral: job.collateral.low,
            deadline: job.deadline,
            expiry: job.deadline + 600,
            nonce: Felt::from(job_id),
        };
        bid.sign(
            self.chain.chain_id(),
            self.at(Contract::JobEscrow),
            self.worker.address(),
            &SigningKey::from_secret_scalar(self.devnet.account(2).private_key),
        )
        .unwrap()
    }

    /// The client approves and deposits `amount` for batched settlement.
    pub async fn deposit(&self, amount: u128) {
        let escrow_at = ContractAddress(self.at(Contract::JobEscrow));
        let calls = vec![
            self.token(&self.client)
                .approve_getcall(&escrow_at, &u256(amount)),
            self.escrow(&self.client).deposit_getcall(&u256(amount)),
        ];
        self.send(&self.client, calls).await;
    }

    /// The client's acceptance, with `nonce`, of the worker's committed `OPENING` for
    /// `REWARD`, signed with `key` (the client's own key unless a test forges it).
    pub fn acceptance_signed_with(
        &self,
        nonce: u64,
        key: &SigningKey,
    ) -> ciro_bindings::acceptance::SignedAcceptance {
        let worker = self.worker.address();
        ciro_bindings::acceptance::Acceptance {
            worker,
            spec_hash: Felt::from(0x5bec_u32),
            capability: capability("wasm").unwrap(),
            amount: REWARD,
            fee_bps: FEE_BPS,
            commitment: OPENING.commitment(worker),
            nonce: Felt::from(nonce),
        }
        .sign(
            self.chain.chain_id(),
            self.at(Contract::JobEscrow),
            self.client.address(),
            key,
        )
        .unwrap()
    }

    /// The client's real account key.
    pub fn client_key(&self) -> SigningKey {
        SigningKey::from_secret_scalar(self.devnet.account(1).private_key)
    }

    /// The call that settles `batch`, sent by anyone.
    pub fn settle_call(
        &self,
        account: &Account,
        batch: &[ciro_bindings::acceptance::SignedAcceptance],
    ) -> Call {
        let settlements: Vec<escrow::Settlement> = batch.iter().map(Into::into).collect();
        self.escrow(account).settle_batch_getcall(&settlements)
    }

    /// The client's call that assigns the worker to `job_id` on the worker's signed bid.
    pub async fn assign_call(&self, job_id: u64) -> Call {
        let signed = self.worker_bid(job_id).await;
        self.escrow(&self.client).assign_getcall(
            &job_id,
            &ContractAddress(signed.worker),
            &signed.bid.into(),
            &signed.signature,
        )
    }

    /// The client's calls that approve the dispute bond and dispute `job_id`.
    pub fn dispute_calls(&self, job_id: u64) -> Vec<Call> {
        vec![
            self.token(&self.client).approve_getcall(
                &ContractAddress(self.at(Contract::JobEscrow)),
                &u256(DISPUTE_BOND),
            ),
            self.escrow(&self.client)
                .dispute_getcall(&job_id, &Felt::from(0xe1_u32)),
        ]
    }

    /// The worker commits to `OPENING`'s result.
    pub async fn submit(&self, job_id: u64) {
        let commitment = OPENING.commitment(self.worker.address());
        let call = self
            .escrow(&self.worker)
            .submit_result_getcall(&job_id, &commitment);
        self.send(&self.worker, vec![call]).await;
    }

    /// The worker reveals `OPENING` on `job_id`.
    pub async fn reveal(&self, job_id: u64) {
        let call =
            self.escrow(&self.worker)
                .reveal_getcall(&job_id, &OPENING.result_hash, &OPENING.salt);
        self.send(&self.worker, vec![call]).await;
    }

    pub async fn now(&self) -> u64 {
        use starknet::core::types::MaybePreConfirmedBlockWithTxHashes as B;
        match self
            .chain
            .rpc()
            .get_block_with_tx_hashes(BlockId::Tag(BlockTag::Latest))
            .await
            .unwrap()
        {
            B::Block(b) => b.timestamp,
            B::PreConfirmedBlock(b) => b.timestamp,
        }
    }
}

/// What the suite's worker commits to.
pub const OPENING: ciro_bindings::commitment::Opening = ciro_bindings::commitment::Opening {
    result_hash: Felt::from_hex_unchecked("0xbeef"),
    salt: Felt::from_hex_unchecked("0x5a17"),
};

pub fn fee(reward: u128) -> u128 {
    reward * u128::from(FEE_BPS) / 10_000
}

/// Prints a benchmark's figures and writes them to `target/ciro-bench/<name>.md` under the
/// workspace, or to `$CIRO_BENCH_OUT`.
pub fn write_figures(name: &str, text: &str) {
    let path = std::env::var_os("CIRO_BENCH_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap();
            workspace.join(format!("target/ciro-bench/{name}.md"))
        });
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    print!("{text}");
    println!("\nwritten to {}", path.display());
}
