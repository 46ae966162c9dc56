//! `ciro up`: a whole CIRO network on this machine, and the end-to-end tests' harness.
//!
//! [`LocalNetwork::start`] brings the parts up in order, each for real: an embedded
//! starknet-devnet; the contract suite, deployed; worker accounts funded, staked and
//! registered; the indexer on SQLite; worker nodes and a client node on loopback TCP,
//! settling on chain. [`LocalNetwork::submit_samples`] sends the example workloads and
//! [`LocalNetwork::wait_settled`] waits until every job is paid out on chain.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use ciro_bindings::{
    chain::{Account, Chain},
    deploy::Deploy,
    ops::Session,
    units::{format_tokens, ONE as TOKEN},
    Contract, DeployConfig, Deployment,
};
use ciro_devnet::{Blocks, Devnet, DevnetConfig};
use ciro_node::{
    chain::{Batching, ChainSettings, SlotReport},
    job::JobStatus,
    node::NodeEvent,
    protocol::{JobId, Limits},
    reputation::IndexerSource,
    sandbox::workloads,
    ClientConduct, JobRequest, Node, NodeConfig, NodeHandle, WorkerConduct,
};
use libp2p::PeerId;
use starknet::{core::types::Felt, signers::SigningKey};
use tokio::sync::watch;

/// Devnet accounts: 0 deploys and owns the suite, 1 is the client, 2 the treasury, 3 the
/// arbitrator; workers follow.
const OWNER: usize = 0;
const CLIENT: usize = 1;
const TREASURY: usize = 2;
const ARBITRATOR: usize = 3;
const FIRST_WORKER: usize = 4;

/// What `ciro up` starts.
#[derive(Clone, Debug)]
pub struct UpSettings {
    /// Worker nodes, each with its own staked account.
    pub workers: usize,
    /// Where the manifest, the indexer's database and the node keys go.
    pub dir: PathBuf,
    /// The indexer's HTTP API; port 0 picks a free one.
    pub indexer_http: SocketAddr,
    /// The client node's HTTP gateway; port 0 picks a free one.
    pub client_http: SocketAddr,
    /// Each worker stakes this much (base units).
    pub stake: u128,
    /// Stakes for particular workers, by index, instead of `stake`.
    pub stakes: Vec<u128>,
    /// The client asks each worker to lock this much per job.
    pub collateral: u128,
    /// How each worker behaves, by index; missing ones are honest.
    pub conduct: Vec<WorkerConduct>,
    /// How the client behaves.
    pub client_conduct: ClientConduct,
    /// The most collateral particular workers consent to lock per job, by index; missing
    /// ones offer all their free stake.
    pub max_collateral: Vec<u128>,
    /// The client's share of CIRO, base units.
    pub client_funds: u128,
    /// Seconds the escrow deadline lies beyond a job's own.
    pub settle_margin_secs: u64,
    /// Put a proxy between the nodes and the chain that [`LocalNetwork::rpc`] can cut, to
    /// rehearse outages.
    pub rpc_proxy: bool,
    /// Seconds after a submission in which the client may dispute.
    pub challenge_window_secs: u64,
    /// The client pays from a deposit topped up by at least this much, with acceptances
    /// the workers settle in batches; `None` gives each worker of a job an escrow job
    /// (collateral, disputes, timeouts).
    pub deposit: Option<u128>,
    /// How long a worker holds an acceptance for a fuller batch.
    pub batch_wait: Duration,
    /// The most acceptances in one batch.
    pub batch_size: usize,
    /// How long the client waits for a worker to settle an acceptance before it does.
    pub batch_fallback: Duration,
    /// When the embedded devnet makes blocks: every second by default, so the chain's
    /// clock moves without traffic, as a live chain's does.
    pub blocks: Blocks,
    /// How far past a deadline this machine's clock may run while the chain's has not
    /// reached it before a node reports the slot stuck (`ChainSettings::clock_grace`).
    pub clock_grace: Duration,
    /// The nodes keep several transactions in flight (`ChainSettings::pipelined`).
    pub pipelined: bool,
}

impl Default for UpSettings {
    fn default() -> Self {
        Self {
            workers: 3,
            dir: PathBuf::from("ciro-up"),
            indexer_http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            client_http: SocketAddr::from(([127, 0, 0, 1], 8090)),
            stake: 200 * TOKEN,
            stakes: Vec::new(),
            collateral: 5 * TOKEN,
            conduct: Vec::new(),
            client_conduct: ClientConduct::Honest,
            max_collateral: Vec::new(),
            client_funds: 10_000 * TOKEN,
            settle_margin_secs: 60,
            rpc_proxy: false,
            challenge_window_secs: 3600,
            deposit: Some(100 * TOKEN),
            batch_wait: Duration::from_secs(1),
            batch_size: Batching::default().max_jobs,
            batch_fallback: Batching::default().fallback,
            blocks: Blocks::Every(1),
            clock_grace: ciro_node::chain::CLOCK_GRACE,
            pipelined: true,
        }
    }
}

/// A worker of the local network.
pub struct LocalWorker {
    /// Its node.
    pub node: NodeHandle,
    /// Its staked account.
    pub account: Felt,
}

/// A running local network. Dropping it stops the nodes; [`LocalNetwork::stop`] stops
/// everything in order.
pub struct LocalNetwork {
    /// The chain.
    pub devnet: Devnet,
    /// A connection to it.
    pub chain: Chain,
    /// The deployed suite.
    pub deployment: Deployment,
    /// Its manifest file.
    pub manifest: PathBuf,
    /// The suite's owner (it mints).
    pub owner: Session,
    /// Where the protocol fees go.
    pub treasury: Felt,
    /// The indexer's HTTP API.
    pub indexer: SocketAddr,
    indexer_config: ciro_indexer::Config,
    indexer_stop: watch::Sender<bool>,
    indexer_task: tokio::task::JoinHandle<ciro_indexer::Result<()>>,
    /// The proxy the nodes reach the chain through, when asked for.
    pub rpc: Option<RpcProxy>,
    /// The client node (the bootstrap peer, with the gateway).
    pub client: NodeHandle,
    /// The client node's HTTP gateway.
    client_gateway: ciro_node::gateway::Gateway,
    /// The client's account.
    pub client_account: Felt,
    /// The worker nodes.
    pub workers: Vec<LocalWorker>,
    /// The arbitrator node (it re-runs disputed jobs and votes).
    pub arbitrator: NodeHandle,
    /// Settings every node's chain link starts from.
    chain_template: ChainSettings,
    /// What every job settled as, by job, filled as the client reports.
    settled: Arc<std::sync::Mutex<HashMap<JobId, Vec<SlotReport>>>>,
}

/// One step of [`LocalNetwork::start`], for a progress display.
#[derive(Clone, Debug)]
pub enum Step {
    /// The chain answers at this RPC URL.
    Devnet(String),
    /// The suite is deployed; the escrow's address.
    Deployed(Felt),
    /// A worker account is funded, staked and registered.
    Funded {
        /// The account.
        worker: Felt,
    },
    /// The indexer serves here.
    Indexer(SocketAddr),
    /// A node started.
    Node {
        /// Its peer id.
        peer: String,
        /// `client` or `worker`.
        role: &'static str,
    },
}

/// One worker's outcome, for the summary.
#[derive(Clone, Debug)]
pub struct WorkerSummary {
    /// The account.
    pub account: Felt,
    /// The node's peer id.
    pub peer: String,
    /// Paid out to it, base units.
    pub earned: u128,
    /// Its stake now, base units.
    pub stake: u128,
    /// Jobs completed on chain.
    pub jobs_completed: u64,
    /// Jobs failed (timeouts).
    pub jobs_failed: u64,
    /// Disputes ruled against it.
    pub disputes_lost: u64,
    /// The indexer's reputation score, 0 to 1.
    pub score: f64,
}

impl LocalNetwork {
    /// Starts every part, in order, reporting each step.
    pub async fn start(
        settings: &UpSettings,
        mut progress: impl FnMut(Step),
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.dir)
            .with_context(|| format!("creating {}", settings.dir.display()))?;
        let accounts = u8::try_from(FIRST_WORKER + settings.workers)
            .ok()
            .filter(|_| settings.workers >= 1)
            .context("--workers must be 1 to 250")?;
        let config = DevnetConfig {
            accounts,
            blocks: settings.blocks,
            ..DevnetConfig::default()
        };
        let devnet = tokio::task::spawn_blocking(move || Devnet::spawn(config))
            .await
            .context("starting devnet")??;
        progress(Step::Devnet(devnet.rpc_url().to_string()));
        let chain = Chain::connect(devnet.rpc_url()).await?;
        let account = |i: usize| -> Account {
            let a = devnet.account(i);
            chain.account(a.address, SigningKey::from_secret_scalar(a.private_key))
        };

        let manifest = settings.dir.join("devnet.json");
        let _ = std::fs::remove_file(&manifest);
        // The nodes' duties belong to the chain they were made on: this devnet is new.
        let nodes = settings.dir.join("nodes");
        if nodes.exists() {
            std::fs::remove_dir_all(&nodes)
                .with_context(|| format!("clearing {}", nodes.display()))?;
        }
        let owner_account = account(OWNER);
        let treasury = devnet.account(TREASURY).address;
        let report = Deploy {
            chain: &chain,
            account: &owner_account,
            network: "devnet".into(),
            config: Some(DeployConfig {
                treasury: Some(treasury),
                arbitrators: vec![devnet.account(ARBITRATOR).address],
                ..DeployConfig::default()
            }),
            dry_run: false,
        }
        .run(&manifest, |_| {})
        .await
        .context("deploying the suite")?;
        let deployment = report.deployment;
        progress(Step::Deployed(deployment.address(Contract::JobEscrow)?));
        let owner = Session::new(chain.clone(), deployment.clone(), owner_account);

        let client_account = devnet.account(CLIENT).address;
        owner
            .token_mint(client_account, settings.client_funds)
            .await?;
        for i in 0..settings.workers {
            let worker = Session::new(chain.clone(), deployment.clone(), account(FIRST_WORKER + i));
            let stake = settings.stakes.get(i).copied().unwrap_or(settings.stake);
            owner.token_mint(worker.me(), stake).await?;
            worker.worker_stake(stake, true).await?;
            worker.worker_register(&["wasm".to_owned()]).await?;
            progress(Step::Funded {
                worker: worker.me(),
            });
        }

        let (indexer_stop, stop_rx) = watch::channel(false);
        let (ready, bound) = tokio::sync::oneshot::channel();
        let database = settings.dir.join("indexer.db");
        let _ = std::fs::remove_file(&database);
        let indexer_config = ciro_indexer::Config {
            rpc_url: devnet.rpc_url().clone(),
            manifest: manifest.clone(),
            database: database.display().to_string(),
            listen: settings.indexer_http,
            poll_ms: 200,
            max_backoff_ms: 2000,
            log_every_secs: 3600,
            ..ciro_indexer::Config::default()
        };
        let indexer_task = tokio::spawn(ciro_indexer::service::run(
            indexer_config.clone(),
            stop_rx,
            Some(ready),
        ));
        let indexer = bound.await.context("the indexer did not start")?;
        let indexer_config = ciro_indexer::Config {
            listen: indexer,
            ..indexer_config
        };
        progress(Step::Indexer(indexer));
        // The nodes read the workers' stakes from the indexer as they meet them: it must
        // have them first, or the first jobs would be given out blind.
        indexer_synced(&chain, indexer, Duration::from_secs(60))
            .await
            .context("the indexer did not catch up with the chain")?;
        let indexer_url = url::Url::parse(&format!("http://{indexer}/"))?;

        let rpc = match settings.rpc_proxy {
            true => Some(RpcProxy::start(devnet.addr()).await?),
            false => None,
        };
        let node_rpc = match &rpc {
            Some(proxy) => proxy.url(devnet.rpc_url())?,
            None => devnet.rpc_url().clone(),
        };
        let chain_template = ChainSettings {
            collateral: settings.collateral,
            challenge_window_secs: settings.challenge_window_secs,
            settle_margin_secs: settings.settle_margin_secs,
            poll: Duration::from_millis(500),
            standing_refresh: Duration::from_secs(5),
            max_backoff: Duration::from_secs(2),
            clock_grace: settings.clock_grace,
            pipelined: settings.pipelined,
            batching: Batching {
                deposit: settings.deposit,
                max_wait: settings.batch_wait,
                max_jobs: settings.batch_size,
                fallback: settings.batch_fallback,
            },
            ..ChainSettings::new(node_rpc, deployment.clone(), Felt::ZERO, Felt::ZERO)
        };
        let chain_settings = |index: usize| ChainSettings {
            account: devnet.account(index).address,
            private_key: devnet.account(index).private_key,
            ..chain_template.clone()
        };
        let loopback = "/ip4/127.0.0.1/tcp/0".parse().expect("a valid address");
        let client = Node::start(NodeConfig {
            key_file: Some(settings.dir.join("client.key")),
            data_dir: Some(nodes.join("client")),
            listen: vec![loopback],
            reputation: Arc::new(IndexerSource::new(indexer_url, Duration::from_secs(2))),
            client_conduct: settings.client_conduct,
            chain: Some(chain_settings(CLIENT)),
            ..NodeConfig::default()
        })
        .await
        .context("starting the client node")?;
        let client_gateway = ciro_node::gateway::serve(client.shared.clone(), settings.client_http)
            .await
            .context("starting the client's gateway")?;
        progress(Step::Node {
            peer: client.peer_id().to_string(),
            role: "client",
        });
        let bootstrap = client.addrs();
        let mut workers = Vec::new();
        for i in 0..settings.workers {
            let node = Node::start(NodeConfig {
                key_file: Some(settings.dir.join(format!("worker-{i}.key"))),
                data_dir: Some(nodes.join(format!("worker-{i}"))),
                listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a valid address")],
                bootstrap: bootstrap.clone(),
                capabilities: vec!["wasm".into()],
                conduct: settings.conduct.get(i).copied().unwrap_or_default(),
                chain: Some(ChainSettings {
                    max_collateral: settings.max_collateral.get(i).copied(),
                    ..chain_settings(FIRST_WORKER + i)
                }),
                ..NodeConfig::default()
            })
            .await
            .with_context(|| format!("starting worker node {i}"))?;
            progress(Step::Node {
                peer: node.peer_id().to_string(),
                role: "worker",
            });
            workers.push(LocalWorker {
                node,
                account: devnet.account(FIRST_WORKER + i).address,
            });
        }

        let arbitrator = Node::start(NodeConfig {
            key_file: Some(settings.dir.join("arbitrator.key")),
            data_dir: Some(nodes.join("arbitrator")),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a valid address")],
            bootstrap: bootstrap.clone(),
            chain: Some(ChainSettings {
                arbitrate: true,
                ..chain_settings(ARBITRATOR)
            }),
            ..NodeConfig::default()
        })
        .await
        .context("starting the arbitrator node")?;
        progress(Step::Node {
            peer: arbitrator.peer_id().to_string(),
            role: "arbitrator",
        });

        let settled: Arc<std::sync::Mutex<HashMap<JobId, Vec<SlotReport>>>> = Arc::default();
        let mut events = client.shared.subscribe();
        let record = settled.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(NodeEvent::SettledOnChain { job, slots }) => {
                        record.lock().expect("settled lock").insert(job, slots);
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
            }
        });

        Ok(Self {
            devnet,
            chain,
            deployment,
            manifest,
            owner,
            treasury,
            indexer,
            indexer_config,
            indexer_stop,
            indexer_task,
            rpc,
            client,
            client_gateway,
            client_account,
            workers,
            arbitrator,
            chain_template,
            settled,
        })
    }

    /// The configuration of a further node that joins this network on loopback TCP and
    /// settles as `account`, signing with `key`.
    pub fn node_config(&self, account: Felt, key: Felt) -> NodeConfig {
        NodeConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a valid address")],
            bootstrap: self.bootstrap(),
            chain: Some(ChainSettings {
                account,
                private_key: key,
                ..self.chain_template.clone()
            }),
            ..NodeConfig::default()
        }
    }

    /// Stops the indexer and starts it again on the same database and address; it resumes
    /// from its cursor.
    pub async fn restart_indexer(&mut self) -> anyhow::Result<()> {
        let _ = self.indexer_stop.send(true);
        (&mut self.indexer_task)
            .await
            .context("the indexer task")?
            .context("the indexer")?;
        let (stop, stop_rx) = watch::channel(false);
        let (ready, bound) = tokio::sync::oneshot::channel();
        self.indexer_task = tokio::spawn(ciro_indexer::service::run(
            self.indexer_config.clone(),
            stop_rx,
            Some(ready),
        ));
        self.indexer_stop = stop;
        bound.await.context("the indexer did not restart")?;
        Ok(())
    }

    /// The addresses a further node joins through.
    pub fn bootstrap(&self) -> Vec<libp2p::Multiaddr> {
        self.client.addrs()
    }

    /// The client node's gateway.
    pub fn gateway(&self) -> Option<SocketAddr> {
        Some(self.client_gateway.addr)
    }

    /// Waits until every worker advertises to the client, so the first jobs find them.
    pub async fn wait_for_workers(&self, timeout: Duration) -> anyhow::Result<()> {
        let workers: Vec<_> = self.workers.iter().map(|w| w.node.peer_id()).collect();
        wait_for_advertised(&self.client, &workers, timeout).await
    }

    /// Submits `count` jobs from the example workloads, in turn, with `redundancy` workers
    /// each and `reward` per worker.
    pub async fn submit_samples(
        &self,
        count: usize,
        redundancy: u8,
        reward: u128,
    ) -> anyhow::Result<Vec<JobId>> {
        let mut ids = Vec::new();
        for i in 0..count {
            ids.push(
                self.submit_sample(i, redundancy, reward, Duration::from_secs(60))
                    .await?,
            );
        }
        Ok(ids)
    }

    /// Submits the `i`th sample job with `redundancy` workers, `reward` per worker, and
    /// `deadline` for agreeing results.
    pub async fn submit_sample(
        &self,
        i: usize,
        redundancy: u8,
        reward: u128,
        deadline: Duration,
    ) -> anyhow::Result<JobId> {
        self.client
            .shared
            .submit(sample_job(i, redundancy, reward, deadline))
            .await
            .map_err(|e| anyhow::anyhow!("submitting job {i}: {e}"))
    }

    /// How each of `jobs` settled on chain, once all have, or an error after `timeout`.
    pub async fn wait_settled(
        &self,
        jobs: &[JobId],
        timeout: Duration,
        mut progress: impl FnMut(usize),
    ) -> anyhow::Result<HashMap<JobId, Vec<SlotReport>>> {
        let started = Instant::now();
        let mut last = usize::MAX;
        loop {
            let done: HashMap<JobId, Vec<SlotReport>> = {
                let settled = self.settled.lock().expect("settled lock");
                jobs.iter()
                    .filter_map(|j| settled.get(j).map(|s| (*j, s.clone())))
                    .collect()
            };
            if done.len() != last {
                last = done.len();
                progress(last);
            }
            if done.len() == jobs.len() {
                return Ok(done);
            }
            if started.elapsed() > timeout {
                anyhow::bail!(
                    "{} of {} jobs settled on chain within {timeout:?}",
                    done.len(),
                    jobs.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The client's record of a job: status, bids, assignments, result, settlement.
    pub async fn job(&self, id: &JobId) -> Option<ciro_node::job::ClientJob> {
        self.client.shared.job(id).await
    }

    /// Whether the job completed off chain and every slot it used was paid.
    pub async fn paid_in_full(&self, id: &JobId, slots: &[SlotReport]) -> bool {
        self.job(id)
            .await
            .is_some_and(|j| j.status == JobStatus::Completed)
            && slots
                .iter()
                .all(|s| s.state == "completed" || (s.worker.is_none() && s.state == "cancelled"))
    }

    /// Waits until the indexer has every block the chain has now.
    pub async fn indexer_synced(&self, timeout: Duration) -> anyhow::Result<()> {
        indexer_synced(&self.chain, self.indexer, timeout).await
    }

    /// A worker's earnings, stake and reputation, from the indexer's HTTP API.
    pub async fn worker_summary(&self, worker: &LocalWorker) -> anyhow::Result<WorkerSummary> {
        let body: serde_json::Value = reqwest::get(format!(
            "http://{}/v1/workers/{:#x}",
            self.indexer, worker.account
        ))
        .await?
        .json()
        .await?;
        let amount = |key: &str| -> anyhow::Result<u128> {
            body[key]
                .as_str()
                .with_context(|| format!("{key} in {body}"))?
                .parse()
                .with_context(|| format!("{key} in {body}"))
        };
        Ok(WorkerSummary {
            account: worker.account,
            peer: worker.node.peer_id().to_string(),
            earned: amount("total_earned")?,
            stake: amount("stake")?,
            jobs_completed: body["jobs_completed"].as_u64().unwrap_or(0),
            jobs_failed: body["jobs_failed"].as_u64().unwrap_or(0),
            disputes_lost: body["disputes_lost"].as_u64().unwrap_or(0),
            score: body["score"].as_f64().unwrap_or(0.0),
        })
    }

    /// Stops the nodes, the indexer and the chain, in that order.
    pub async fn stop(self) -> anyhow::Result<()> {
        for worker in &self.workers {
            worker.node.kill();
        }
        self.arbitrator.kill();
        self.client.kill();
        let _ = self.indexer_stop.send(true);
        self.indexer_task
            .await
            .context("the indexer task")?
            .context("the indexer")?;
        let devnet = self.devnet;
        tokio::task::spawn_blocking(move || devnet.stop())
            .await
            .context("stopping devnet")?;
        Ok(())
    }
}

/// The `i`th sample job: the example workloads in turn, each with a small input.
pub fn sample(i: usize) -> (Vec<u8>, Vec<u8>) {
    let (_, text) = workloads::ALL[i % workloads::ALL.len()];
    let seed = i as u32 + 1;
    let input = match i % workloads::ALL.len() {
        // hash_chain: u32 rounds, u64 seed
        0 => [
            10_000u32.to_le_bytes().as_slice(),
            &(seed as u64).to_le_bytes(),
        ]
        .concat(),
        // prime_sieve: u32 n
        1 => (10_000 + seed).to_le_bytes().to_vec(),
        // matmul: u32 n, u32 seed
        _ => [16u32.to_le_bytes(), seed.to_le_bytes()].concat(),
    };
    (workloads::compile(text), input)
}

/// The `i`th sample job for the `wasm` capability: `redundancy` workers, `reward` per
/// worker, and `deadline` for agreeing results.
pub fn sample_job(i: usize, redundancy: u8, reward: u128, deadline: Duration) -> JobRequest {
    let (module, input) = sample(i);
    JobRequest {
        module,
        input,
        capability: "wasm".into(),
        redundancy,
        reward,
        limits: Limits::default(),
        deadline,
    }
}

/// Waits until each of `workers` has advertised its capabilities to `client`.
pub async fn wait_for_advertised(
    client: &NodeHandle,
    workers: &[PeerId],
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let peers = client.shared.peers().await;
        let ready = workers
            .iter()
            .filter(|w| {
                peers
                    .iter()
                    .any(|p| p.peer_id == **w && !p.capabilities.is_empty())
            })
            .count();
        if ready == workers.len() {
            return Ok(());
        }
        if started.elapsed() > timeout {
            anyhow::bail!(
                "only {ready} of {} workers advertised within {timeout:?}",
                workers.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the indexer at `indexer` has every block `chain` has now.
async fn indexer_synced(
    chain: &Chain,
    indexer: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<()> {
    use starknet::core::types::{BlockId, BlockTag, MaybePreConfirmedBlockWithTxHashes};
    use starknet::providers::Provider as _;
    // Transactions sent last may sit in the pre-confirmed block (a devnet making a
    // block every second): the indexer follows closed blocks, so wait for that one.
    let head = match chain
        .rpc()
        .get_block_with_tx_hashes(BlockId::Tag(BlockTag::PreConfirmed))
        .await?
    {
        MaybePreConfirmedBlockWithTxHashes::PreConfirmedBlock(b) if !b.transactions.is_empty() => {
            b.block_number
        }
        _ => chain.rpc().block_number().await?,
    };
    let started = Instant::now();
    loop {
        let health: serde_json::Value = reqwest::get(format!("http://{indexer}/health"))
            .await?
            .json()
            .await?;
        if health["cursor"].as_u64() >= Some(head) {
            return Ok(());
        }
        if started.elapsed() > timeout {
            anyhow::bail!("the indexer did not reach block {head}: {health}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A token amount for people.
pub fn tokens(amount: u128) -> String {
    format!("{} CIRO", format_tokens(amount))
}

/// The path of the local network's state under `root`.
pub fn default_dir(root: &Path) -> PathBuf {
    root.join("target").join("ciro-up")
}

/// A TCP proxy in front of the chain's RPC that can be cut and restored: while it is cut,
/// connections are refused and open ones dropped, as when a provider goes away.
pub struct RpcProxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    refused: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RpcProxy {
    /// A proxy to `target` on a free loopback port.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (up, up_rx) = watch::channel(true);
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = refused.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*up_rx.borrow() {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
                let mut down = up_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Ok(Self {
            addr,
            up,
            refused,
            task,
        })
    }

    /// `url` (the chain's RPC URL) with this proxy's address.
    pub fn url(&self, url: &url::Url) -> anyhow::Result<url::Url> {
        let mut proxied = url.clone();
        proxied
            .set_port(Some(self.addr.port()))
            .map_err(|()| anyhow::anyhow!("{url} takes no port"))?;
        Ok(proxied)
    }

    /// Connections refused while cut.
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Cuts (`false`) or restores (`true`) the connection to the chain.
    pub fn set_up(&self, up: bool) {
        let _ = self.up.send(up);
    }
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
