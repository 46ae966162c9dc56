//! The operations on the deployed suite that the CLI (`ciro worker`, `ciro job`, `ciro token`)
//! and the nodes share.
//!
//! A [`Session`] is a connected account plus the deployment manifest. Each operation checks
//! what it can before paying a fee (balances, allowances, input ranges), sends one
//! transaction (a multicall when a token approval must come first), waits for it, and
//! returns what a user wants to read.

use std::sync::Arc;

use cainome::cairo_serde::{ContractAddress, U256};
use starknet::accounts::Account as _;
use starknet::core::types::{Call, Felt};
use starknet::providers::Provider as _;
use starknet::signers::SigningKey;

use crate::acceptance::{Acceptance, SignedAcceptance};
use crate::bid::{Bid, SignedBid};
use crate::chain::{Account, Chain, Receipt, Rpc};
use crate::commitment::Opening;
use crate::contracts::{disputes, escrow, reputation, staking, token};
use crate::error::{ChainError, Result};
use crate::units::{self, format_tokens};
use crate::{Contract, Deployment};

/// A connected, signing session on a deployed network.
pub struct Session {
    /// The network.
    pub chain: Chain,
    /// Where the contracts are.
    pub deployment: Deployment,
    /// Who signs.
    pub account: Account,
    /// The nonce this session's next transaction takes, once known. It is counted here, not
    /// read from the chain each time, so several transactions can be in flight: the chain's
    /// nonce moves only as they land.
    next_nonce: tokio::sync::Mutex<Option<Felt>>,
}

/// A worker's standing on the staking contract and its reputation record.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStatus {
    /// The worker.
    pub address: Felt,
    /// Total stake (base units).
    pub stake: u128,
    /// Stake locked as job collateral.
    pub locked: u128,
    /// Stake waiting in unstake intents.
    pub pending_unstake: u128,
    /// Stake free to lock.
    pub free: u128,
    /// Whether it meets the minimum stake and may take jobs.
    pub active: bool,
    /// Registered capabilities.
    pub capabilities: Vec<String>,
    /// When the next intent can be withdrawn (unix seconds, 0 if none).
    pub next_unlock_at: u64,
    /// Its reputation record.
    pub reputation: reputation::ReputationRecord,
}

impl std::fmt::Display for WorkerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.reputation;
        writeln!(f, "worker        {:#x}", self.address)?;
        writeln!(f, "active        {}", self.active)?;
        writeln!(f, "stake         {} CIRO", format_tokens(self.stake))?;
        writeln!(f, "locked        {} CIRO", format_tokens(self.locked))?;
        writeln!(
            f,
            "unstaking     {} CIRO",
            format_tokens(self.pending_unstake)
        )?;
        writeln!(f, "free          {} CIRO", format_tokens(self.free))?;
        if self.next_unlock_at > 0 {
            writeln!(f, "next unlock   {} (unix)", self.next_unlock_at)?;
        }
        writeln!(f, "capabilities  {}", self.capabilities.join(", "))?;
        write!(
            f,
            "reputation    {} completed, {} failed, {} disputes won, {} lost, earned {} CIRO, slashed {} CIRO",
            r.jobs_completed,
            r.jobs_failed,
            r.disputes_won,
            r.disputes_lost,
            format_tokens(r.total_earned.low),
            format_tokens(r.total_slashed.low)
        )
    }
}

/// The terms of a new job.
#[derive(Debug, Clone)]
pub struct JobTerms {
    /// Hash of the job's specification (module, input, requirements).
    pub spec_hash: Felt,
    /// Reward in base units.
    pub reward: u128,
    /// Required capability.
    pub capability: Felt,
    /// Seconds from now until the result is due.
    pub deadline_in: u64,
    /// Seconds after submission in which the client may dispute.
    pub challenge_window: u64,
    /// Collateral the worker must lock, base units.
    pub collateral: u128,
}

/// Ids are 1-based and dense: an id outside `1..=count` was never created.
fn known_id(what: &str, id: u64, count: u64) -> Result<()> {
    if id == 0 || id > count {
        return Err(ChainError::Input(format!(
            "no {what} {id}: {what} ids run from 1 to {count}"
        )));
    }
    Ok(())
}

fn addr(felt: Felt) -> ContractAddress {
    ContractAddress(felt)
}

impl Session {
    /// A session of `account` on `chain`, where `deployment` is.
    pub fn new(chain: Chain, deployment: Deployment, account: Account) -> Self {
        Self {
            chain,
            deployment,
            account,
            next_nonce: tokio::sync::Mutex::new(None),
        }
    }

    /// The signer's address.
    pub fn me(&self) -> Felt {
        self.account.address()
    }

    fn at(&self, contract: Contract) -> Result<Felt> {
        self.deployment.address(contract)
    }

    fn token(&self) -> Result<token::CiroToken<&Account>> {
        Ok(token::CiroToken::new(
            self.at(Contract::CiroToken)?,
            &self.account,
        ))
    }

    fn staking(&self) -> Result<staking::Staking<&Account>> {
        Ok(staking::Staking::new(
            self.at(Contract::Staking)?,
            &self.account,
        ))
    }

    fn escrow(&self) -> Result<escrow::JobEscrow<&Account>> {
        Ok(escrow::JobEscrow::new(
            self.at(Contract::JobEscrow)?,
            &self.account,
        ))
    }

    fn view_error(&self, action: &str, e: impl std::fmt::Display + std::fmt::Debug) -> ChainError {
        self.chain.error(action, e)
    }

    /// Takes over every contract of the suite that names the signer as its next owner
    /// (ownership moves in two steps: `transfer_ownership`, then this). Returns the contracts
    /// taken over; none is an error that says who the current owners are.
    pub async fn accept_ownership(&self) -> Result<(Vec<Contract>, Receipt)> {
        let me = self.me();
        let mut taken = Vec::new();
        let mut calls = Vec::new();
        let mut owners = Vec::new();
        for contract in Contract::ALL {
            let at = self.at(contract)?;
            let reader = token::CiroTokenReader::new(at, self.chain.rpc());
            let pending = reader
                .pending_owner()
                .call()
                .await
                .map_err(|e| self.view_error(&format!("{contract}.pending_owner"), e))?;
            if pending.0 == me {
                taken.push(contract);
                calls.push(token::CiroToken::new(at, &self.account).accept_ownership_getcall());
            } else {
                let owner = reader
                    .owner()
                    .call()
                    .await
                    .map_err(|e| self.view_error(&format!("{contract}.owner"), e))?;
                owners.push(format!("{contract} is owned by {:#x}", owner.0));
            }
        }
        if calls.is_empty() {
            return Err(ChainError::Input(format!(
                "no contract names {me:#x} as its next owner ({})",
                owners.join(", ")
            )));
        }
        let receipt = self.send("accept_ownership", calls).await?;
        Ok((taken, receipt))
    }

    /// Sends `calls` as one transaction and waits for it.
    pub async fn send(&self, action: &str, calls: Vec<Call>) -> Result<Receipt> {
        let hash = self.submit(action, calls).await?;
        self.chain.wait(action, hash).await
    }

    /// Sends `calls` as one transaction and returns its hash without waiting for it to be
    /// included. Submissions queue here one at a time, each taking the next nonce this
    /// session counts (or the chain's, when someone else signing for the account moved it
    /// further), so any number of transactions can be in flight, each waited for on its own
    /// ([`Self::send`]). After any refusal the count starts again from the chain's.
    pub async fn submit(&self, action: &str, calls: Vec<Call>) -> Result<Felt> {
        use starknet::accounts::ConnectedAccount as _;
        let mut next = self.next_nonce.lock().await;
        let on_chain = self
            .account
            .get_nonce()
            .await
            .map_err(|e| self.chain.error(action, e))?;
        let nonce = next.map_or(on_chain, |counted| counted.max(on_chain));
        match self.account.execute_v3(calls).nonce(nonce).send().await {
            Ok(sent) => {
                *next = Some(nonce + Felt::ONE);
                Ok(sent.transaction_hash)
            }
            Err(e) => {
                *next = None;
                Err(self.chain.error(action, e))
            }
        }
    }

    /// The CIRO balance of `who`.
    pub async fn balance(&self, who: Felt) -> Result<u128> {
        let reader = token::CiroTokenReader::new(self.at(Contract::CiroToken)?, self.chain.rpc());
        let balance = reader
            .balance_of(&addr(who))
            .call()
            .await
            .map_err(|e| self.view_error("CiroToken.balance_of", e))?;
        units::from_u256(&balance)
    }

    /// The CIRO in existence and the most that can ever exist.
    pub async fn token_supply(&self) -> Result<(u128, u128)> {
        let reader = token::CiroTokenReader::new(self.at(Contract::CiroToken)?, self.chain.rpc());
        let supply = reader
            .total_supply()
            .call()
            .await
            .map_err(|e| self.view_error("CiroToken.total_supply", e))?;
        let cap = reader
            .cap()
            .call()
            .await
            .map_err(|e| self.view_error("CiroToken.cap", e))?;
        Ok((units::from_u256(&supply)?, units::from_u256(&cap)?))
    }

    /// The CIRO allowance `owner` gave `spender`.
    pub async fn allowance(&self, owner: Felt, spender: Felt) -> Result<u128> {
        let reader = token::CiroTokenReader::new(self.at(Contract::CiroToken)?, self.chain.rpc());
        let allowance = reader
            .allowance(&addr(owner), &addr(spender))
            .call()
            .await
            .map_err(|e| self.view_error("CiroToken.allowance", e))?;
        // Wallets often approve u256::MAX ("unlimited"): above u128 is enough for anything.
        Ok(if allowance.high != 0 {
            u128::MAX
        } else {
            allowance.low
        })
    }

    /// Fails with the shortfall when the signer holds less than `need`.
    async fn ensure_balance(&self, need: u128) -> Result<()> {
        let have = self.balance(self.me()).await?;
        if have < need {
            return Err(ChainError::Insufficient {
                what: "CIRO balance".into(),
                need: format!("{} CIRO", format_tokens(need)),
                have: format!("{} CIRO", format_tokens(have)),
                short: format!("{} CIRO", format_tokens(need - have)),
            });
        }
        Ok(())
    }

    /// Fails with the shortfall when the signer allowed `spender` less than `need`.
    async fn ensure_allowance(&self, spender: Felt, need: u128) -> Result<()> {
        let have = self.allowance(self.me(), spender).await?;
        if have < need {
            return Err(ChainError::Insufficient {
                what: format!("CIRO allowance for {spender:#x}"),
                need: format!("{} CIRO", format_tokens(need)),
                have: format!("{} CIRO", format_tokens(have)),
                short: format!("{} CIRO", format_tokens(need - have)),
            });
        }
        Ok(())
    }

    /// Prepends an approval of `amount` to `spender`, or checks the existing allowance.
    async fn with_approval(
        &self,
        spender: Felt,
        amount: u128,
        approve: bool,
        call: Call,
    ) -> Result<Vec<Call>> {
        self.ensure_balance(amount).await?;
        if approve {
            let approval = self
                .token()?
                .approve_getcall(&addr(spender), &units::u256(amount));
            Ok(vec![approval, call])
        } else {
            self.ensure_allowance(spender, amount).await?;
            Ok(vec![call])
        }
    }

    // --- token -------------------------------------------------------------------------

    /// Mints `amount` to `to` (the signer needs the MINTER role).
    pub async fn token_mint(&self, to: Felt, amount: u128) -> Result<Receipt> {
        let call = self.token()?.mint_getcall(&addr(to), &units::u256(amount));
        self.send("CiroToken.mint", vec![call]).await
    }

    /// Approves `spender` for `amount`.
    pub async fn token_approve(&self, spender: Felt, amount: u128) -> Result<Receipt> {
        let call = self
            .token()?
            .approve_getcall(&addr(spender), &units::u256(amount));
        self.send("CiroToken.approve", vec![call]).await
    }

    // --- worker ------------------------------------------------------------------------

    /// Stakes `amount` (approving the staking contract first unless `approve` is false).
    /// A worker that already has stake adds to it.
    pub async fn worker_stake(&self, amount: u128, approve: bool) -> Result<Receipt> {
        if amount == 0 {
            return Err(ChainError::Input("--amount must be positive".into()));
        }
        let staking_at = self.at(Contract::Staking)?;
        let current = self.worker_status(self.me()).await?.stake;
        let call = if current == 0 {
            self.staking()?.stake_getcall(&units::u256(amount))
        } else {
            self.staking()?.increase_stake_getcall(&units::u256(amount))
        };
        let calls = self
            .with_approval(staking_at, amount, approve, call)
            .await?;
        self.send("Staking.stake", calls).await
    }

    /// Registers the worker's capabilities (replacing the previous set).
    pub async fn worker_register(&self, capabilities: &[String]) -> Result<Receipt> {
        if capabilities.is_empty() {
            return Err(ChainError::Input("give at least one --capability".into()));
        }
        let felts = capabilities
            .iter()
            .map(|c| units::capability(c))
            .collect::<Result<Vec<_>>>()?;
        let call = self.staking()?.register_getcall(&felts);
        self.send("Staking.register", vec![call]).await
    }

    /// Starts the exit of `amount`; it can be withdrawn after the unstake window.
    pub async fn worker_unstake_intent(&self, amount: u128) -> Result<Receipt> {
        if amount == 0 {
            return Err(ChainError::Input("--amount must be positive".into()));
        }
        let call = self.staking()?.unstake_intent_getcall(&units::u256(amount));
        self.send("Staking.unstake_intent", vec![call]).await
    }

    /// Withdraws every intent whose window has passed; returns the amount received.
    pub async fn worker_unstake(&self) -> Result<(Receipt, u128)> {
        let before = self.balance(self.me()).await?;
        let call = self.staking()?.unstake_action_getcall();
        let receipt = self.send("Staking.unstake_action", vec![call]).await?;
        let after = self.balance(self.me()).await?;
        Ok((receipt, after.saturating_sub(before)))
    }

    /// A worker's stake, capabilities and reputation.
    pub async fn worker_status(&self, worker: Felt) -> Result<WorkerStatus> {
        let reader = staking::StakingReader::new(self.at(Contract::Staking)?, self.chain.rpc());
        let who = addr(worker);
        let v = |e| self.view_error("Staking view", e);
        let u = |value: U256| units::from_u256(&value);
        let stake = u(reader.stake_of(&who).call().await.map_err(v)?)?;
        let locked = u(reader.locked_of(&who).call().await.map_err(v)?)?;
        let pending_unstake = u(reader.pending_unstake_of(&who).call().await.map_err(v)?)?;
        let free = u(reader.free_stake_of(&who).call().await.map_err(v)?)?;
        let active = reader.is_active(&who).call().await.map_err(v)?;
        let capabilities = reader
            .capabilities_of(&who)
            .call()
            .await
            .map_err(v)?
            .into_iter()
            .map(units::capability_name)
            .collect();
        let next_unlock_at = reader.next_unlock_at(&who).call().await.map_err(v)?;
        let reputation =
            reputation::ReputationReader::new(self.at(Contract::Reputation)?, self.chain.rpc())
                .reputation_of(&who)
                .call()
                .await
                .map_err(|e| self.view_error("Reputation.reputation_of", e))?;
        Ok(WorkerStatus {
            address: worker,
            stake,
            locked,
            pending_unstake,
            free,
            active,
            capabilities,
            next_unlock_at,
            reputation,
        })
    }

    // --- job ---------------------------------------------------------------------------

    /// Creates a job, escrowing its reward; returns its id.
    pub async fn job_create(&self, terms: &JobTerms, approve: bool) -> Result<(u64, Receipt)> {
        let (ids, receipt) = self.job_create_many(terms, 1, approve).await?;
        Ok((ids[0], receipt))
    }

    /// Creates `count` identical jobs in one transaction, escrowing `count` rewards; returns
    /// their ids in order. A network job with redundancy k holds one escrow job per worker.
    pub async fn job_create_many(
        &self,
        terms: &JobTerms,
        count: u8,
        approve: bool,
    ) -> Result<(Vec<u64>, Receipt)> {
        if terms.reward == 0 {
            return Err(ChainError::Input("--reward must be positive".into()));
        }
        if terms.deadline_in == 0 || terms.challenge_window == 0 {
            return Err(ChainError::Input(
                "--deadline-in and --challenge-window must be positive".into(),
            ));
        }
        if count == 0 {
            return Err(ChainError::Input("create at least one job".into()));
        }
        let now = self.next_block_time().await?;
        let deadline = now.checked_add(terms.deadline_in).ok_or_else(|| {
            ChainError::Input(format!("--deadline-in {} is too far", terms.deadline_in))
        })?;
        let escrow = self.escrow()?;
        let call = escrow.create_job_getcall(
            &terms.spec_hash,
            &units::u256(terms.reward),
            &terms.capability,
            &deadline,
            &terms.challenge_window,
            &units::u256(terms.collateral),
        );
        let total = terms.reward.checked_mul(count as u128).ok_or_else(|| {
            ChainError::Input(format!("{count} rewards of {} overflow", terms.reward))
        })?;
        let escrow_at = self.at(Contract::JobEscrow)?;
        let mut calls = self.with_approval(escrow_at, total, approve, call).await?;
        let create = calls.last().cloned().expect("the create call is last");
        calls.extend(std::iter::repeat_n(create, count as usize - 1));
        let receipt = self.send("JobEscrow.create_job", calls).await?;
        let ids = self.created_job_ids(receipt.hash).await?;
        if ids.len() != count as usize {
            return Err(ChainError::Rpc {
                action: "JobEscrow.create_job".into(),
                detail: format!(
                    "transaction {:#x} created {} jobs, not {count}",
                    receipt.hash,
                    ids.len()
                ),
            });
        }
        Ok((ids, receipt))
    }

    /// The ids in the `JobCreated` events of transaction `hash`, decoded through the bindings.
    async fn created_job_ids(&self, hash: Felt) -> Result<Vec<u64>> {
        let escrow_at = self.at(Contract::JobEscrow)?;
        let found = self
            .chain
            .rpc()
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| self.chain.error("receipt of JobEscrow.create_job", e))?;
        Ok(found
            .receipt
            .events()
            .iter()
            .filter(|event| event.from_address == escrow_at)
            .filter_map(|event| match escrow::Event::try_from(event) {
                Ok(escrow::Event::JobCreated(created)) => Some(created.job_id),
                _ => None,
            })
            .collect())
    }

    /// The `ReputationUpdated` events of transaction `hash`; none for a transaction the
    /// chain does not know.
    pub async fn reputation_updates(
        &self,
        hash: Felt,
    ) -> Result<Vec<(u64, reputation::ReputationUpdated)>> {
        use starknet::core::types::{ReceiptBlock, StarknetError};
        use starknet::providers::ProviderError;
        let at = self.at(Contract::Reputation)?;
        let found = match self.chain.rpc().get_transaction_receipt(hash).await {
            Ok(found) => found,
            Err(ProviderError::StarknetError(StarknetError::TransactionHashNotFound)) => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(self.chain.error("get_transaction_receipt", e)),
        };
        let block = match found.block {
            ReceiptBlock::PreConfirmed { block_number }
            | ReceiptBlock::Block { block_number, .. } => block_number,
        };
        Ok(found
            .receipt
            .events()
            .iter()
            .filter(|event| event.from_address == at)
            .filter_map(|event| match reputation::Event::try_from(event) {
                Ok(reputation::Event::ReputationUpdated(update)) => Some((block, update)),
                _ => None,
            })
            .collect())
    }

    /// Cancels an open job and refunds its reward (the client signs).
    pub async fn job_cancel(&self, job_id: u64) -> Result<Receipt> {
        let call = self.escrow()?.cancel_getcall(&job_id);
        self.send("JobEscrow.cancel", vec![call]).await
    }

    /// The current block's timestamp, which deadlines are measured against.
    pub async fn chain_time(&self) -> Result<u64> {
        use starknet::core::types::{BlockId, BlockTag, MaybePreConfirmedBlockWithTxHashes};
        let block = self
            .chain
            .rpc()
            .get_block_with_tx_hashes(BlockId::Tag(BlockTag::Latest))
            .await
            .map_err(|e| self.chain.error("get_block", e))?;
        Ok(match block {
            MaybePreConfirmedBlockWithTxHashes::Block(b) => b.timestamp,
            MaybePreConfirmedBlockWithTxHashes::PreConfirmedBlock(b) => b.timestamp,
        })
    }

    /// The chain's clock as a transaction sent now sees it: the timestamp of the block it
    /// would execute in (the pre-confirmed block, or the latest where the node keeps none).
    /// This, not this machine's clock, is what `get_block_timestamp` answers a contract, so
    /// a deadline has passed for the contract only once this is past it. A chain that makes
    /// blocks only when transactions arrive (a devnet making a block per transaction) keeps
    /// this still while it is idle.
    pub async fn clock(&self) -> Result<u64> {
        use starknet::core::types::{BlockId, BlockTag, MaybePreConfirmedBlockWithTxHashes};
        let rpc = self.chain.rpc();
        let block = match rpc
            .get_block_with_tx_hashes(BlockId::Tag(BlockTag::PreConfirmed))
            .await
        {
            Ok(block) => block,
            Err(_) => rpc
                .get_block_with_tx_hashes(BlockId::Tag(BlockTag::Latest))
                .await
                .map_err(|e| self.chain.error("get_block", e))?,
        };
        Ok(match block {
            MaybePreConfirmedBlockWithTxHashes::Block(b) => b.timestamp,
            MaybePreConfirmedBlockWithTxHashes::PreConfirmedBlock(b) => b.timestamp,
        })
    }

    /// The time the next block will carry, as far as this side can tell: the later of the
    /// latest block's timestamp and this machine's clock. A chain that makes blocks only when
    /// transactions arrive (an idle devnet) leaves the latest block's time behind, and
    /// deadlines counted from it would fall short.
    pub async fn next_block_time(&self) -> Result<u64> {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(self.chain_time().await?.max(wall))
    }

    /// How many jobs the escrow holds (ids run from 1 to it).
    pub async fn job_count(&self) -> Result<u64> {
        self.escrow_reader()?
            .job_count()
            .call()
            .await
            .map_err(|e| self.view_error("JobEscrow.job_count", e))
    }

    /// A job as the escrow stores it.
    pub async fn job_status(&self, job_id: u64) -> Result<escrow::Job> {
        let reader = self.escrow_reader()?;
        known_id("job", job_id, self.job_count().await?)?;
        reader
            .job(&job_id)
            .call()
            .await
            .map_err(|e| self.view_error("JobEscrow.job", e))
    }

    /// Assigns the worker of `signed` to the job on its signed bid (the client signs the
    /// transaction; the escrow checks the bid with the worker's account).
    pub async fn job_assign(&self, job_id: u64, signed: &SignedBid) -> Result<Receipt> {
        let bid = escrow::Bid::from(signed.bid);
        let call =
            self.escrow()?
                .assign_getcall(&job_id, &addr(signed.worker), &bid, &signed.signature);
        self.send("JobEscrow.assign", vec![call]).await
    }

    /// This account's signature on `bid` to this deployment's escrow, with `key` (the
    /// account's own key: a worker consents to a job).
    pub fn sign_bid(&self, bid: Bid, key: &SigningKey) -> Result<SignedBid> {
        bid.sign(
            self.chain.chain_id(),
            self.at(Contract::JobEscrow)?,
            self.me(),
            key,
        )
    }

    /// Commits this account's result (the worker signs): the chain sees only
    /// `opening.commitment(me)`; the client gets the opening off chain.
    pub async fn job_submit(&self, job_id: u64, opening: &Opening) -> Result<Receipt> {
        let commitment = opening.commitment(self.me());
        let call = self.escrow()?.submit_result_getcall(&job_id, &commitment);
        self.send("JobEscrow.submit_result", vec![call]).await
    }

    /// Opens the job's commitment on chain (anyone holding the opening signs).
    pub async fn job_reveal(&self, job_id: u64, opening: &Opening) -> Result<Receipt> {
        let call = self.reveal_call(job_id, opening)?;
        self.send("JobEscrow.reveal", vec![call]).await
    }

    fn reveal_call(&self, job_id: u64, opening: &Opening) -> Result<Call> {
        Ok(self
            .escrow()?
            .reveal_getcall(&job_id, &opening.result_hash, &opening.salt))
    }

    /// Accepts the result and pays the worker (the client signs).
    pub async fn job_accept(&self, job_id: u64) -> Result<Receipt> {
        let call = self.escrow()?.accept_getcall(&job_id);
        self.send("JobEscrow.accept", vec![call]).await
    }

    /// Disputes the result (the client signs), approving the job's dispute bond in the same
    /// transaction; returns the dispute id. The bond goes to the worker if the client loses.
    pub async fn job_dispute(&self, job_id: u64, evidence_hash: Felt) -> Result<(u64, Receipt)> {
        let job = self.job_status(job_id).await?;
        let bond = units::from_u256(&job.dispute_bond)?;
        let call = self.escrow()?.dispute_getcall(&job_id, &evidence_hash);
        let calls = self
            .with_approval(self.at(Contract::JobEscrow)?, bond, bond > 0, call)
            .await?;
        let receipt = self.send("JobEscrow.dispute", calls).await?;
        let job = self.job_status(job_id).await?;
        Ok((job.dispute_id, receipt))
    }

    /// Pays the worker once the challenge window has passed (anyone signs). The result must
    /// be revealed: pass its `opening` to reveal it in the same transaction.
    pub async fn job_finalize(&self, job_id: u64, opening: Option<&Opening>) -> Result<Receipt> {
        let mut calls = Vec::new();
        if let Some(opening) = opening {
            calls.push(self.reveal_call(job_id, opening)?);
        }
        calls.push(self.escrow()?.finalize_getcall(&job_id));
        self.send("JobEscrow.finalize", calls).await
    }

    // --- batched settlement ------------------------------------------------------------

    fn escrow_reader(&self) -> Result<escrow::JobEscrowReader<&Arc<Rpc>>> {
        Ok(escrow::JobEscrowReader::new(
            self.at(Contract::JobEscrow)?,
            self.chain.rpc(),
        ))
    }

    /// Adds `amount` to this account's deposit, which pays the acceptances it signs
    /// (approving the escrow first unless `approve` is false).
    pub async fn deposit(&self, amount: u128, approve: bool) -> Result<Receipt> {
        if amount == 0 {
            return Err(ChainError::Input("the deposit must be positive".into()));
        }
        let call = self.escrow()?.deposit_getcall(&units::u256(amount));
        let calls = self
            .with_approval(self.at(Contract::JobEscrow)?, amount, approve, call)
            .await?;
        self.send("JobEscrow.deposit", calls).await
    }

    /// What `client` holds in its deposit, and its pending withdrawal (amount, unix seconds
    /// from which it can be withdrawn; zero if none).
    pub async fn deposit_of(&self, client: Felt) -> Result<(u128, u128, u64)> {
        let reader = self.escrow_reader()?;
        let held = reader
            .deposit_of(&addr(client))
            .call()
            .await
            .map_err(|e| self.view_error("JobEscrow.deposit_of", e))?;
        let pending = reader
            .withdrawal_of(&addr(client))
            .call()
            .await
            .map_err(|e| self.view_error("JobEscrow.withdrawal_of", e))?;
        Ok((
            units::from_u256(&held)?,
            units::from_u256(&pending.amount)?,
            pending.available_at,
        ))
    }

    /// Asks to withdraw `amount` from this account's deposit; it can be withdrawn a day later.
    pub async fn request_withdrawal(&self, amount: u128) -> Result<Receipt> {
        let (held, _, _) = self.deposit_of(self.me()).await?;
        if amount == 0 || amount > held {
            return Err(ChainError::Input(format!(
                "the withdrawal must be between 1 and the deposit, {} CIRO",
                format_tokens(held)
            )));
        }
        let call = self
            .escrow()?
            .request_withdrawal_getcall(&units::u256(amount));
        self.send("JobEscrow.request_withdrawal", vec![call]).await
    }

    /// Withdraws the requested amount (or what is left of the deposit) once its delay passed.
    pub async fn withdraw(&self) -> Result<Receipt> {
        let call = self.escrow()?.withdraw_getcall();
        self.send("JobEscrow.withdraw", vec![call]).await
    }

    /// The protocol fee an acceptance must carry now (the lowest the escrow takes).
    pub async fn fee_floor_bps(&self) -> Result<u16> {
        self.escrow_reader()?
            .fee_floor_bps()
            .call()
            .await
            .map_err(|e| self.view_error("JobEscrow.fee_floor_bps", e))
    }

    /// The protocol fee jobs are agreed under now.
    pub async fn fee_bps(&self) -> Result<u16> {
        self.escrow_reader()?
            .fee_bps()
            .call()
            .await
            .map_err(|e| self.view_error("JobEscrow.fee_bps", e))
    }

    /// Whether `client`'s acceptance with `nonce` was settled.
    pub async fn is_acceptance_used(&self, client: Felt, nonce: Felt) -> Result<bool> {
        self.escrow_reader()?
            .is_acceptance_used(&addr(client), &nonce)
            .call()
            .await
            .map_err(|e| self.view_error("JobEscrow.is_acceptance_used", e))
    }

    /// The transaction whose `JobSettled` paid `client`'s acceptance `nonce` to `worker`,
    /// searched from block `from_block` on; `None` when no such event is on chain yet.
    pub async fn settlement_tx(
        &self,
        client: Felt,
        worker: Felt,
        nonce: Felt,
        from_block: u64,
    ) -> Result<Option<Felt>> {
        use starknet::core::types::{BlockId, BlockTag, EventFilter};
        let filter = EventFilter {
            from_block: Some(BlockId::Number(from_block)),
            // A batch just sent sits in the pre-confirmed block until it closes.
            to_block: Some(BlockId::Tag(BlockTag::PreConfirmed)),
            address: Some(self.at(Contract::JobEscrow)?),
            keys: Some(vec![
                vec![starknet::core::utils::get_selector_from_name("JobSettled")
                    .expect("a valid name")],
                vec![client],
                vec![worker],
            ]),
        };
        let mut token = None;
        loop {
            let page = self
                .chain
                .rpc()
                .get_events(filter.clone(), token, 1000)
                .await
                .map_err(|e| self.chain.error("starknet_getEvents (JobSettled)", e))?;
            // The first field after the keys is the nonce.
            if let Some(event) = page.events.iter().find(|e| e.data.first() == Some(&nonce)) {
                return Ok(Some(event.transaction_hash));
            }
            match page.continuation_token {
                Some(next) => token = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// This account's signature on `acceptance` to this deployment's escrow, with `key` (the
    /// account's own key: a client accepts a result and pays it from its deposit).
    pub fn sign_acceptance(
        &self,
        acceptance: Acceptance,
        key: &SigningKey,
    ) -> Result<SignedAcceptance> {
        acceptance.sign(
            self.chain.chain_id(),
            self.at(Contract::JobEscrow)?,
            self.me(),
            key,
        )
    }

    /// The call that settles `batch` (for fee estimates and multicalls).
    pub fn settle_batch_call(&self, batch: &[SignedAcceptance]) -> Result<Call> {
        let settlements: Vec<escrow::Settlement> = batch.iter().map(Into::into).collect();
        Ok(self.escrow()?.settle_batch_getcall(&settlements))
    }

    /// Pays every acceptance of `batch` from its client's deposit in one transaction (anyone
    /// signs: the acceptances carry the clients' signatures). Entries grouped by worker cost
    /// least.
    pub async fn settle_batch(&self, batch: &[SignedAcceptance]) -> Result<Receipt> {
        if batch.is_empty() {
            return Err(ChainError::Input(
                "a batch needs at least one acceptance".into(),
            ));
        }
        let call = self.settle_batch_call(batch)?;
        self.send("JobEscrow.settle_batch", vec![call]).await
    }

    // --- dispute -----------------------------------------------------------------------

    fn disputes(&self) -> Result<disputes::Disputes<&Account>> {
        Ok(disputes::Disputes::new(
            self.at(Contract::Disputes)?,
            &self.account,
        ))
    }

    /// A dispute as the disputes contract stores it.
    pub async fn dispute_status(&self, dispute_id: u64) -> Result<disputes::Dispute> {
        let reader = disputes::DisputesReader::new(self.at(Contract::Disputes)?, self.chain.rpc());
        let count = reader
            .dispute_count()
            .call()
            .await
            .map_err(|e| self.view_error("Disputes.dispute_count", e))?;
        known_id("dispute", dispute_id, count)?;
        reader
            .dispute(&dispute_id)
            .call()
            .await
            .map_err(|e| self.view_error("Disputes.dispute", e))
    }

    /// Votes on a dispute (an arbitrator signs); `worker_right` is the ruling.
    pub async fn dispute_vote(&self, dispute_id: u64, worker_right: bool) -> Result<Receipt> {
        let ruling = if worker_right {
            disputes::Ruling::WorkerRight
        } else {
            disputes::Ruling::ClientRight
        };
        let call = self.disputes()?.vote_getcall(&dispute_id, &ruling);
        self.send("Disputes.vote", vec![call]).await
    }

    /// Resolves by the votes cast after the voting period: more votes win; a tie or none
    /// pays the worker if its result was revealed, and refunds the client if not (anyone
    /// signs).
    pub async fn dispute_resolve_timeout(&self, dispute_id: u64) -> Result<Receipt> {
        let call = self.disputes()?.resolve_timeout_getcall(&dispute_id);
        self.send("Disputes.resolve_timeout", vec![call]).await
    }

    /// Refunds the client and slashes the worker after a missed deadline.
    pub async fn job_timeout(&self, job_id: u64) -> Result<Receipt> {
        let call = self.escrow()?.claim_timeout_getcall(&job_id);
        self.send("JobEscrow.claim_timeout", vec![call]).await
    }
}

/// A dispute as text.
pub fn describe_dispute(dispute_id: u64, dispute: &disputes::Dispute) -> String {
    format!(
        "dispute       {dispute_id}\nstatus        {:?}\nruling        {}\njob           {}\nclient        {:#x}\nworker        {:#x}\ncollateral    {} CIRO\nevidence      {:#x}\nopened at     {} (unix)\nvotes         {} for the worker, {} for the client",
        dispute.status,
        match dispute.status {
            disputes::DisputeStatus::Resolved => format!("{:?}", dispute.ruling),
            _ => "-".to_owned(),
        },
        dispute.job_id,
        dispute.client.0,
        dispute.worker.0,
        format_tokens(dispute.collateral.low),
        dispute.evidence_hash,
        dispute.opened_at,
        dispute.votes_worker,
        dispute.votes_client,
    )
}

/// A job as text.
pub fn describe_job(job_id: u64, job: &escrow::Job) -> String {
    format!(
        "job           {job_id}\nstate         {:?}\nclient        {:#x}\nworker        {:#x}\ncapability    {}\nreward        {} CIRO\ncollateral    {} CIRO\ndeadline      {} (unix)\nchallenge     {} s\ncommitment    {:#x}\nresult hash   {}\nsubmitted at  {}\ndispute       {}\nterms         fee {} bps, timeout slash {} bps, dispute bond {} CIRO",
        job.state,
        job.client.0,
        job.worker.0,
        units::capability_name(job.capability),
        format_tokens(job.reward.low),
        format_tokens(job.collateral.low),
        job.deadline,
        job.challenge_window,
        job.commitment,
        if job.result_hash == Felt::ZERO {
            "not revealed".to_owned()
        } else {
            format!("{:#x}", job.result_hash)
        },
        job.submitted_at,
        job.dispute_id,
        job.fee_bps,
        job.timeout_slash_bps,
        format_tokens(job.dispute_bond.low),
    )
}
