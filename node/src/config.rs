//! A node's settings: [`NodeArgs`] as `ciro node run` takes them, and [`NodeConfig`],
//! what [`crate::Node::start`] runs with (tests and benchmarks build it directly).

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use libp2p::Multiaddr;

use crate::{
    limits::Policy,
    network::NetworkSettings,
    protocol::check_capability,
    reputation::{LocalTable, ReputationSource, Weights},
};

/// How a worker treats the jobs it runs. Anything but `Honest` exists to test the
/// network's defences against such workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerConduct {
    #[default]
    Honest,
    /// Commits to and delivers a wrong result.
    Lie,
    /// Accepts assignments and never answers.
    Stall,
    /// Bids and advertises whether or not the chain backs it.
    IgnoreStake,
    /// Publishes made-up reputation updates (a record it never earned, a transaction
    /// that does not exist) with its health.
    ForgeReputation,
    /// Takes its clients' acceptances and never settles them, as a worker that vanished.
    Hoard,
    /// Dies on the spot (the process aborts: nothing flushed, nothing closed) once it has
    /// delivered a result and is about to commit it on chain, the moment a crash used to
    /// cost a worker its pay and its collateral. A restart without it resumes the duty.
    CrashBeforeSubmit,
}

/// How a client treats the workers it hires. Anything but `Honest` exists to test the
/// network's defences against such clients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientConduct {
    #[default]
    Honest,
    /// Disputes every result, right ones included, and hands the disputed job to no
    /// arbitrator, hoping that nobody can vote.
    Grief,
    /// Announces jobs from a deposit it could not fund, hoping workers run them anyway.
    Unfunded,
    /// Dies on the spot (the process aborts) once a job has ended and its verdicts are on
    /// disk, before any of its slots is settled: a restart without it settles them.
    CrashBeforeSettle,
}

/// Everything a node runs with.
#[derive(Clone)]
pub struct NodeConfig {
    /// Where the Ed25519 identity is kept; `None` makes a new identity each start.
    pub key_file: Option<PathBuf>,
    /// Where the node keeps its duties and its jobs (see [`crate::store`]), so a restart
    /// resumes them; `None` keeps them in memory only, and a restart forgets them.
    pub data_dir: Option<PathBuf>,
    pub listen: Vec<Multiaddr>,
    /// Addresses others reach this node at, besides its listen addresses.
    pub external: Vec<Multiaddr>,
    /// Whether the listen addresses are reachable by others. When they are, the node
    /// advertises them and serves the DHT (Kademlia server mode); otherwise it is a
    /// DHT client.
    pub reachable: bool,
    /// Peers to join through, each with a `/p2p/<peer id>` suffix.
    pub bootstrap: Vec<Multiaddr>,
    /// What this node runs as a worker; empty for a client-only node.
    pub capabilities: Vec<String>,
    /// Jobs run at once.
    pub slots: u16,
    /// The lowest reward bid for.
    pub min_price: u128,
    pub network: NetworkSettings,
    pub policy: Policy,
    /// How long a client collects bids before it assigns.
    pub bid_window: Duration,
    /// Time a worker gets beyond the job's own timeout to fetch and report.
    pub assign_grace: Duration,
    pub ad_ttl: Duration,
    pub health_interval: Duration,
    pub reputation: Arc<dyn ReputationSource>,
    pub weights: Weights,
    pub conduct: WorkerConduct,
    pub client_conduct: ClientConduct,
    /// Settle on Starknet: stake gates bidding, jobs are escrowed and paid on chain.
    /// `None` runs the network off-chain.
    pub chain: Option<crate::chain::ChainSettings>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            key_file: None,
            data_dir: None,
            listen: Vec::new(),
            external: Vec::new(),
            reachable: true,
            bootstrap: Vec::new(),
            capabilities: Vec::new(),
            slots: 4,
            min_price: 0,
            network: NetworkSettings::default(),
            policy: Policy::default(),
            bid_window: Duration::from_millis(150),
            assign_grace: Duration::from_secs(5),
            ad_ttl: Duration::from_secs(120),
            health_interval: Duration::from_secs(10),
            reputation: Arc::new(LocalTable::default()),
            weights: Weights::default(),
            conduct: WorkerConduct::Honest,
            client_conduct: ClientConduct::Honest,
            chain: None,
        }
    }
}

impl NodeConfig {
    pub fn check(&self) -> anyhow::Result<()> {
        for c in &self.capabilities {
            check_capability(c).map_err(|e| anyhow::anyhow!("capability {c:?}: {e}"))?;
        }
        if self.capabilities.len() > crate::protocol::MAX_CAPABILITIES {
            anyhow::bail!("at most {} capabilities", crate::protocol::MAX_CAPABILITIES);
        }
        for addr in &self.bootstrap {
            crate::network::peer_of(addr).ok_or_else(|| {
                anyhow::anyhow!("bootstrap address {addr} has no /p2p/<peer id> suffix")
            })?;
        }
        if self.slots == 0 && !self.capabilities.is_empty() {
            anyhow::bail!("a worker needs at least one slot");
        }
        Ok(())
    }
}

/// `ciro node run`: one peer of the network, worker, client or both.
#[derive(Clone, Debug, clap::Args)]
pub struct NodeArgs {
    /// The identity key file; created (mode 0600) if missing.
    #[arg(long, env = "CIRO_NODE_KEY", default_value = "ciro-node.key")]
    pub key_file: PathBuf,
    /// Where the node keeps its duties (results it owes a commitment, escrow jobs and
    /// acceptances that pay it) and the jobs it submitted (with its verdicts, for settling
    /// them) in a SQLite database, written before it acts on them, so a
    /// restart with the same key and directory resumes them [default: beside the key
    /// file, its name ending in `.data`, e.g. `ciro-node.data`].
    #[arg(long, env = "CIRO_NODE_DATA")]
    pub data_dir: Option<PathBuf>,
    /// Addresses to listen on: TCP, QUIC (`/udp/N/quic-v1`) and WebSocket (`/tcp/N/ws`).
    #[arg(
        long = "listen",
        env = "CIRO_NODE_LISTEN",
        value_delimiter = ',',
        default_values_t = [
            "/ip4/0.0.0.0/tcp/4001".parse::<Multiaddr>().unwrap(),
            "/ip4/0.0.0.0/udp/4001/quic-v1".parse().unwrap(),
            "/ip4/0.0.0.0/tcp/4002/ws".parse().unwrap(),
        ]
    )]
    pub listen: Vec<Multiaddr>,
    /// Bootstrap peers, each ending in `/p2p/<peer id>`.
    #[arg(long = "bootstrap", env = "CIRO_NODE_BOOTSTRAP", value_delimiter = ',')]
    pub bootstrap: Vec<Multiaddr>,
    /// Addresses others reach this node at (behind NAT or a proxy).
    #[arg(long = "external", value_delimiter = ',')]
    pub external: Vec<Multiaddr>,
    /// This node cannot be reached: use the DHT as a client and advertise no addresses.
    #[arg(long)]
    pub unreachable: bool,
    /// The HTTP gateway's address.
    #[arg(long, env = "CIRO_NODE_HTTP", default_value = "127.0.0.1:8090")]
    pub http: SocketAddr,
    /// Capabilities to work for, e.g. `wasm`; none makes a client-only node.
    #[arg(long = "capability", value_delimiter = ',')]
    pub capabilities: Vec<String>,
    /// Jobs run at once.
    #[arg(long, default_value_t = 4)]
    pub slots: u16,
    /// The lowest reward to bid for.
    #[arg(long, default_value_t = 0)]
    pub min_price: u128,
    /// Most connections in all.
    #[arg(long, default_value_t = 256)]
    pub max_connections: u32,
    /// How long a client collects bids, in milliseconds.
    #[arg(long, default_value_t = 150)]
    pub bid_window_ms: u64,
    #[arg(long, value_enum, default_value_t = WorkerConduct::Honest, hide = true)]
    pub conduct: WorkerConduct,
    #[arg(long, value_enum, default_value_t = ClientConduct::Honest, hide = true)]
    pub client_conduct: ClientConduct,
    /// Settle on Starknet: escrow jobs, bid only while staked, accept only staked peers.
    /// The chain, the manifest and the signing account come from `ciro`'s global flags
    /// (`--network`, `--rpc-url`, `--manifest`; `--account`/`--keystore`,
    /// `--private-key-env`/`--address` or `--devnet-account`).
    #[arg(long)]
    pub settle: bool,
    /// The indexer whose reputation scores steer selection, e.g. `http://127.0.0.1:8080/`.
    #[arg(long, env = "CIRO_INDEXER_URL", requires = "settle")]
    pub indexer: Option<url::Url>,
    /// Collateral each worker must lock per job this node submits, in CIRO.
    #[arg(long, default_value = "0", requires = "settle")]
    pub collateral: String,
    /// As a worker, the most CIRO this node consents to lock as collateral for one job
    /// [default: all its free stake].
    #[arg(long, value_name = "CIRO", requires = "settle")]
    pub max_collateral: Option<String>,
    /// Seconds after a submission in which this client may dispute.
    #[arg(long, default_value_t = 3600, requires = "settle")]
    pub challenge_window: u64,
    /// Re-run disputed jobs and vote (the account must be an arbitrator).
    #[arg(long, requires = "settle")]
    pub arbitrate: bool,
    /// As a client, pay jobs from a deposit in the escrow with signed acceptances, settled
    /// many to a transaction, instead of one escrow job per worker; the deposit is topped
    /// up by at least this much CIRO when the jobs in flight need more. Such jobs carry no
    /// collateral and no dispute: a result that is not the agreed one is simply not paid.
    #[arg(long, value_name = "CIRO", requires = "settle")]
    pub deposit: Option<String>,
    /// Acceptances paid in one transaction, at most.
    #[arg(long, default_value_t = 50, requires = "settle", value_parser = clap::value_parser!(u16).range(1..=500))]
    pub batch_size: u16,
    /// Milliseconds the oldest waiting acceptance waits for a fuller batch.
    #[arg(long, default_value_t = 2000, requires = "settle")]
    pub batch_wait_ms: u64,
}

impl NodeArgs {
    pub fn into_config(self) -> NodeConfig {
        NodeConfig {
            data_dir: Some(
                self.data_dir
                    .unwrap_or_else(|| self.key_file.with_extension("data")),
            ),
            key_file: Some(self.key_file),
            listen: self.listen,
            external: self.external,
            reachable: !self.unreachable,
            bootstrap: self.bootstrap,
            capabilities: self.capabilities,
            slots: self.slots,
            min_price: self.min_price,
            network: NetworkSettings {
                max_connections: self.max_connections,
                ..NetworkSettings::default()
            },
            bid_window: Duration::from_millis(self.bid_window_ms),
            conduct: self.conduct,
            client_conduct: self.client_conduct,
            ..NodeConfig::default()
        }
    }
}
