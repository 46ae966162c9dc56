//! Deploys and wires the whole suite, idempotently.
//!
//! The plan is a fixed list of steps: declare the five classes, deploy the five contracts
//! through the UDC, then wire them (escrow ↔ disputes, roles, arbitrators), hand the
//! governance roles to the accounts the settings name, end the setup on every contract
//! (the wiring roles are fixed from then on) and start the ownership transfer.
//! Before each step the chain is asked whether it is already done:
//! - a class is declared when `starknet_getClass` finds it;
//! - a contract is deployed when its address, which is deterministic (deployer, salt, class
//!   hash and constructor arguments), holds its class;
//! - a wiring step is done when the matching view says so (`has_role`, `disputes()`, ...).
//!
//! So an interrupted deploy resumes where it stopped, and a complete one sends nothing. The
//! manifest is saved after every step.

use std::collections::BTreeMap;
use std::path::Path;

use cainome::cairo_serde::{ByteArray, CairoSerde, ContractAddress};
use starknet::accounts::{Account as _, ConnectedAccount as _};
use starknet::contract::{ContractFactory, UdcSelector};
use starknet::core::types::{Call, Felt};
use starknet::core::utils::{cairo_short_string_to_felt, starknet_keccak};

use crate::artifacts::{artifact, Contract};
use crate::chain::{Account, Chain, Receipt};
use crate::contracts::{disputes, escrow, staking, token};
use crate::deployment::{DeployConfig, DeployedContract, Deployment, WiringRecord};
use crate::error::{ChainError, Result};
use crate::units;

/// Role names, as the contracts define them (`contracts/src/types.cairo`).
pub mod roles {
    /// May mint CIRO.
    pub const MINTER: &str = "MINTER";
    /// May slash stakes.
    pub const SLASHER: &str = "SLASHER";
    /// May lock and unlock collateral.
    pub const ESCROW: &str = "ESCROW";
    /// May write reputation records.
    pub const REPUTATION_WRITER: &str = "REPUTATION_WRITER";
    /// May announce, cancel and execute timelocked upgrades.
    pub const UPGRADE_GOVERNOR: &str = "UPGRADE_GOVERNOR";
    /// May pause.
    pub const SECURITY_AGENT: &str = "SECURITY_AGENT";
    /// May unpause.
    pub const SECURITY_ADMIN: &str = "SECURITY_ADMIN";
    /// May set parameters.
    pub const OPERATOR: &str = "OPERATOR";
}

/// A progress report, for a progress bar or a log.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The plan has `total` steps.
    Planned {
        /// Number of steps.
        total: usize,
    },
    /// A step started.
    Started {
        /// Its label.
        label: String,
    },
    /// A step was found done on chain; nothing was sent.
    Skipped {
        /// Its label.
        label: String,
    },
    /// A step's transaction was included.
    Sent {
        /// Its label.
        label: String,
        /// Its receipt.
        receipt: Receipt,
    },
    /// Dry run: the estimated fee of a step, or why it cannot be estimated yet.
    Estimated {
        /// Its label.
        label: String,
        /// Estimated fee in FRI (STRK base units), if it could be estimated.
        fee: std::result::Result<u128, String>,
    },
}

/// What a deploy did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The manifest as saved.
    pub deployment: Deployment,
    /// Transactions sent, in order, with their receipts.
    pub sent: Vec<(String, Receipt)>,
    /// Dry run only: each pending step with its estimated fee.
    pub estimates: Vec<(String, std::result::Result<u128, String>)>,
    /// On a devnet, why the settings build a one-person dispute court (which any other
    /// network refuses), to say out loud.
    pub devnet_only: Option<String>,
}

impl Report {
    /// Dry run: records a step's estimated fee and reports it.
    fn estimated(
        &mut self,
        label: String,
        fee: std::result::Result<u128, String>,
        progress: &mut impl FnMut(Progress),
    ) {
        progress(Progress::Estimated {
            label: label.clone(),
            fee: fee.clone(),
        });
        self.estimates.push((label, fee));
    }

    /// Records a sent step's receipt and reports it.
    fn record_sent(
        &mut self,
        label: String,
        receipt: Receipt,
        progress: &mut impl FnMut(Progress),
    ) {
        progress(Progress::Sent {
            label: label.clone(),
            receipt,
        });
        self.sent.push((label, receipt));
    }
}

/// A deploy of the suite to one network.
pub struct Deploy<'a> {
    /// The network.
    pub chain: &'a Chain,
    /// The paying account; it owns the contracts until the last step.
    pub account: &'a Account,
    /// The network name written in the manifest.
    pub network: String,
    /// The settings; `None` reuses the manifest's, or the defaults for a new deployment.
    pub config: Option<DeployConfig>,
    /// Only estimate; send nothing and write nothing.
    pub dry_run: bool,
}

/// A planned contract: its address and constructor.
struct Planned {
    contract: Contract,
    salt: Felt,
    calldata: Vec<Felt>,
    address: Felt,
}

impl Deploy<'_> {
    /// Runs the plan; `manifest` is read to resume and written after every step.
    pub async fn run(self, manifest: &Path, mut progress: impl FnMut(Progress)) -> Result<Report> {
        let chain = self.chain;
        let deployer = self.account.address();
        let existing = match Deployment::load(manifest, &self.network) {
            Ok(found) => Some(found),
            Err(ChainError::MissingManifest { .. }) => None,
            Err(other) => return Err(other),
        };
        if let Some(found) = &existing {
            if found.chain_id != chain.chain_id() {
                return Err(ChainError::WrongChain {
                    path: manifest.to_owned(),
                    expected: found.chain_name.clone(),
                    url: crate::chain::redact(chain.url()),
                    actual: chain.chain_name(),
                });
            }
            if found.deployer != deployer {
                return Err(ChainError::Input(format!(
                    "{} was deployed by {:#x}; resume with that account, or pass another --manifest",
                    manifest.display(),
                    found.deployer
                )));
            }
        }
        let config = match (&self.config, &existing) {
            (Some(given), Some(found)) if *given != found.config => {
                return Err(ChainError::Input(format!(
                    "{} was deployed with other settings; pass the same settings to resume, or another --manifest for a new suite",
                    manifest.display()
                )))
            }
            (Some(given), _) => given.clone(),
            (None, Some(found)) => found.config.clone(),
            (None, None) => DeployConfig::default(),
        };
        config.validate()?;
        let devnet_only = config.one_person_court(deployer);
        if let Some(why) = &devnet_only {
            if !chain.is_devnet().await {
                return Err(ChainError::Input(format!(
                    "refusing to deploy a one-person dispute court on {}: {why}. Name independent arbitrators (`arbitrators`, `--arbitrator`) and a quorum they must reach without the owner; only a devnet accepts this, for local testing",
                    chain.chain_name()
                )));
            }
        }

        let mut deployment = existing.unwrap_or_else(|| Deployment {
            network: self.network.clone(),
            chain_id: chain.chain_id(),
            chain_name: chain.chain_name(),
            deployer,
            config: config.clone(),
            contracts: BTreeMap::new(),
            wiring: Vec::new(),
            complete: false,
        });
        deployment.config = config.clone();
        let plan = plan(self.account, deployer, &config)?;
        for planned in &plan {
            if let Some(recorded) = deployment.contracts.get(planned.contract.name()) {
                let class_hash = artifact(planned.contract).class_hash;
                if recorded.class_hash != class_hash || recorded.address != planned.address {
                    return Err(ChainError::Input(format!(
                        "{} records {} with class {:#x} at {:#x}, but these artifacts give class {class_hash:#x} at {:#x}: \
                         deploying would start a second suite beside the first. Pass another --manifest \
                         (and a new `salt`) for a new suite; a live suite changes code through `ciro contracts upgrade`",
                        manifest.display(),
                        planned.contract,
                        recorded.class_hash,
                        recorded.address,
                        planned.address
                    )));
                }
            }
        }
        let wiring = wiring(self.account, deployer, &config, &plan);
        progress(Progress::Planned {
            total: plan.len() * 2 + wiring.len(),
        });

        let mut report = Report {
            deployment: deployment.clone(),
            sent: Vec::new(),
            estimates: Vec::new(),
            devnet_only,
        };

        // 1. Declare.
        let mut declare_txs: BTreeMap<Contract, Option<Felt>> = BTreeMap::new();
        for planned in &plan {
            let art = artifact(planned.contract);
            let label = format!("declare {}", planned.contract);
            progress(Progress::Started {
                label: label.clone(),
            });
            if chain.is_declared(art.class_hash).await? {
                let known = deployment
                    .contracts
                    .get(planned.contract.name())
                    .and_then(|c| c.declare_tx);
                declare_txs.insert(planned.contract, known);
                progress(Progress::Skipped { label });
                continue;
            }
            let declaration = self
                .account
                .declare_v3(art.class.clone(), art.compiled_class_hash);
            if self.dry_run {
                let fee = declaration
                    .estimate_fee()
                    .await
                    .map(|estimate| estimate.overall_fee)
                    .map_err(|e| chain.error(&label, e).to_string());
                report.estimated(label, fee, &mut progress);
                continue;
            }
            let sent = declaration
                .send()
                .await
                .map_err(|e| chain.error(&label, e))?;
            let receipt = chain.wait(&label, sent.transaction_hash).await?;
            declare_txs.insert(planned.contract, Some(sent.transaction_hash));
            report.record_sent(label, receipt, &mut progress);
        }

        // 2. Deploy.
        for planned in &plan {
            let art = artifact(planned.contract);
            let label = format!("deploy {}", planned.contract);
            progress(Progress::Started {
                label: label.clone(),
            });
            let declare_tx = declare_txs.get(&planned.contract).copied().flatten();
            match chain.class_hash_at(planned.address).await? {
                Some(found) if found == art.class_hash => {
                    let entry = deployment
                        .contracts
                        .entry(planned.contract.name().to_owned())
                        .or_insert(DeployedContract {
                            class_hash: art.class_hash,
                            declare_tx,
                            address: planned.address,
                            deploy_tx: None,
                            block: 0,
                        });
                    entry.address = planned.address;
                    entry.class_hash = art.class_hash;
                    progress(Progress::Skipped { label });
                    continue;
                }
                Some(other) => {
                    return Err(ChainError::Input(format!(
                        "{}'s address {:#x} already holds class {other:#x}, not {:#x}; change `salt` in the settings",
                        planned.contract, planned.address, art.class_hash
                    )))
                }
                None => {}
            }
            let factory =
                ContractFactory::new_with_udc(art.class_hash, self.account, UdcSelector::New);
            let deployment_tx = factory.deploy_v3(planned.calldata.clone(), planned.salt, true);
            debug_assert_eq!(deployment_tx.deployed_address(), planned.address);
            if self.dry_run {
                let fee = deployment_tx
                    .estimate_fee()
                    .await
                    .map(|estimate| estimate.overall_fee)
                    .map_err(|e| {
                        if declare_txs.contains_key(&planned.contract) {
                            chain.error(&label, e).to_string()
                        } else {
                            "estimated once its class is declared".to_owned()
                        }
                    });
                report.estimated(label, fee, &mut progress);
                continue;
            }
            let sent = deployment_tx
                .send()
                .await
                .map_err(|e| chain.error(&label, e))?;
            let receipt = chain.wait(&label, sent.transaction_hash).await?;
            deployment.contracts.insert(
                planned.contract.name().to_owned(),
                DeployedContract {
                    class_hash: art.class_hash,
                    declare_tx,
                    address: planned.address,
                    deploy_tx: Some(sent.transaction_hash),
                    block: receipt.block,
                },
            );
            deployment.save(manifest)?;
            report.record_sent(label, receipt, &mut progress);
        }
        if !self.dry_run {
            deployment.save(manifest)?;
        }

        // 3. Wire.
        let deployed = plan
            .iter()
            .all(|p| deployment.contracts.contains_key(p.contract.name()));
        for step in &wiring {
            progress(Progress::Started {
                label: step.label.clone(),
            });
            let done = if deployed || !self.dry_run {
                (step.done)(self.account).await?
            } else {
                false
            };
            if done {
                if !deployment.wiring.iter().any(|w| w.step == step.label) {
                    deployment.wiring.push(WiringRecord {
                        step: step.label.clone(),
                        tx: None,
                        block: None,
                    });
                }
                progress(Progress::Skipped {
                    label: step.label.clone(),
                });
                continue;
            }
            let execution = self.account.execute_v3(vec![step.call.clone()]);
            if self.dry_run {
                let fee = if deployed {
                    execution
                        .estimate_fee()
                        .await
                        .map(|estimate| estimate.overall_fee)
                        .map_err(|e| chain.error(&step.label, e).to_string())
                } else {
                    Err("estimated once the contracts are deployed".to_owned())
                };
                report.estimated(step.label.clone(), fee, &mut progress);
                continue;
            }
            let sent = execution
                .send()
                .await
                .map_err(|e| chain.error(&step.label, e))?;
            let receipt = chain.wait(&step.label, sent.transaction_hash).await?;
            deployment.wiring.retain(|w| w.step != step.label);
            deployment.wiring.push(WiringRecord {
                step: step.label.clone(),
                tx: Some(sent.transaction_hash),
                block: Some(receipt.block),
            });
            deployment.save(manifest)?;
            report.record_sent(step.label.clone(), receipt, &mut progress);
        }

        if !self.dry_run {
            deployment.complete = true;
            deployment.save(manifest)?;
        }
        report.deployment = deployment;
        Ok(report)
    }
}

fn address(felt: Felt) -> ContractAddress {
    ContractAddress(felt)
}

/// The deterministic salt of `contract` in a suite with `salt`.
fn salt_of(contract: Contract, salt: u64) -> Felt {
    starknet_keccak(format!("ciro/{}/{salt}", contract.name()).as_bytes())
}

/// The five contracts with their constructors and addresses, in deployment order.
fn plan(account: &Account, deployer: Felt, config: &DeployConfig) -> Result<Vec<Planned>> {
    let treasury = config.treasury.unwrap_or(deployer);
    let min_stake = units::parse_tokens(&config.min_stake)?;
    let dispute_bond = units::parse_tokens(&config.dispute_bond)?;
    let supply_cap = units::parse_tokens(&config.supply_cap)?;
    let owner = deployer; // the deployer owns everything until the last wiring step
    let mut planned: Vec<Planned> = Vec::new();
    let mut address_of = BTreeMap::new();
    for contract in Contract::ALL {
        let at = |c: Contract| -> Felt { *address_of.get(&c).expect("deployed in order") };
        let mut calldata = Vec::new();
        match contract {
            Contract::CiroToken => {
                let name = ByteArray::from_string(&config.token_name)
                    .map_err(|e| ChainError::Input(format!("token_name: {e}")))?;
                let symbol = ByteArray::from_string(&config.token_symbol)
                    .map_err(|e| ChainError::Input(format!("token_symbol: {e}")))?;
                calldata.extend(ByteArray::cairo_serialize(&name));
                calldata.extend(ByteArray::cairo_serialize(&symbol));
                calldata.push(owner);
                calldata.extend(cainome::cairo_serde::U256::cairo_serialize(&units::u256(
                    supply_cap,
                )));
            }
            Contract::Staking => {
                calldata.push(owner);
                calldata.push(at(Contract::CiroToken));
                calldata.extend(cainome::cairo_serde::U256::cairo_serialize(&units::u256(
                    min_stake,
                )));
                calldata.push(Felt::from(config.unstake_window_secs));
            }
            Contract::Reputation => calldata.push(owner),
            Contract::JobEscrow => {
                calldata.extend([
                    owner,
                    at(Contract::CiroToken),
                    at(Contract::Staking),
                    at(Contract::Reputation),
                    treasury,
                    Felt::from(config.fee_bps),
                    Felt::from(config.timeout_slash_bps),
                ]);
                calldata.extend(cainome::cairo_serde::U256::cairo_serialize(&units::u256(
                    dispute_bond,
                )));
            }
            Contract::Disputes => {
                calldata.extend([
                    owner,
                    at(Contract::JobEscrow),
                    at(Contract::Staking),
                    at(Contract::Reputation),
                    treasury,
                    Felt::from(config.quorum),
                    Felt::from(config.voting_period_secs),
                ]);
            }
        }
        let salt = salt_of(contract, config.salt);
        let factory =
            ContractFactory::new_with_udc(artifact(contract).class_hash, account, UdcSelector::New);
        let address = factory
            .deploy_v3(calldata.clone(), salt, true)
            .deployed_address();
        address_of.insert(contract, address);
        planned.push(Planned {
            contract,
            salt,
            calldata,
            address,
        });
    }
    Ok(planned)
}

type DoneCheck = Box<
    dyn for<'a> Fn(
            &'a Account,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool>> + Send + 'a>>
        + Send
        + Sync,
>;

struct WiringStep {
    label: String,
    call: Call,
    done: DoneCheck,
}

fn role(name: &str) -> Felt {
    cairo_short_string_to_felt(name).expect("role names are short strings")
}

/// The wiring calls, each with the view that tells whether it is done.
fn wiring(
    account: &Account,
    deployer: Felt,
    config: &DeployConfig,
    plan: &[Planned],
) -> Vec<WiringStep> {
    let at = |c: Contract| {
        plan.iter()
            .find(|p| p.contract == c)
            .expect("every contract is planned")
            .address
    };
    let (token_at, staking_at, reputation_at, escrow_at, disputes_at) = (
        at(Contract::CiroToken),
        at(Contract::Staking),
        at(Contract::Reputation),
        at(Contract::JobEscrow),
        at(Contract::Disputes),
    );
    let mut steps = Vec::new();

    let escrow_contract = escrow::JobEscrow::new(escrow_at, account);
    steps.push(WiringStep {
        label: "JobEscrow.set_disputes(Disputes)".into(),
        call: escrow_contract.set_disputes_getcall(&address(disputes_at)),
        done: Box::new(move |account| {
            Box::pin(async move {
                let reader = escrow::JobEscrowReader::new(escrow_at, account.provider());
                let current = reader
                    .disputes()
                    .call()
                    .await
                    .map_err(|e| ChainError::from_error("JobEscrow.disputes", "", &e))?;
                Ok(current.0 == disputes_at)
            })
        }),
    });

    let grants: [(Contract, Felt, &str, Contract, Felt); 5] = [
        (
            Contract::Staking,
            staking_at,
            roles::ESCROW,
            Contract::JobEscrow,
            escrow_at,
        ),
        (
            Contract::Staking,
            staking_at,
            roles::SLASHER,
            Contract::JobEscrow,
            escrow_at,
        ),
        (
            Contract::Staking,
            staking_at,
            roles::SLASHER,
            Contract::Disputes,
            disputes_at,
        ),
        (
            Contract::Reputation,
            reputation_at,
            roles::REPUTATION_WRITER,
            Contract::JobEscrow,
            escrow_at,
        ),
        (
            Contract::Reputation,
            reputation_at,
            roles::REPUTATION_WRITER,
            Contract::Disputes,
            disputes_at,
        ),
    ];
    for (target, target_at, role_name, grantee, grantee_at) in grants {
        steps.push(grant_step(
            account,
            (target, target_at),
            role_name,
            (grantee_at, grantee.to_string()),
        ));
    }

    let arbitrators = if config.arbitrators.is_empty() {
        // The final owner, not the deploying key, arbitrates by default.
        vec![config.owner.unwrap_or(deployer)]
    } else {
        config.arbitrators.clone()
    };
    for arbitrator in arbitrators {
        steps.push(WiringStep {
            label: format!("Disputes.add_arbitrator({arbitrator:#x})"),
            call: disputes::Disputes::new(disputes_at, account)
                .add_arbitrator_getcall(&address(arbitrator)),
            done: Box::new(move |account| {
                Box::pin(async move {
                    disputes::DisputesReader::new(disputes_at, account.provider())
                        .is_arbitrator(&address(arbitrator))
                        .call()
                        .await
                        .map_err(|e| ChainError::from_error("Disputes.is_arbitrator", "", &e))
                })
            }),
        });
    }

    let contracts = [
        (Contract::CiroToken, token_at),
        (Contract::Staking, staking_at),
        (Contract::Reputation, reputation_at),
        (Contract::JobEscrow, escrow_at),
        (Contract::Disputes, disputes_at),
    ];
    // The constructors gave the deployer every governance role; the holders the settings
    // name take them over.
    let holders = config.roles.resolved(config.owner.unwrap_or(deployer));
    let handed: Vec<_> = holders
        .iter()
        .filter(|(_, holder)| *holder != deployer)
        .collect();
    for (contract, at) in contracts {
        for (role_name, holder) in &handed {
            let holder = (*holder, format!("{holder:#x}"));
            steps.push(grant_step(account, (contract, at), role_name, holder));
        }
    }
    // The wiring above is final: no key can grant itself SLASHER, ESCROW or
    // REPUTATION_WRITER, nor rewire the court, without a timelocked upgrade.
    for (contract, at) in contracts {
        steps.push(WiringStep {
            label: format!("{contract}.end_setup()"),
            call: token::CiroToken::new(at, account).end_setup_getcall(),
            done: Box::new(move |account| {
                Box::pin(async move {
                    let open = token::CiroTokenReader::new(at, account.provider())
                        .is_setup_open()
                        .call()
                        .await
                        .map_err(|e| {
                            ChainError::from_error(format!("{contract}.is_setup_open"), "", &e)
                        })?;
                    Ok(!open)
                })
            }),
        });
    }
    for (contract, at) in contracts {
        for (role_name, _) in &handed {
            steps.push(revoke_step(account, (contract, at), role_name, deployer));
        }
    }

    if let Some(owner) = config.owner.filter(|&owner| owner != deployer) {
        // The token's constructor made the deployer a minter; the owner takes that over.
        let token = (Contract::CiroToken, token_at);
        steps.push(grant_step(
            account,
            token,
            roles::MINTER,
            (owner, format!("{owner:#x}")),
        ));
        steps.push(revoke_step(account, token, roles::MINTER, deployer));
        // Ownership moves in two steps: the deploy names the owner, which then takes each
        // contract over with `accept_ownership` (`ciro contracts accept-ownership`).
        for (contract, at) in contracts {
            steps.push(WiringStep {
                label: format!("{contract}.transfer_ownership({owner:#x})"),
                call: token::CiroToken::new(at, account)
                    .transfer_ownership_getcall(&address(owner)),
                done: Box::new(move |account| {
                    Box::pin(async move {
                        let reader = token::CiroTokenReader::new(at, account.provider());
                        let current = reader
                            .owner()
                            .call()
                            .await
                            .map_err(|e| ChainError::from_error("owner", "", &e))?;
                        let pending = reader
                            .pending_owner()
                            .call()
                            .await
                            .map_err(|e| ChainError::from_error("pending_owner", "", &e))?;
                        Ok(current.0 == owner || pending.0 == owner)
                    })
                }),
            });
        }
    }
    steps
}

/// Grants `role_name` on `target` to `holder` (its address and how the label names it);
/// done once it holds the role. The admin component has the same selectors on every
/// contract, so the token's binding calls them all.
fn grant_step(
    account: &Account,
    (target, at): (Contract, Felt),
    role_name: &str,
    (holder, named): (Felt, String),
) -> WiringStep {
    let role_felt = role(role_name);
    WiringStep {
        label: format!("{target}.grant_role({role_name}, {named})"),
        call: token::CiroToken::new(at, account).grant_role_getcall(&role_felt, &address(holder)),
        done: has_role_check(target, at, role_felt, holder),
    }
}

/// Revokes `role_name` on `target` from `holder`; done once it no longer holds the role.
fn revoke_step(
    account: &Account,
    (target, at): (Contract, Felt),
    role_name: &str,
    holder: Felt,
) -> WiringStep {
    let role_felt = role(role_name);
    let check = has_role_check(target, at, role_felt, holder);
    WiringStep {
        label: format!("{target}.revoke_role({role_name}, {holder:#x})"),
        call: token::CiroToken::new(at, account).revoke_role_getcall(&role_felt, &address(holder)),
        done: Box::new(move |account| {
            let still = check(account);
            Box::pin(async move { Ok(!still.await?) })
        }),
    }
}

/// `has_role` has the same selector and arguments on every contract (the admin component),
/// so one reader serves them all.
fn has_role_check(target: Contract, at: Felt, role_felt: Felt, grantee: Felt) -> DoneCheck {
    Box::new(move |account| {
        Box::pin(async move {
            staking::StakingReader::new(at, account.provider())
                .has_role(&role_felt, &address(grantee))
                .call()
                .await
                .map_err(|e| ChainError::from_error(format!("{target}.has_role"), "", &e))
        })
    })
}
