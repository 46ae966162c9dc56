//! Which network a command talks to, with which account, and where its manifest is.
//!
//! - `--network devnet` is `http://127.0.0.1:5050/rpc` (what `ciro devnet` serves);
//!   `--network sepolia` needs `--rpc-url`; any `http(s)://` URL is a
//!   network of its own, named after its host and port.
//! - The manifest is `deployments/<network>.json` unless `--manifest` says otherwise.
//! - The signing account is, in this order: a starkli keystore and account file; a private
//!   key read from the environment variable that `--private-key-env` names, with
//!   `--address`; on devnet only, predeployed account `--devnet-account` (0 by default).
//!   A key is never printed or logged.
//!
//! Only flags choose the endpoint and the signer: environment variables that other tools
//! export (`STARKNET_RPC_URL`, `STARKNET_ACCOUNT`, ...) could otherwise turn a devnet
//! command into a paid transaction on a public network. Devnet's chain id is `SN_SEPOLIA`,
//! so the chain-id check alone would not catch that.

use std::path::{Path, PathBuf};

use ciro_bindings::chain::{Account, Chain};
use ciro_bindings::error::{ChainError, Result};
use ciro_bindings::units::parse_felt;
use ciro_bindings::Deployment;
use serde::Deserialize;
use starknet::core::types::Felt;
use starknet::signers::SigningKey;
use url::Url;

/// The RPC of a local `ciro devnet`.
pub const LOCAL_DEVNET_RPC: &str = "http://127.0.0.1:5050/rpc";

/// Where and as whom a command runs.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NetworkArgs {
    /// `devnet`, `sepolia`, or an RPC URL.
    #[arg(long, global = true, env = "CIRO_NETWORK", default_value = "devnet")]
    pub network: String,
    /// RPC URL; overrides the network's default (required for sepolia).
    #[arg(long, global = true, value_name = "URL")]
    pub rpc_url: Option<Url>,
    /// Deployment manifest [default: deployments/<network>.json].
    #[arg(long, global = true, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// starkli account file (JSON); its address is the signer.
    #[arg(long, global = true, value_name = "FILE")]
    pub account: Option<PathBuf>,
    /// starkli keystore with the account's key; its password comes from
    /// STARKNET_KEYSTORE_PASSWORD or a prompt.
    #[arg(long, global = true, value_name = "FILE")]
    pub keystore: Option<PathBuf>,
    /// Name of an environment variable holding the private key (hex).
    #[arg(long, global = true, value_name = "VAR")]
    pub private_key_env: Option<String>,
    /// Account address, with --private-key-env.
    #[arg(long = "address", global = true, value_name = "ADDRESS")]
    pub signer_address: Option<String>,
    /// On devnet, sign with this predeployed account.
    #[arg(long, global = true, value_name = "N")]
    pub devnet_account: Option<usize>,
}

/// A resolved network.
#[derive(Debug, Clone)]
pub struct Network {
    /// Its name, used for the manifest file.
    pub name: String,
    /// Its RPC endpoint.
    pub url: Url,
}

impl NetworkArgs {
    /// Resolves the network name and URL.
    pub fn network(&self) -> Result<Network> {
        let name = self.network.trim();
        if name.starts_with("http://") || name.starts_with("https://") {
            let url = Url::parse(name)
                .map_err(|e| ChainError::Input(format!("--network {name:?}: {e}")))?;
            let host = url.host_str().unwrap_or("rpc").replace(['.', ':'], "-");
            let port = url.port_or_known_default().unwrap_or(0);
            return Ok(Network {
                name: format!("{host}-{port}"),
                url: self.rpc_url.clone().unwrap_or(url),
            });
        }
        let url = match (name, &self.rpc_url) {
            (_, Some(url)) => url.clone(),
            ("devnet", None) => Url::parse(LOCAL_DEVNET_RPC).expect("a valid URL"),
            ("sepolia" | "mainnet", None) => {
                return Err(ChainError::Input(format!(
                    "--network {name} needs an RPC endpoint: pass --rpc-url (a JSON-RPC 0.9 URL, e.g. .../rpc/v0_9)"
                )))
            }
            (other, None) => {
                return Err(ChainError::Input(format!(
                    "unknown network {other:?}: use devnet, sepolia, or an http(s):// RPC URL"
                )))
            }
        };
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ChainError::Input(format!(
                "network name {name:?}: use letters, digits, - and _"
            )));
        }
        Ok(Network {
            name: name.to_owned(),
            url,
        })
    }

    /// The manifest path for `network`.
    pub fn manifest_path(&self, root: &Path, network: &Network) -> PathBuf {
        self.manifest
            .clone()
            .unwrap_or_else(|| Deployment::default_path(root, &network.name))
    }

    /// Connects, loads the complete manifest and checks that it belongs to this chain.
    pub async fn connect_deployed(&self, root: &Path) -> Result<(Chain, Deployment)> {
        let network = self.network()?;
        let path = self.manifest_path(root, &network);
        // The manifest is checked first: it is the cheaper, local error.
        let deployment = Deployment::load_complete(&path, &network.name)?;
        let chain = Chain::connect(&network.url).await?;
        deployment.check_chain(&chain, &path)?;
        Ok((chain, deployment))
    }

    /// A signing session on the deployed suite: [`Self::connect_deployed`] plus
    /// [`Self::signer`].
    pub async fn session(&self, root: &Path) -> Result<ciro_bindings::ops::Session> {
        let (chain, deployment) = self.connect_deployed(root).await?;
        let account = self.signer(&chain).await?;
        Ok(ciro_bindings::ops::Session::new(chain, deployment, account))
    }

    /// The signing account.
    pub async fn signer(&self, chain: &Chain) -> Result<Account> {
        let (address, key) = self.signing_key(chain).await?;
        Ok(chain.account(address, key))
    }

    /// The signing account's address and key (a node keeps them to sign as it runs).
    pub async fn signing_key(&self, chain: &Chain) -> Result<(Felt, SigningKey)> {
        let network = self.network()?;
        if let Some(index) = self.devnet_account {
            let (address, key) = devnet_account(chain, index).await?;
            return Ok((address, SigningKey::from_secret_scalar(key)));
        }
        if let Some(keystore) = &self.keystore {
            let account_file = self.account.as_ref().ok_or_else(|| {
                ChainError::Account("--keystore needs --account (the starkli account file)".into())
            })?;
            let address = starkli_account_address(account_file)?;
            let password = match std::env::var("STARKNET_KEYSTORE_PASSWORD") {
                Ok(password) => password,
                Err(_) => rpassword::prompt_password(format!(
                    "password for keystore {}: ",
                    keystore.display()
                ))
                .map_err(|e| ChainError::Account(format!("reading the password: {e}")))?,
            };
            let key = SigningKey::from_keystore(keystore, &password).map_err(|e| {
                ChainError::Account(format!("keystore {}: {e}", keystore.display()))
            })?;
            return Ok((address, key));
        }
        if let Some(var) = &self.private_key_env {
            let text = std::env::var(var).map_err(|_| {
                ChainError::Account(format!(
                    "--private-key-env {var}: the environment variable {var} is not set"
                ))
            })?;
            let secret = Felt::from_hex(text.trim()).map_err(|_| {
                // The value itself is never echoed.
                ChainError::Account(format!("{var} does not hold a 0x-prefixed hex key"))
            })?;
            let address = match (&self.signer_address, &self.account) {
                (Some(address), _) => parse_felt("--address", address)?,
                (None, Some(file)) => starkli_account_address(file)?,
                (None, None) => return Err(ChainError::Account(
                    "--private-key-env needs --address (or --account) to know which account signs"
                        .into(),
                )),
            };
            return Ok((address, SigningKey::from_secret_scalar(secret)));
        }
        if network.name == "devnet" {
            let (address, key) = devnet_account(chain, 0).await?;
            return Ok((address, SigningKey::from_secret_scalar(key)));
        }
        Err(ChainError::Account(
            "no signing account: pass --account and --keystore, or --private-key-env and --address"
                .into(),
        ))
    }
}

#[derive(Deserialize)]
struct StarkliAccount {
    deployment: StarkliDeployment,
}

#[derive(Deserialize)]
struct StarkliDeployment {
    address: Option<Felt>,
    status: Option<String>,
}

/// The address in a starkli account file (`{"deployment": {"address": "0x…"}}`).
pub fn starkli_account_address(path: &Path) -> Result<Felt> {
    let text = std::fs::read_to_string(path).map_err(|source| ChainError::Io {
        path: path.to_owned(),
        source,
    })?;
    let account: StarkliAccount = serde_json::from_str(&text).map_err(|e| {
        ChainError::Account(format!(
            "{}: not a starkli account file: {e}",
            path.display()
        ))
    })?;
    match (
        account.deployment.address,
        account.deployment.status.as_deref(),
    ) {
        (Some(address), Some("deployed") | None) => Ok(address),
        (_, Some(status)) => Err(ChainError::Account(format!(
            "{}: the account is {status}, not deployed",
            path.display()
        ))),
        (None, _) => Err(ChainError::Account(format!(
            "{}: no deployment.address",
            path.display()
        ))),
    }
}

/// Predeployed account `index` of the devnet behind `chain`, from `devnet_getPredeployedAccounts`.
pub async fn devnet_account(chain: &Chain, index: usize) -> Result<(Felt, Felt)> {
    let accounts = chain.devnet_accounts().await?.ok_or_else(|| {
        ChainError::Account(format!(
            "{} is not a devnet (no devnet_getPredeployedAccounts); pass an account",
            ciro_bindings::chain::redact(chain.url())
        ))
    })?;
    let count = accounts.len();
    accounts.into_iter().nth(index).ok_or_else(|| {
        ChainError::Account(format!(
            "--devnet-account {index}: the devnet has {count} predeployed accounts"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(network: &str) -> NetworkArgs {
        NetworkArgs {
            network: network.into(),
            ..NetworkArgs::default()
        }
    }

    #[test]
    fn networks_resolve_to_names_and_urls() {
        let devnet = args("devnet").network().unwrap();
        assert_eq!(devnet.url.as_str(), LOCAL_DEVNET_RPC);
        let custom = args("http://10.0.0.5:9545/rpc").network().unwrap();
        assert_eq!(custom.name, "10-0-0-5-9545");
        let sepolia = args("sepolia").network().unwrap_err().to_string();
        assert!(sepolia.contains("--rpc-url"), "{sepolia}");
        let unknown = args("mars").network().unwrap_err().to_string();
        assert!(unknown.contains("unknown network"), "{unknown}");
    }

    #[test]
    fn starkli_account_files_give_their_address() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("account.json");
        std::fs::write(
            &file,
            r#"{"version":1,"variant":{"type":"open_zeppelin","version":1,"public_key":"0x1"},
               "deployment":{"status":"deployed","class_hash":"0x2","address":"0x1234"}}"#,
        )
        .unwrap();
        assert_eq!(
            starkli_account_address(&file).unwrap(),
            Felt::from(0x1234u32)
        );
        std::fs::write(
            &file,
            r#"{"deployment":{"status":"undeployed","class_hash":"0x2","address":"0x1234"}}"#,
        )
        .unwrap();
        let error = starkli_account_address(&file).unwrap_err().to_string();
        assert!(error.contains("undeployed"), "{error}");
    }
}
