//! `deployments/<network>.json`: where the suite lives on a network, and how it got there.
//!
//! `ciro contracts deploy` writes it after every step, so an interrupted deploy resumes from
//! it; every other command reads it to find the contracts and checks its chain id against
//! the RPC before sending anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use starknet::core::types::Felt;

use crate::artifacts::Contract;
use crate::deploy::roles;
use crate::error::{ChainError, Result};

/// The highest protocol fee the escrow accepts, in basis points (its `MAX_FEE_BPS`).
pub const MAX_FEE_BPS: u16 = 1_000;

/// The longest unstake window and voting period the contracts accept: 30 days.
pub const MAX_PERIOD_SECS: u64 = 30 * 24 * 3600;

/// The settings the constructors and the wiring take. Every field has a documented default;
/// a TOML file (`--config`) or flags override them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeployConfig {
    /// Token name. Default `CIRO`.
    pub token_name: String,
    /// Token symbol. Default `CIRO`.
    pub token_symbol: String,
    /// The most tokens that can ever exist, fixed at deployment: minting stops there.
    /// Default `1000000000` (one billion).
    pub supply_cap: String,
    /// Owner of every contract. Default: the deploying account.
    pub owner: Option<Felt>,
    /// Receives protocol fees and every slash. Default: the deployer.
    pub treasury: Option<Felt>,
    /// Minimum stake for a worker to be active, in tokens. Default `100`.
    pub min_stake: String,
    /// Seconds between an unstake intent and its withdrawal, at most 30 days. Default 7 days.
    pub unstake_window_secs: u64,
    /// Protocol fee on each paid reward, in basis points, at most 1000. Default 250 (2.5 %).
    pub fee_bps: u16,
    /// Share of the collateral slashed to the treasury on a timeout, in basis points.
    /// Default 1000 (10 %).
    pub timeout_slash_bps: u16,
    /// What a client pays to dispute a result, in tokens: paid to the worker if the client
    /// loses, returned if it wins. Default `10`.
    pub dispute_bond: String,
    /// Votes that decide a dispute. Default 1.
    pub quorum: u32,
    /// Seconds arbitrators have to vote, at most 30 days. Default 3 days.
    pub voting_period_secs: u64,
    /// Arbitrator accounts. Default: the owner alone.
    pub arbitrators: Vec<Felt>,
    /// Mixed into every deployment salt, to deploy a second, separate suite from the same
    /// account. Default 0.
    pub salt: u64,
    /// Who holds each governance role on every contract. Default: the owner, for each.
    pub roles: RoleHolders,
}

/// The accounts that hold the governance roles, each `None` for the owner. The owner itself
/// is the governance admin: it grants and revokes these roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleHolders {
    /// Announces, cancels and executes upgrades, which wait the upgrade delay.
    pub upgrade_governor: Option<Felt>,
    /// Pauses new business (never exits or settlements).
    pub security_agent: Option<Felt>,
    /// Unpauses.
    pub security_admin: Option<Felt>,
    /// Sets parameters (fees, bonds, minimum stake, windows, quorum), within the contracts'
    /// bounds; every change applies to jobs and disputes that start afterwards.
    pub operator: Option<Felt>,
}

impl RoleHolders {
    /// Each role's on-chain name with its holder, `owner` standing in for an unset one.
    pub fn resolved(&self, owner: Felt) -> [(&'static str, Felt); 4] {
        [
            (
                roles::UPGRADE_GOVERNOR,
                self.upgrade_governor.unwrap_or(owner),
            ),
            (roles::SECURITY_AGENT, self.security_agent.unwrap_or(owner)),
            (roles::SECURITY_ADMIN, self.security_admin.unwrap_or(owner)),
            (roles::OPERATOR, self.operator.unwrap_or(owner)),
        ]
    }
}

impl Default for DeployConfig {
    fn default() -> Self {
        Self {
            token_name: "CIRO".into(),
            token_symbol: "CIRO".into(),
            supply_cap: "1000000000".into(),
            owner: None,
            treasury: None,
            min_stake: "100".into(),
            unstake_window_secs: 7 * 24 * 3600,
            fee_bps: 250,
            timeout_slash_bps: 1000,
            dispute_bond: "10".into(),
            quorum: 1,
            voting_period_secs: 3 * 24 * 3600,
            arbitrators: Vec::new(),
            salt: 0,
            roles: RoleHolders::default(),
        }
    }
}

impl DeployConfig {
    /// Reads a TOML file; unknown keys are an error, so a typo never passes silently.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ChainError::Io {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ChainError::Input(format!("{}: {e}", path.display())))
    }

    /// Checks the ranges the constructors enforce, before any fee is paid.
    pub fn validate(&self) -> Result<()> {
        let bps = |name: &str, value: u16| {
            if value > 10_000 {
                Err(ChainError::Input(format!(
                    "{name} = {value}: basis points are at most 10000"
                )))
            } else {
                Ok(())
            }
        };
        bps("timeout_slash_bps", self.timeout_slash_bps)?;
        if self.fee_bps > MAX_FEE_BPS {
            return Err(ChainError::Input(format!(
                "fee_bps = {}: the escrow caps the protocol fee at {MAX_FEE_BPS} (10 %)",
                self.fee_bps
            )));
        }
        if self.quorum == 0 {
            return Err(ChainError::Input("quorum must be at least 1".into()));
        }
        let period = |name: &str, value: u64| {
            if value == 0 || value > MAX_PERIOD_SECS {
                Err(ChainError::Input(format!(
                    "{name} = {value}: it must be between 1 and {MAX_PERIOD_SECS} seconds (30 days)"
                )))
            } else {
                Ok(())
            }
        };
        period("voting_period_secs", self.voting_period_secs)?;
        period("unstake_window_secs", self.unstake_window_secs)?;
        crate::units::parse_tokens(&self.min_stake)?;
        crate::units::parse_tokens(&self.dispute_bond)?;
        if crate::units::parse_tokens(&self.supply_cap)? == 0 {
            return Err(ChainError::Input(
                "supply_cap = 0: no token could ever be minted".into(),
            ));
        }
        let zero = |name: &str, value: Option<Felt>| {
            if value == Some(Felt::ZERO) {
                Err(ChainError::Input(format!("{name} is the zero address")))
            } else {
                Ok(())
            }
        };
        zero("owner", self.owner)?;
        zero("treasury", self.treasury)?;
        zero("roles.upgrade_governor", self.roles.upgrade_governor)?;
        zero("roles.security_agent", self.roles.security_agent)?;
        zero("roles.security_admin", self.roles.security_admin)?;
        zero("roles.operator", self.roles.operator)?;
        for arbitrator in &self.arbitrators {
            zero("an arbitrator", Some(*arbitrator))?;
        }
        let arbitrators = self.arbitrators.len().max(1);
        if self.quorum as usize > arbitrators {
            return Err(ChainError::Input(format!(
                "quorum {} is more than the {arbitrators} arbitrator(s): no dispute could ever be decided by vote",
                self.quorum
            )));
        }
        if self.token_symbol.is_empty() || self.token_name.is_empty() {
            return Err(ChainError::Input(
                "token_name and token_symbol must not be empty".into(),
            ));
        }
        Ok(())
    }

    /// Why the dispute court these settings build is one person's, or `None` when it is
    /// not. One person's court is one whose every arbitrator is the owner or the treasury
    /// (`deployer` stands for an unset owner or treasury, and an empty arbitrator list
    /// means the owner alone), or a quorum of 1 with the owner among the arbitrators:
    /// whoever holds that key decides every dispute, and the treasury it may hold gains
    /// from every slash. `Deploy` refuses such settings on any network but a devnet.
    pub fn one_person_court(&self, deployer: Felt) -> Option<String> {
        let owner = self.owner.unwrap_or(deployer);
        let treasury = self.treasury.unwrap_or(deployer);
        let arbitrators = if self.arbitrators.is_empty() {
            vec![owner]
        } else {
            self.arbitrators.clone()
        };
        if arbitrators.iter().all(|a| *a == owner || *a == treasury) {
            let who = if owner == treasury {
                format!("the owner and treasury {owner:#x}")
            } else {
                format!("the owner {owner:#x} or the treasury {treasury:#x}")
            };
            return Some(format!(
                "every arbitrator is {who}: one key would decide every dispute, and the slashes go to the treasury"
            ));
        }
        if self.quorum == 1 && arbitrators.contains(&owner) {
            return Some(format!(
                "the quorum is 1 and the owner {owner:#x} is an arbitrator: its one vote decides any dispute"
            ));
        }
        None
    }
}

/// One contract's record in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedContract {
    /// Its class hash.
    pub class_hash: Felt,
    /// The declare transaction, or `None` when the class was already declared.
    pub declare_tx: Option<Felt>,
    /// Its address.
    pub address: Felt,
    /// The deploy transaction, or `None` when it was found already deployed.
    pub deploy_tx: Option<Felt>,
    /// The block of the deploy transaction (0 when found already deployed).
    pub block: u64,
}

/// One wiring transaction (a role grant, a setter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WiringRecord {
    /// What it does, e.g. `Staking.grant_role(SLASHER, Disputes)`.
    pub step: String,
    /// The transaction, or `None` when the chain already had it.
    pub tx: Option<Felt>,
    /// Its block.
    pub block: Option<u64>,
}

/// `deployments/<network>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The network name (`devnet`, `sepolia`, or one derived from a URL).
    pub network: String,
    /// The chain id, hex.
    pub chain_id: Felt,
    /// The chain id as text, e.g. `SN_SEPOLIA`.
    pub chain_name: String,
    /// The account that deployed.
    pub deployer: Felt,
    /// The settings used.
    pub config: DeployConfig,
    /// The contracts, by name.
    pub contracts: BTreeMap<String, DeployedContract>,
    /// The wiring transactions, in order.
    pub wiring: Vec<WiringRecord>,
    /// True once every step has been done.
    pub complete: bool,
}

impl Deployment {
    /// The default manifest path for `network` under `root`.
    pub fn default_path(root: &Path, network: &str) -> PathBuf {
        root.join("deployments").join(format!("{network}.json"))
    }

    /// Loads a manifest; a missing file is [`ChainError::MissingManifest`].
    pub fn load(path: &Path, network: &str) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ChainError::MissingManifest {
                    path: path.to_owned(),
                    network: network.to_owned(),
                })
            }
            Err(source) => {
                return Err(ChainError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        serde_json::from_str(&text).map_err(|e| ChainError::BadManifest {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    }

    /// Loads a manifest that must be complete, as every user command needs.
    pub fn load_complete(path: &Path, network: &str) -> Result<Self> {
        let deployment = Self::load(path, network)?;
        if !deployment.complete {
            return Err(ChainError::BadManifest {
                path: path.to_owned(),
                detail:
                    "the deployment is incomplete; run `ciro contracts deploy` again to finish it"
                        .into(),
            });
        }
        Ok(deployment)
    }

    /// Writes the manifest atomically (a temporary file, then a rename), so an interrupted
    /// write never leaves half a file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| ChainError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_string_pretty(self).expect("a manifest serializes");
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text + "\n").map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Checks that `chain` serves the chain this manifest (read from `path`) was deployed on.
    pub fn check_chain(&self, chain: &crate::Chain, path: &Path) -> Result<()> {
        if chain.chain_id() != self.chain_id {
            return Err(ChainError::WrongChain {
                path: path.to_owned(),
                expected: self.chain_name.clone(),
                url: crate::chain::redact(chain.url()),
                actual: chain.chain_name(),
            });
        }
        Ok(())
    }

    /// The address of `contract`, or a clear error if the manifest lacks it.
    pub fn address(&self, contract: Contract) -> Result<Felt> {
        self.contracts
            .get(contract.name())
            .map(|c| c.address)
            .ok_or_else(|| ChainError::BadManifest {
                path: PathBuf::from(format!("deployments/{}.json", self.network)),
                detail: format!("no address for {contract}"),
            })
    }

    /// The lowest deployment block, where an indexer starts.
    pub fn first_block(&self) -> u64 {
        self.contracts
            .values()
            .map(|c| c.block)
            .filter(|&b| b > 0)
            .min()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_are_valid_and_toml_overrides_them() {
        DeployConfig::default().validate().unwrap();
        let config: DeployConfig = toml::from_str("fee_bps = 100\nmin_stake = \"5.5\"").unwrap();
        assert_eq!(config.fee_bps, 100);
        assert_eq!(config.quorum, 1, "unset keys keep their defaults");
        config.validate().unwrap();
    }

    #[test]
    fn a_one_person_court_is_named() {
        let (deployer, a, b, c) = (
            Felt::from(1u8),
            Felt::from(2u8),
            Felt::from(3u8),
            Felt::from(4u8),
        );
        // The defaults: the deployer is owner, treasury and the only arbitrator.
        let why = DeployConfig::default().one_person_court(deployer).unwrap();
        assert!(why.contains("owner and treasury"), "{why}");
        // Arbitrators who are only the owner and the treasury.
        let config = DeployConfig {
            treasury: Some(a),
            arbitrators: vec![deployer, a],
            quorum: 2,
            ..DeployConfig::default()
        };
        assert!(config.one_person_court(deployer).is_some());
        // The owner among others, but deciding alone with a quorum of 1.
        let config = DeployConfig {
            arbitrators: vec![deployer, b, c],
            quorum: 1,
            ..DeployConfig::default()
        };
        let why = config.one_person_court(deployer).unwrap();
        assert!(why.contains("quorum is 1"), "{why}");
        // Independent arbitrators: fine, with any quorum.
        for quorum in [1, 2] {
            let config = DeployConfig {
                treasury: Some(a),
                arbitrators: vec![b, c],
                quorum,
                ..DeployConfig::default()
            };
            assert_eq!(config.one_person_court(deployer), None, "quorum {quorum}");
        }
        // The owner with independent arbitrators and a quorum of 2 cannot decide alone.
        let config = DeployConfig {
            arbitrators: vec![deployer, b, c],
            quorum: 2,
            ..DeployConfig::default()
        };
        assert_eq!(config.one_person_court(deployer), None);
    }

    #[test]
    fn config_typos_and_bad_ranges_are_refused() {
        let typo = toml::from_str::<DeployConfig>("fee_bsp = 1").unwrap_err();
        assert!(typo.to_string().contains("fee_bsp"), "{typo}");
        let bad = DeployConfig {
            fee_bps: 10_001,
            ..DeployConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("fee_bps"));
        let bad = DeployConfig {
            fee_bps: MAX_FEE_BPS + 1,
            ..DeployConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("caps"));
        let bad = DeployConfig {
            voting_period_secs: MAX_PERIOD_SECS + 1,
            ..DeployConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("voting_period_secs"));
        let bad = DeployConfig {
            dispute_bond: "ten".into(),
            ..DeployConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = DeployConfig {
            supply_cap: "0".into(),
            ..DeployConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("supply_cap"));
        // The client's share of slashes is gone; a config that still sets it is refused.
        let old = toml::from_str::<DeployConfig>("client_share_bps = 5000").unwrap_err();
        assert!(old.to_string().contains("client_share_bps"), "{old}");
        let bad = DeployConfig {
            quorum: 0,
            ..DeployConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("quorum"));
        let bad = DeployConfig {
            quorum: 2,
            ..DeployConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("more than the 1"));
        let bad = DeployConfig {
            treasury: Some(Felt::ZERO),
            ..DeployConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("treasury is the zero"));
    }

    #[test]
    fn a_missing_manifest_says_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let error = Deployment::load(&dir.path().join("nope.json"), "devnet").unwrap_err();
        assert!(matches!(error, ChainError::MissingManifest { .. }));
        assert!(error
            .to_string()
            .contains("ciro contracts deploy --network devnet"));
    }

    #[test]
    fn a_manifest_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deployments/devnet.json");
        let mut contracts = BTreeMap::new();
        contracts.insert(
            "Staking".to_owned(),
            DeployedContract {
                class_hash: Felt::from(1u8),
                declare_tx: Some(Felt::from(2u8)),
                address: Felt::from(3u8),
                deploy_tx: None,
                block: 7,
            },
        );
        let deployment = Deployment {
            network: "devnet".into(),
            chain_id: Felt::from(9u8),
            chain_name: "SN_SEPOLIA".into(),
            deployer: Felt::from(4u8),
            config: DeployConfig::default(),
            contracts,
            wiring: vec![],
            complete: false,
        };
        deployment.save(&path).unwrap();
        assert_eq!(Deployment::load(&path, "devnet").unwrap(), deployment);
        let incomplete = Deployment::load_complete(&path, "devnet").unwrap_err();
        assert!(
            incomplete.to_string().contains("incomplete"),
            "{incomplete}"
        );
        assert_eq!(deployment.first_block(), 7);
    }
}
