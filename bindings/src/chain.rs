//! A connection to a network: the RPC client, the signing account, receipts and fees.

use std::sync::Arc;
use std::time::{Duration, Instant};

use starknet::accounts::{ExecutionEncoding, SingleOwnerAccount};
use starknet::core::types::{
    BlockId, BlockTag, ExecutionResult, Felt, ReceiptBlock, StarknetError, TransactionReceipt,
};
use starknet::core::utils::parse_cairo_short_string;
use starknet::providers::jsonrpc::HttpTransport;
use starknet::providers::{JsonRpcClient, Provider, ProviderError};
use starknet::signers::{LocalWallet, SigningKey};
use url::Url;

use crate::error::{ChainError, Result};

/// The RPC client every crate uses.
pub type Rpc = JsonRpcClient<HttpTransport>;
/// A signing account on [`Rpc`].
pub type Account = SingleOwnerAccount<Arc<Rpc>, LocalWallet>;

/// How long one RPC request may take before it fails. Generous: a debug-built devnet on a
/// loaded 2-core machine takes tens of seconds to declare a large class.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// An HTTP client with [`REQUEST_TIMEOUT`], so a node that accepts a connection and never
/// answers cannot hang a command.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("a client with a timeout builds")
}

/// `url` without its path, query or credentials, for messages: provider URLs often carry an
/// API key (`https://host/v2/<key>`).
pub fn redact(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = url.path().trim_end_matches('/');
    let plain = path.is_empty()
        || path == "/rpc"
        || path
            .strip_prefix("/rpc/v0_")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()));
    let shown = if plain && url.query().is_none() && url.username().is_empty() {
        path
    } else {
        "/…"
    };
    format!("{}://{host}{port}{shown}", url.scheme())
}

/// How long [`Chain::wait`] waits for a receipt.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// A network reached over JSON-RPC.
#[derive(Debug, Clone)]
pub struct Chain {
    rpc: Arc<Rpc>,
    url: Url,
    chain_id: Felt,
}

/// What a mined transaction cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction.
    pub hash: Felt,
    /// Its block.
    pub block: u64,
    /// The fee paid, in the fee token's base units (FRI for STRK).
    pub fee: u128,
    /// L2 gas used.
    pub l2_gas: u64,
    /// L1 gas used.
    pub l1_gas: u64,
    /// L1 data gas used.
    pub l1_data_gas: u64,
}

impl Chain {
    /// Connects to `url` and reads its chain id; an endpoint that does not answer is
    /// [`ChainError::Unreachable`].
    pub async fn connect(url: &Url) -> Result<Self> {
        let transport = HttpTransport::new_with_client(url.clone(), http_client());
        let rpc = Arc::new(JsonRpcClient::new(transport));
        let chain_id = rpc.chain_id().await.map_err(|e| ChainError::Unreachable {
            url: redact(url),
            detail: e.to_string(),
        })?;
        Ok(Self {
            rpc,
            url: url.clone(),
            chain_id,
        })
    }

    /// The RPC client.
    pub fn rpc(&self) -> &Arc<Rpc> {
        &self.rpc
    }

    /// The endpoint. Print it with [`redact`].
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The chain id.
    pub fn chain_id(&self) -> Felt {
        self.chain_id
    }

    /// The predeployed accounts, as `(address, private key)`, when the endpoint is a
    /// starknet-devnet (`devnet_getPredeployedAccounts`, which no public network serves);
    /// `None` when it answers without them.
    pub async fn devnet_accounts(&self) -> Result<Option<Vec<(Felt, Felt)>>> {
        #[derive(serde::Deserialize)]
        struct Predeployed {
            address: Felt,
            private_key: Felt,
        }
        const METHOD: &str = "devnet_getPredeployedAccounts";
        let body = serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": METHOD, "params": {} });
        let response = http_client()
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| ChainError::Unreachable {
                url: redact(&self.url),
                detail: e.to_string(),
            })?;
        let rpc = |e: serde_json::Error| ChainError::Rpc {
            action: METHOD.into(),
            detail: e.to_string(),
        };
        let value: serde_json::Value = response.json().await.map_err(|e| ChainError::Rpc {
            action: METHOD.into(),
            detail: e.to_string(),
        })?;
        // A JSON-RPC error (method not found) is the answer of anything but a devnet.
        let Some(result) = value.get("result").cloned() else {
            return Ok(None);
        };
        let accounts: Vec<Predeployed> = serde_json::from_value(result).map_err(rpc)?;
        Ok(Some(
            accounts
                .into_iter()
                .map(|a| (a.address, a.private_key))
                .collect(),
        ))
    }

    /// Whether the endpoint is a starknet-devnet (see [`Chain::devnet_accounts`]). A
    /// devnet's chain id is often `SN_SEPOLIA`, so the id cannot tell. Anything but a
    /// devnet's answer, an unreachable RPC included, is `false`.
    pub async fn is_devnet(&self) -> bool {
        matches!(self.devnet_accounts().await, Ok(Some(_)))
    }

    /// The chain id as text (`SN_SEPOLIA`), or hex.
    pub fn chain_name(&self) -> String {
        parse_cairo_short_string(&self.chain_id).unwrap_or_else(|_| format!("{:#x}", self.chain_id))
    }

    /// An account at `address` signing with `key`, using the pre-confirmed block for nonces
    /// so back-to-back transactions do not race.
    pub fn account(&self, address: Felt, key: SigningKey) -> Account {
        let mut account = SingleOwnerAccount::new(
            self.rpc.clone(),
            LocalWallet::from_signing_key(key),
            address,
            self.chain_id,
            ExecutionEncoding::New,
        );
        account.set_block_id(BlockId::Tag(BlockTag::PreConfirmed));
        account
    }

    /// Turns a provider or cainome error raised during `action` into a [`ChainError`].
    pub fn error<E: std::fmt::Display + std::fmt::Debug>(
        &self,
        action: impl Into<String>,
        error: E,
    ) -> ChainError {
        ChainError::from_error(action, &redact(&self.url), &error)
    }

    /// The class hash at `address`, or `None` if nothing is deployed there.
    pub async fn class_hash_at(&self, address: Felt) -> Result<Option<Felt>> {
        match self
            .rpc
            .get_class_hash_at(BlockId::Tag(BlockTag::PreConfirmed), address)
            .await
        {
            Ok(hash) => Ok(Some(hash)),
            Err(ProviderError::StarknetError(StarknetError::ContractNotFound)) => Ok(None),
            Err(e) => Err(self.error("get_class_hash_at", e)),
        }
    }

    /// Whether `class_hash` is declared.
    pub async fn is_declared(&self, class_hash: Felt) -> Result<bool> {
        match self
            .rpc
            .get_class(BlockId::Tag(BlockTag::PreConfirmed), class_hash)
            .await
        {
            Ok(_) => Ok(true),
            Err(ProviderError::StarknetError(StarknetError::ClassHashNotFound)) => Ok(false),
            Err(e) => Err(self.error("get_class", e)),
        }
    }

    /// Waits for `hash` to be included. A reverted transaction is [`ChainError::Reverted`]
    /// with the contract's message.
    pub async fn wait(&self, action: &str, hash: Felt) -> Result<Receipt> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(25);
        loop {
            match self.rpc.get_transaction_receipt(hash).await {
                Ok(found) => {
                    let block = match found.block {
                        ReceiptBlock::PreConfirmed { block_number }
                        | ReceiptBlock::Block { block_number, .. } => block_number,
                    };
                    let (fee, resources, result) = match &found.receipt {
                        TransactionReceipt::Invoke(r) => {
                            (&r.actual_fee, &r.execution_resources, &r.execution_result)
                        }
                        TransactionReceipt::Declare(r) => {
                            (&r.actual_fee, &r.execution_resources, &r.execution_result)
                        }
                        TransactionReceipt::Deploy(r) => {
                            (&r.actual_fee, &r.execution_resources, &r.execution_result)
                        }
                        TransactionReceipt::DeployAccount(r) => {
                            (&r.actual_fee, &r.execution_resources, &r.execution_result)
                        }
                        TransactionReceipt::L1Handler(r) => {
                            (&r.actual_fee, &r.execution_resources, &r.execution_result)
                        }
                    };
                    if let ExecutionResult::Reverted { reason } = result {
                        return Err(ChainError::from_text(action, &redact(&self.url), reason)
                            .into_reverted(action, reason));
                    }
                    return Ok(Receipt {
                        hash,
                        block,
                        fee: u128::try_from(fee.amount).unwrap_or(u128::MAX),
                        l2_gas: resources.l2_gas,
                        l1_gas: resources.l1_gas,
                        l1_data_gas: resources.l1_data_gas,
                    });
                }
                Err(ProviderError::StarknetError(StarknetError::TransactionHashNotFound)) => {}
                Err(e) => return Err(self.error(format!("receipt of {action}"), e)),
            }
            if started.elapsed() > RECEIPT_TIMEOUT {
                return Err(ChainError::Timeout {
                    hash,
                    seconds: RECEIPT_TIMEOUT.as_secs(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}

impl ChainError {
    /// A reverted receipt is always a revert, even when its text has no quoted reason.
    fn into_reverted(self, action: &str, reason: &str) -> ChainError {
        match self {
            reverted @ ChainError::Reverted { .. } => reverted,
            _ => ChainError::Reverted {
                action: action.to_owned(),
                message: reason.to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JSON-RPC endpoint that is not a devnet: it knows its chain id and nothing of
    /// `devnet_*`, as a public node answers. Serves `requests` requests, then stops.
    async fn public_like_rpc(requests: usize) -> Url {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            for _ in 0..requests {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // One small request per connection: read until the JSON body closes.
                while !request.ends_with(b"}") {
                    let n = socket.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let text = String::from_utf8_lossy(&request);
                let body = if text.contains("starknet_chainId") {
                    r#"{"jsonrpc":"2.0","id":1,"result":"0x534e5f5345504f4c4941"}"#
                } else {
                    r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        url
    }

    #[tokio::test]
    async fn an_endpoint_without_devnet_methods_is_not_a_devnet() {
        let url = public_like_rpc(2).await;
        let chain = Chain::connect(&url).await.unwrap();
        assert_eq!(chain.chain_name(), "SN_SEPOLIA");
        assert!(!chain.is_devnet().await);
    }

    #[tokio::test]
    async fn a_one_person_court_is_refused_before_anything_is_sent_off_a_devnet() {
        let url = public_like_rpc(2).await;
        let chain = Chain::connect(&url).await.unwrap();
        let account = chain.account(Felt::from(7u8), SigningKey::from_secret_scalar(Felt::ONE));
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("sepolia.json");
        let refused = crate::deploy::Deploy {
            chain: &chain,
            account: &account,
            network: "sepolia".into(),
            config: None,
            dry_run: true,
        }
        .run(&manifest, |_| {})
        .await
        .unwrap_err();
        let text = refused.to_string();
        assert!(text.contains("one-person dispute court"), "{text}");
        assert!(text.contains("independent arbitrators"), "{text}");
        assert!(!manifest.exists(), "nothing is written");
    }

    #[test]
    fn urls_are_printed_without_their_secrets() {
        let keyed = Url::parse("https://rpc.example.com/v2/s3cr3t?key=abc").unwrap();
        assert_eq!(redact(&keyed), "https://rpc.example.com/…");
        let local = Url::parse("http://127.0.0.1:5050/").unwrap();
        assert_eq!(redact(&local), "http://127.0.0.1:5050");
        let devnet = Url::parse("http://127.0.0.1:5050/rpc").unwrap();
        assert_eq!(redact(&devnet), "http://127.0.0.1:5050/rpc");
        let versioned = Url::parse("https://node.example.org/rpc/v0_9").unwrap();
        assert_eq!(redact(&versioned), "https://node.example.org/rpc/v0_9");
        let keyed_versioned = Url::parse("https://node.example.org/k3y/rpc/v0_9").unwrap();
        assert_eq!(redact(&keyed_versioned), "https://node.example.org/…");
    }
}
