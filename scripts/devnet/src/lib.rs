//! starknet-devnet 0.10.1, run inside the process.
//!
//! [`Devnet::spawn`] starts a real devnet (the same `starknet-devnet-core` and
//! `starknet-devnet-server` crates the `starknet-devnet` binary is made of) on its own thread
//! and runtime, waits until `GET /is_alive` answers, and hands out the predeployed accounts.
//! Dropping the [`Devnet`] shuts the server down and joins its thread, so every test can own a
//! private chain on a free port and tests run in parallel without sharing state.
//!
//! The seed is fixed (0 by default), so the same accounts and keys come back on every start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use starknet::core::types::Felt;
use starknet_devnet_core::starknet::starknet_config::{
    BlockGenerationOn, StarknetConfig, StateArchiveCapacity,
};
use starknet_devnet_core::starknet::Starknet;
use starknet_devnet_server::api::{Api, JsonRpcHandler};
use starknet_devnet_server::server::serve_http_json_rpc;
use starknet_devnet_server::ServerConfig;
use tokio::sync::oneshot;
use url::Url;

/// The address of the fee token (STRK) that devnet predeploys.
pub const STRK_FEE_TOKEN: &str =
    "0x4718f5a0fc34cc1af16a1cdee98ffb20c31f5cd61d6ab07201858f4287c938d";
/// The Universal Deployer Contract devnet predeploys (the new UDC).
pub const UDC: &str = "0x2ceed65a4bd731034c01113685c831b01c15d7d432f71afb1cf1634b53a2125";

/// How long [`Devnet::spawn`] waits for the server to answer before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Errors starting a devnet.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The chain could not be created from the configuration.
    #[error("devnet: cannot create the chain: {0}")]
    Chain(String),
    /// The port could not be bound.
    #[error("devnet: cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The server thread or runtime could not start.
    #[error("devnet: cannot start the server: {0}")]
    Start(String),
    /// A `devnet_*` control call failed.
    #[error("devnet: {method} failed: {detail}")]
    Control {
        /// The JSON-RPC method.
        method: String,
        /// What went wrong.
        detail: String,
    },
    /// The server did not answer `/is_alive` in time.
    #[error("devnet: {url} did not answer /is_alive within {timeout:?}")]
    NotAlive {
        /// The URL that was polled.
        url: Url,
        /// How long it was polled.
        timeout: Duration,
    },
}

/// When devnet makes blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Blocks {
    /// One block per transaction (devnet's default).
    #[default]
    PerTransaction,
    /// Only on `devnet_createBlock`.
    OnDemand,
    /// Every N seconds.
    Every(u64),
}

/// How to start a devnet.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// Seed of the predeployed accounts.
    pub seed: u32,
    /// How many predeployed accounts.
    pub accounts: u8,
    /// Host to listen on.
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// When blocks are made.
    pub blocks: Blocks,
    /// Keep every block's state, which `devnet_abortBlocks` needs.
    pub full_state_archive: bool,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            accounts: 10,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            blocks: Blocks::PerTransaction,
            full_state_archive: true,
        }
    }
}

/// A predeployed, funded account.
#[derive(Clone, PartialEq, Eq)]
pub struct PredeployedAccount {
    /// The account contract's address.
    pub address: Felt,
    /// Its signing key.
    pub private_key: Felt,
    /// Its public key.
    pub public_key: Felt,
}

impl std::fmt::Debug for PredeployedAccount {
    // The key stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredeployedAccount")
            .field("address", &format_args!("{:#x}", self.address))
            .field("public_key", &format_args!("{:#x}", self.public_key))
            .finish_non_exhaustive()
    }
}

/// A running devnet. Dropping it stops the server.
#[derive(Debug)]
pub struct Devnet {
    addr: SocketAddr,
    rpc_url: Url,
    accounts: Vec<PredeployedAccount>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Devnet {
    /// Starts a devnet with `config` and waits until it answers.
    pub fn spawn(config: DevnetConfig) -> Result<Self, DevnetError> {
        let starknet_config = StarknetConfig {
            seed: config.seed,
            total_accounts: config.accounts,
            block_generation_on: match config.blocks {
                Blocks::PerTransaction => BlockGenerationOn::Transaction,
                Blocks::OnDemand => BlockGenerationOn::Demand,
                Blocks::Every(seconds) => BlockGenerationOn::Interval(seconds),
            },
            state_archive: if config.full_state_archive {
                StateArchiveCapacity::Full
            } else {
                StateArchiveCapacity::None
            },
            ..StarknetConfig::default()
        };
        let starknet =
            Starknet::new(&starknet_config).map_err(|e| DevnetError::Chain(e.to_string()))?;
        let accounts = starknet
            .get_predeployed_accounts()
            .into_iter()
            .map(|account| PredeployedAccount {
                address: account.account_address.into(),
                private_key: account.keys.private_key,
                public_key: account.keys.public_key,
            })
            .collect();
        let server_config = ServerConfig {
            host: config.host,
            port: config.port,
            timeout: 120,
            log_request: false,
            log_response: false,
            restricted_methods: None,
            ui_enabled: false,
        };

        let wanted = SocketAddr::new(config.host, config.port);
        let listener = std::net::TcpListener::bind(wanted).map_err(|source| DevnetError::Bind {
            addr: wanted,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| DevnetError::Start(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| DevnetError::Start(e.to_string()))?;

        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let interval = match config.blocks {
            Blocks::Every(seconds) => Some(seconds),
            _ => None,
        };
        let thread = std::thread::Builder::new()
            .name(format!("devnet-{}", addr.port()))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "devnet: cannot build its runtime");
                        return;
                    }
                };
                runtime.block_on(serve(
                    listener,
                    starknet,
                    server_config,
                    interval,
                    shutdown_rx,
                ));
            })
            .map_err(|e| DevnetError::Start(e.to_string()))?;

        let rpc_url = Url::parse(&format!("http://{addr}/rpc")).expect("a socket address is a URL");
        let devnet = Self {
            addr,
            rpc_url,
            accounts,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        };
        devnet.wait_alive(START_TIMEOUT)?;
        Ok(devnet)
    }

    /// Starts a devnet with the default configuration: seed 0, 10 accounts, a free port.
    pub fn spawn_default() -> Result<Self, DevnetError> {
        Self::spawn(DevnetConfig::default())
    }

    /// The JSON-RPC endpoint, `http://<addr>/rpc`.
    pub fn rpc_url(&self) -> &Url {
        &self.rpc_url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The predeployed accounts, in devnet's order.
    pub fn accounts(&self) -> &[PredeployedAccount] {
        &self.accounts
    }

    /// Predeployed account `index`. Panics if there are not that many: a harness error.
    pub fn account(&self, index: usize) -> &PredeployedAccount {
        &self.accounts[index]
    }

    /// Calls a JSON-RPC method (`devnet_increaseTime`, `devnet_abortBlocks`, ...) and
    /// returns its `result`.
    pub async fn control(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, DevnetError> {
        let failed = |detail: String| DevnetError::Control {
            method: method.to_owned(),
            detail,
        };
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer: serde_json::Value = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| failed(e.to_string()))?
            .post(self.rpc_url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?
            .json()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if let Some(error) = answer.get("error") {
            return Err(failed(error.to_string()));
        }
        Ok(answer.get("result").cloned().unwrap_or_default())
    }

    /// Moves the chain's clock forward by `seconds` and mines a block at the new time.
    pub async fn increase_time(&self, seconds: u64) -> Result<(), DevnetError> {
        self.control(
            "devnet_increaseTime",
            serde_json::json!({ "time": seconds }),
        )
        .await
        .map(drop)
    }

    /// Polls `GET /is_alive` with a plain HTTP/1.0 request until it answers or `timeout`.
    fn wait_alive(&self, timeout: Duration) -> Result<(), DevnetError> {
        use std::io::{Read as _, Write as _};
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Ok(mut stream) =
                std::net::TcpStream::connect_timeout(&self.addr, Duration::from_millis(500))
            {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let request = format!("GET /is_alive HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
                let mut answer = String::new();
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_to_string(&mut answer).is_ok()
                    && (answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"))
                {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(DevnetError::NotAlive {
            url: self.rpc_url.clone(),
            timeout,
        })
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

async fn serve(
    listener: std::net::TcpListener,
    starknet: Starknet,
    server_config: ServerConfig,
    block_interval: Option<u64>,
    shutdown: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "devnet: cannot adopt its listener");
            return;
        }
    };
    let api = Api::new(starknet, server_config);
    let handler = JsonRpcHandler::new(api.clone());
    if let Some(seconds) = block_interval {
        let api = api.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(seconds.max(1)));
            tick.tick().await;
            loop {
                tick.tick().await;
                api.starknet.lock().await.create_block();
            }
        });
    }
    let server = serve_http_json_rpc(listener, &api.server_config, handler).await;
    let result = server
        .with_graceful_shutdown(async {
            let _ = shutdown.await;
        })
        .await;
    if let Err(error) = result {
        tracing::error!(%error, "devnet: server stopped with an error");
    }
}
