//! The node: one task owns the swarm and every piece of state, and handles, in one place
//! each, swarm events (`on_swarm`), gossip (`on_gossip`), requests (`on_request`),
//! responses (`on_response`), finished runs (`on_executed`), commands from the gateway or
//! the embedding program (`on_command`) and the clock (`on_tick`).
//!
//! A node is a client (the jobs it submits, in [`Shared::jobs`]) and, when it has
//! capabilities, a worker (the jobs it bids on and runs, in `Node::work`).

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures::StreamExt;
use libp2p::{
    gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash},
    identify,
    identity::Keypair,
    kad,
    multiaddr::Protocol,
    request_response::{self, OutboundRequestId, ResponseChannel},
    swarm::SwarmEvent,
    Multiaddr, PeerId, Swarm,
};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::{
    chain::{
        signed_bid, Backer, Bidder, FromChain, Settler, SlotReport, ToChain, Verdict as SlotVerdict,
    },
    config::{ClientConduct, NodeConfig, WorkerConduct},
    discovery::{self, AdCache},
    job::{ClientJob, JobStatus, Outcome},
    limits::{Channel, Limits, Verdict},
    metrics::{Heartbeat, Metrics},
    network::{self, Behaviour, BehaviourEvent},
    protocol::{
        self, addrs_from_wire, addrs_to_wire, spec_hash, topics, Assignment, Backing, Bid,
        CapabilityAd, Consent, Gossip, Hash, Health, JobAnnouncement, JobId, Limits as JobLimits,
        Refusal, Request, Response, ResultCommit,
    },
    reputation::Standing,
    sandbox::{Execution, Sandbox, SandboxError},
};

/// Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

/// The peer id at the end of a `/p2p/<id>` address.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// A job to run, as a client hands it to its node.
#[derive(Clone, Debug)]
pub struct JobRequest {
    /// A binary Wasm module (see [`crate::sandbox`] for its ABI).
    pub module: Vec<u8>,
    pub input: Vec<u8>,
    pub capability: String,
    pub redundancy: u8,
    pub reward: u128,
    pub limits: JobLimits,
    /// How long the client waits for k agreeing results.
    pub deadline: Duration,
}

/// Why a job was not accepted for submission.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("module: {0}")]
    Module(#[from] SandboxError),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the node is compiling other modules; try again shortly")]
    Busy,
    #[error("the node has stopped")]
    Stopped,
}

/// How long compiling a submitted module may take, and how long a submission waits for
/// its turn to compile.
pub const COMPILE_BUDGET: Duration = Duration::from_secs(10);
/// Modules compiled at once for submissions; the rest wait their turn.
const COMPILING_AT_ONCE: usize = 1;

/// A job whose request passed every check, with its hashes.
#[derive(Debug)]
pub struct Checked {
    request: JobRequest,
    module: Hash,
    input: Hash,
    spec: Hash,
}

impl JobRequest {
    /// Checks everything but the module: cheap, and done before any work is spent on it.
    fn check_fields(&self) -> Result<(), SubmitError> {
        let invalid = |field, message: &str| SubmitError::Invalid {
            field,
            message: message.into(),
        };
        protocol::check_capability(&self.capability)
            .map_err(|e| invalid("capability", &e.to_string()))?;
        if self.redundancy == 0 || self.redundancy > protocol::MAX_REDUNDANCY {
            return Err(invalid("redundancy", "must be 1 to 8"));
        }
        self.limits
            .check()
            .map_err(|e| invalid("limits", &e.to_string()))?;
        if self.input.len() > protocol::MAX_BLOB_BYTES {
            return Err(invalid("input", "larger than 8 MiB"));
        }
        if self.module.len() > protocol::MAX_BLOB_BYTES {
            return Err(invalid("module", "larger than 8 MiB"));
        }
        if self.deadline.is_zero() || self.deadline > Duration::from_secs(24 * 3600) {
            return Err(invalid("deadline", "must be between 1 s and 24 h"));
        }
        Ok(())
    }
}

/// Checks a job for submission. The module is compiled, and the module and input hashed,
/// on a blocking thread, one submission at a time, within `budget`: a module built to be
/// slow to compile costs its sender a refusal, never the node its event loop.
pub async fn check(
    sandbox: &Sandbox,
    turn: &Arc<tokio::sync::Semaphore>,
    request: JobRequest,
    budget: Duration,
) -> Result<Checked, SubmitError> {
    request.check_fields()?;
    let permit = tokio::time::timeout(budget, turn.clone().acquire_owned())
        .await
        .map_err(|_| SubmitError::Busy)?
        .map_err(|_| SubmitError::Stopped)?;
    let sandbox = sandbox.clone();
    let compiling = tokio::task::spawn_blocking(move || {
        // The turn is held until compiling ends, even past the budget: a runaway
        // compilation keeps others waiting, not piling up on blocking threads.
        let _permit = permit;
        let module = sandbox.check(&request.module)?;
        let input = Hash::of(&request.input);
        let spec = spec_hash(&module, &input, &request.capability, &request.limits);
        Ok(Checked {
            request,
            module,
            input,
            spec,
        })
    });
    match tokio::time::timeout(budget, compiling).await {
        Ok(Ok(checked)) => checked,
        Ok(Err(_)) => Err(SubmitError::Stopped),
        Err(_) => Err(SubmitError::Module(SandboxError::CompileTimeout(
            budget.as_secs(),
        ))),
    }
}

/// What the gateway and the embedding program can ask of the node.
pub enum Command {
    Submit(Box<Checked>, oneshot::Sender<JobId>),
    FindWorkers {
        capability: String,
        count: usize,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Dial(Multiaddr),
}

/// A peer as `/v1/peers` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    pub connected: bool,
    pub addrs: Vec<Multiaddr>,
    pub agent: Option<String>,
    pub capabilities: Vec<String>,
    pub gossip_score: Option<f64>,
    pub strikes: u64,
    pub banned: bool,
    /// The account and stake the chain backs it with, once verified.
    pub backer: Option<Backer>,
}

/// What happened in a node, as it happens, for programs that embed it.
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// This node published the announcement of its job.
    Announced { job: JobId, at: Instant },
    /// This node, as a worker for the job's capability, received its announcement.
    Heard { job: JobId, at: Instant },
    /// A job this node submitted completed or failed.
    Settled {
        job: JobId,
        status: JobStatus,
        at: Instant,
    },
    /// Every escrow slot of a job this node submitted is settled on chain.
    SettledOnChain { job: JobId, slots: Vec<SlotReport> },
    /// This node, as a worker, submitted its result for a job on chain.
    SubmittedOnChain { job: JobId, escrow_id: u64 },
    /// This node, as a worker, finalized its slot after the challenge window: it was paid
    /// without the client's acceptance.
    FinalizedOnChain { job: JobId, escrow_id: u64 },
    /// A slot an earlier run of this client left unsettled is settled now.
    Recovered(SlotReport),
    /// This node, as an arbitrator, voted on a dispute.
    Voted { dispute_id: u64, worker_right: bool },
}

/// State the node shares with its gateway and its handle.
pub struct Shared {
    pub peer_id: PeerId,
    /// The latest chain-checked reputation record of each worker account heard of.
    pub reputation: Mutex<HashMap<[u8; 32], protocol::ReputationUpdate>>,
    pub jobs: Mutex<HashMap<JobId, ClientJob>>,
    pub metrics: Metrics,
    /// When the event loop last ticked.
    pub heartbeat: Heartbeat,
    pub listen_addrs: Mutex<Vec<Multiaddr>>,
    pub commands: mpsc::Sender<Command>,
    pub events: tokio::sync::broadcast::Sender<NodeEvent>,
    sandbox: Sandbox,
    /// Turns to compile a submitted module (see [`check`]).
    compiling: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// Events from now on. A receiver that falls more than 4096 events behind misses
    /// the oldest.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    fn emit(&self, event: NodeEvent) {
        let _ = self.events.send(event);
    }

    pub fn job(&self, id: &JobId) -> Option<ClientJob> {
        self.jobs.lock().expect("jobs lock").get(id).cloned()
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Checks a job off the event loop (see [`check`]), then hands it to the node.
    pub async fn submit(&self, request: JobRequest) -> Result<JobId, SubmitError> {
        let checked = check(&self.sandbox, &self.compiling, request, COMPILE_BUDGET).await?;
        self.ask(|tx| Command::Submit(Box::new(checked), tx))
            .await
            .ok_or(SubmitError::Stopped)
    }

    pub async fn find_workers(&self, capability: &str, count: usize) -> Vec<PeerId> {
        self.ask(|reply| Command::FindWorkers {
            capability: capability.into(),
            count,
            reply,
        })
        .await
        .unwrap_or_default()
    }

    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.ask(Command::Peers).await.unwrap_or_default()
    }
}

/// A running node.
pub struct NodeHandle {
    pub shared: Arc<Shared>,
    /// Where the gateway listens, when it runs.
    pub http: Option<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
    gateway: Option<tokio::task::JoinHandle<()>>,
}

impl NodeHandle {
    pub fn peer_id(&self) -> PeerId {
        self.shared.peer_id
    }

    /// The listen addresses, each with the `/p2p/` suffix others dial.
    pub fn addrs(&self) -> Vec<Multiaddr> {
        self.shared
            .listen_addrs
            .lock()
            .expect("addrs lock")
            .iter()
            .map(|a| a.clone().with(Protocol::P2p(self.peer_id())))
            .collect()
    }

    /// Stops the node at once, as a crash would: connections drop, nothing is said.
    pub fn kill(&self) {
        self.task.abort();
        if let Some(g) = &self.gateway {
            g.abort();
        }
    }

    /// Waits for the node's task to end (it ends when killed).
    pub async fn join(&mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.kill();
    }
}

enum Pending {
    Bid(JobId),
    Escrowed,
    Assign {
        job: JobId,
        worker: PeerId,
    },
    Fetch {
        job: JobId,
        hash: Hash,
    },
    /// An arbitrator's fetch of a disputed job's module or input, from the client or,
    /// failing that, from the disputed worker.
    Evidence {
        dispute_id: u64,
        hash: Hash,
        from_worker: bool,
    },
    Commit(JobId),
    Result(JobId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WorkState {
    Bid,
    Fetching,
    Running,
    Committing,
    Delivering,
    Done,
}

struct WorkerJob {
    client: PeerId,
    announcement: JobAnnouncement,
    state: WorkState,
    assignment: Option<Assignment>,
    blobs: HashMap<Hash, Vec<u8>>,
    outcome: Option<Outcome>,
    seen: Instant,
    /// The client's escrow job for this work, once it is assigned on chain.
    escrow: Option<u64>,
    /// The salt of this worker's on-chain commitment to its result (a felt, big-endian).
    salt: [u8; 32],
    submitted: bool,
    /// The result is committed on chain and its slot not settled yet: the job's module and
    /// input are kept, in case a dispute needs them.
    settling: bool,
    /// The slot was disputed: arbitrators may fetch the job from this worker, so a client
    /// cannot starve them of it.
    disputed_at: Option<Instant>,
}

struct Lookup {
    capability: String,
    count: usize,
    found: BTreeSet<PeerId>,
    shards: Vec<u16>,
    running: usize,
    replies: Vec<oneshot::Sender<Vec<PeerId>>>,
}

enum Internal {
    Executed {
        job: JobId,
        result: Result<Execution, SandboxError>,
    },
    /// An arbitrator's own run of a disputed job.
    Rerun {
        dispute_id: u64,
        result: Result<Execution, SandboxError>,
    },
}

/// What the chain says of a peer, and when it said it.
#[derive(Clone)]
enum Backed {
    Yes(Backer, Instant),
    No(Instant),
}

/// The node's side of its link to the chain (see [`crate::chain`]).
/// A dispute this node arbitrates: the evidence, and the job's module and input as they
/// arrive from the client.
struct Arbitration {
    evidence: protocol::Evidence,
    worker_result: starknet::core::types::Felt,
    blobs: HashMap<Hash, Vec<u8>>,
}

/// Evidence this client publishes until the dispute is old.
struct Published {
    evidence: protocol::Evidence,
    next: Instant,
}

/// Evidence is published this many times, a few seconds apart, for arbitrators that join
/// late or miss one.
const EVIDENCE_ROUNDS: u32 = 10;

/// How long a worker keeps a job whose slot is still settling on chain.
const SETTLING_RETENTION: Duration = Duration::from_secs(3600);
/// How long a worker keeps a disputed job for the arbitrators to fetch.
const DISPUTED_RETENTION: Duration = Duration::from_secs(600);

struct ChainLink {
    to: mpsc::UnboundedSender<ToChain>,
    /// This node's own backing, sent with its bids and ads.
    backing: Backing,
    /// This node's own standing, as last read.
    own: Option<Backer>,
    /// Signs this node's consents, sent with its bids.
    bidder: Bidder,
    /// The consents of the bids this client holds, until their job settles.
    consents: HashMap<(JobId, PeerId), Consent>,
    collateral: u128,
    /// The most collateral this node consents to lock as a worker.
    max_collateral: Option<u128>,
    backers: HashMap<PeerId, Backed>,
    verifying: HashSet<PeerId>,
    parked_bids: HashMap<PeerId, Vec<Bid>>,
    parked_ads: HashMap<PeerId, CapabilityAd>,
}

/// A verdict on a peer's backing is trusted this long…
const BACKING_TTL: Duration = Duration::from_secs(30);
/// …and used this long while a fresh one is fetched.
const BACKING_STALE: Duration = Duration::from_secs(300);
/// How far reputation moves a peer's gossip score: from −10 (score 0) to +10 (score 1).
const REPUTATION_GOSSIP_WEIGHT: f64 = 20.0;

impl ChainLink {
    /// The chain's verdict on `peer` backed by `account`, if there is one to go by. A
    /// verdict older than [`BACKING_TTL`] still stands, up to [`BACKING_STALE`], while a
    /// fresh one is fetched, so a busy chain never holds up bids from known workers.
    fn backed(&mut self, peer: &PeerId, backing: &Backing) -> Option<Backed> {
        let verdict = self.backers.get(peer).cloned();
        let (matches, age) = match &verdict {
            Some(Backed::Yes(backer, at)) => (
                backer.account.to_bytes_be() == backing.account,
                at.elapsed(),
            ),
            Some(Backed::No(at)) => (true, at.elapsed()),
            None => return None,
        };
        if !matches || age >= BACKING_STALE {
            return None;
        }
        if age >= BACKING_TTL {
            self.verify(*peer, backing.clone());
        }
        verdict
    }

    fn account_of(&self, peer: &PeerId) -> Option<starknet::core::types::Felt> {
        match self.backers.get(peer) {
            Some(Backed::Yes(backer, _)) => Some(backer.account),
            _ => None,
        }
    }

    /// Asks the chain about `peer` unless a question is out already.
    fn verify(&mut self, peer: PeerId, backing: Backing) {
        if self.verifying.insert(peer) {
            let _ = self.to.send(ToChain::Verify { peer, backing });
        }
    }
}

#[derive(Default)]
struct PeerRecord {
    addrs: Vec<Multiaddr>,
    agent: Option<String>,
}

/// Lookups run this many shard queries at once.
const LOOKUP_PARALLELISM: usize = 8;
/// How often the node looks at its jobs, timers and limits.
const TICK: Duration = Duration::from_millis(25);
/// A job with nobody left to assign is announced again after this long.
const REANNOUNCE: Duration = Duration::from_secs(2);
/// About this many bids per required worker answer a first announcement.
const BID_FANOUT: f64 = 6.0;

pub struct Node {
    swarm: Swarm<Behaviour>,
    key: Keypair,
    me: PeerId,
    config: NodeConfig,
    sandbox: Sandbox,
    shared: Arc<Shared>,
    metrics: Metrics,
    limits: Limits,
    ads: AdCache,
    peers: HashMap<PeerId, PeerRecord>,
    blobs: HashMap<Hash, Arc<Vec<u8>>>,
    pending: HashMap<OutboundRequestId, Pending>,
    lookups: HashMap<u64, Lookup>,
    queries: HashMap<kad::QueryId, u64>,
    next_lookup: u64,
    /// Jobs waiting for a subscribed peer to announce to.
    unannounced: HashSet<JobId>,
    work: HashMap<JobId, WorkerJob>,
    internal: mpsc::UnboundedSender<Internal>,
    started: Instant,
    last_ad: Option<Instant>,
    last_health: Instant,
    last_expiry: Instant,
    /// Provider records published so far, and when to publish them again.
    provided: u32,
    next_provide: Option<Instant>,
    chain: Option<ChainLink>,
    /// Disputes this node arbitrates, by dispute id (an arbitrator only).
    arbitrations: HashMap<u64, Arbitration>,
    /// Disputes this node opened, by dispute id, with their evidence (a client only).
    evidence: HashMap<u64, Published>,
    /// Kept so the channel stays open on a node without a chain.
    _from_chain: mpsc::UnboundedSender<FromChain>,
}

impl Node {
    /// Starts a node: builds the swarm, listens, joins through the bootstrap peers, and
    /// runs the event loop (and the gateway, when configured) in the background.
    pub async fn start(config: NodeConfig) -> anyhow::Result<NodeHandle> {
        config.check()?;
        let key = match &config.key_file {
            Some(path) => crate::identity::load_or_create(path)?,
            None => Keypair::generate_ed25519(),
        };
        let me = key.public().to_peer_id();
        let mut swarm = network::swarm(key.clone(), &config.network).await?;

        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?;
        }
        let mut listening = Vec::new();
        while listening.len() < config.listen.len() {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => listening.push(address),
                SwarmEvent::ListenerError { error, .. } => {
                    anyhow::bail!("listener failed: {error}")
                }
                SwarmEvent::ListenerClosed {
                    addresses, reason, ..
                } => anyhow::bail!("listener on {addresses:?} closed: {reason:?}"),
                _ => {}
            }
        }
        if config.reachable {
            for addr in listening.iter().chain(&config.external) {
                swarm.add_external_address(addr.clone());
            }
            swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Server));
        } else {
            swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Client));
        }

        let gossip = &mut swarm.behaviour_mut().gossipsub;
        let mut subscribe = |topic: String| {
            gossip
                .subscribe(&IdentTopic::new(topic))
                .map(|_| ())
                .map_err(|e| anyhow::anyhow!("subscribing: {e}"))
        };
        subscribe(topics::CAPABILITIES.into())?;
        subscribe(topics::HEALTH.into())?;
        subscribe(topics::REPUTATION.into())?;
        if config.chain.as_ref().is_some_and(|c| c.arbitrate) {
            subscribe(topics::DISPUTES.into())?;
        }
        for capability in &config.capabilities {
            subscribe(topics::jobs(capability))?;
        }

        for addr in &config.bootstrap {
            let peer = peer_of(addr).expect("checked by NodeConfig::check");
            if peer == me {
                continue;
            }
            swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            if let Err(e) = swarm.dial(addr.clone()) {
                tracing::warn!(%addr, "bootstrap dial failed: {e}");
            }
        }
        if !config.bootstrap.is_empty() {
            let _ = swarm.behaviour_mut().kad.bootstrap();
        }

        let (from_chain_tx, from_chain) = mpsc::unbounded_channel();
        let chain = match &config.chain {
            Some(settings) => {
                let (to, backing, bidder) =
                    Settler::start(settings.clone(), me, from_chain_tx.clone()).await?;
                Some(ChainLink {
                    to,
                    backing,
                    own: None,
                    bidder,
                    consents: HashMap::new(),
                    collateral: settings.collateral,
                    max_collateral: settings.max_collateral,
                    backers: HashMap::new(),
                    verifying: HashSet::new(),
                    parked_bids: HashMap::new(),
                    parked_ads: HashMap::new(),
                })
            }
            None => None,
        };

        let (commands_tx, commands) = mpsc::channel(256);
        let (internal, internal_rx) = mpsc::unbounded_channel();
        let metrics = Metrics::default();
        let sandbox = Sandbox::new()?;
        let shared = Arc::new(Shared {
            peer_id: me,
            reputation: Mutex::default(),
            jobs: Mutex::default(),
            metrics: metrics.clone(),
            heartbeat: Heartbeat::default(),
            listen_addrs: Mutex::new(listening),
            commands: commands_tx,
            events: tokio::sync::broadcast::channel(4096).0,
            sandbox: sandbox.clone(),
            compiling: Arc::new(tokio::sync::Semaphore::new(COMPILING_AT_ONCE)),
        });
        let (http, gateway) = match config.http {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("gateway on {addr}: {e}"))?;
                let bound = listener.local_addr()?;
                let app = crate::gateway::router(shared.clone());
                let task = tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!("gateway stopped: {e}");
                    }
                });
                (Some(bound), Some(task))
            }
            None => (None, None),
        };

        let node = Node {
            swarm,
            key,
            me,
            limits: Limits::new(config.policy.clone()),
            sandbox,
            shared: shared.clone(),
            metrics,
            ads: AdCache::default(),
            peers: HashMap::new(),
            blobs: HashMap::new(),
            pending: HashMap::new(),
            lookups: HashMap::new(),
            queries: HashMap::new(),
            next_lookup: 0,
            unannounced: HashSet::new(),
            work: HashMap::new(),
            internal,
            started: Instant::now(),
            last_ad: None,
            last_health: Instant::now(),
            last_expiry: Instant::now(),
            provided: 0,
            next_provide: None,
            chain,
            arbitrations: HashMap::new(),
            evidence: HashMap::new(),
            _from_chain: from_chain_tx,
            config,
        };
        let task = tokio::spawn(node.run(commands, internal_rx, from_chain));
        Ok(NodeHandle {
            shared,
            http,
            task,
            gateway,
        })
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
        mut from_chain: mpsc::UnboundedReceiver<FromChain>,
    ) {
        if self.config.bootstrap.is_empty() {
            self.provide();
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm(event),
                Some(command) = commands.recv() => self.on_command(command),
                Some(done) = internal.recv() => self.on_executed(done),
                Some(message) = from_chain.recv() => self.on_chain(message),
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    // ----- swarm events -------------------------------------------------------------

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossipsub(event),
            SwarmEvent::Behaviour(BehaviourEvent::Jobs(event)) => self.on_jobs(event),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                if info.protocol_version != network::IDENTIFY_VERSION {
                    tracing::debug!(peer = %peer_id, version = info.protocol_version, "not a CIRO peer");
                    return;
                }
                if info.protocols.contains(&network::KAD_PROTOCOL) {
                    for addr in &info.listen_addrs {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, addr.clone());
                    }
                }
                let record = self.peers.entry(peer_id).or_default();
                record.addrs = info.listen_addrs;
                record.agent = Some(info.agent_version);
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                self.peers.entry(peer_id).or_default();
                self.metrics
                    .peers
                    .set(self.swarm.connected_peers().count() as i64);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                self.metrics
                    .peers
                    .set(self.swarm.connected_peers().count() as i64);
                if num_established == 0 {
                    self.worker_lost(peer_id);
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                let mut addrs = self.shared.listen_addrs.lock().expect("addrs lock");
                if !addrs.contains(&address) {
                    addrs.push(address);
                }
            }
            _ => {}
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id, result, step, ..
        } = event
        else {
            return;
        };
        match result {
            kad::QueryResult::Bootstrap(Ok(kad::BootstrapOk {
                num_remaining: 0, ..
            })) if self.provided == 0 => self.provide(),
            kad::QueryResult::Bootstrap(Err(e)) => {
                tracing::warn!("DHT bootstrap: {e:?}");
                if self.provided == 0 {
                    self.provide();
                }
            }
            kad::QueryResult::GetProviders(result) => {
                let Some(&lookup_id) = self.queries.get(&id) else {
                    return;
                };
                if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result {
                    if let Some(lookup) = self.lookups.get_mut(&lookup_id) {
                        lookup
                            .found
                            .extend(providers.into_iter().filter(|p| *p != self.me));
                    }
                }
                let enough = self
                    .lookups
                    .get(&lookup_id)
                    .is_some_and(|l| l.found.len() >= l.count);
                if step.last || enough {
                    if !step.last {
                        if let Some(mut q) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                            q.finish();
                        }
                    }
                    self.queries.remove(&id);
                    if let Some(lookup) = self.lookups.get_mut(&lookup_id) {
                        lookup.running -= 1;
                    }
                    self.advance_lookup(lookup_id);
                }
            }
            _ => {}
        }
    }

    /// Advertises this worker's capabilities as provider records under its shard.
    ///
    /// A record goes to the peers closest to its key among those known at the time. A
    /// node that joins a young network knows few, so it publishes again as its routing
    /// table fills (after 2 s and 10 s); after that Kademlia republishes hourly.
    fn provide(&mut self) {
        if self.config.capabilities.is_empty() {
            return;
        }
        const AGAIN: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(10)];
        self.next_provide = AGAIN
            .get(self.provided as usize)
            .map(|after| Instant::now() + *after);
        self.provided += 1;
        let shard = discovery::shard_of(&self.me);
        for capability in self.config.capabilities.clone() {
            let key = discovery::provider_key(&capability, shard);
            if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key) {
                tracing::warn!(capability, "providing: {e:?}");
            }
        }
    }

    // ----- gossip ---------------------------------------------------------------------

    fn on_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let (acceptance, kind) =
                    self.on_gossip(propagation_source, &message.topic, &message.data);
                let verdict = match acceptance {
                    MessageAcceptance::Accept => "accept",
                    MessageAcceptance::Ignore => "ignore",
                    MessageAcceptance::Reject => "reject",
                };
                self.metrics
                    .gossip
                    .with_label_values(&[kind, verdict])
                    .inc();
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            gossipsub::Event::Subscribed { topic, .. } => {
                if topics::job_capability(topic.as_str()).is_some() {
                    self.announce_waiting(&topic);
                }
                if topic.as_str() == topics::CAPABILITIES && self.last_ad.is_none() {
                    self.advertise();
                }
            }
            _ => {}
        }
    }

    /// Validates one gossip message and acts on it. The verdict decides whether gossipsub
    /// forwards it, and a rejection counts against the peer that sent it.
    fn on_gossip(
        &mut self,
        from: PeerId,
        topic: &TopicHash,
        data: &[u8],
    ) -> (MessageAcceptance, &'static str) {
        let (signer, message) = match protocol::open(data, topic.as_str()) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::debug!(peer = %from, "rejected gossip: {e}");
                self.penalize(from, e.label());
                return (MessageAcceptance::Reject, "invalid");
            }
        };
        let kind = message.kind();
        if self.limits.is_banned(&signer) {
            return (MessageAcceptance::Reject, kind);
        }
        if !self.limits.allow(&signer, Channel::Gossip) {
            self.penalize(signer, "rate-limited");
            return (MessageAcceptance::Ignore, kind);
        }
        if signer == self.me {
            return (MessageAcceptance::Ignore, kind);
        }
        match message {
            Gossip::Job(job) => self.on_announcement(signer, job),
            Gossip::Capabilities(ad) => {
                for addr in addrs_from_wire(&ad.addrs) {
                    self.swarm.add_peer_address(signer, addr);
                }
                self.on_ad(signer, ad);
            }
            Gossip::Reputation(update) => {
                if let Some(link) = &self.chain {
                    let _ = link.to.send(ToChain::CheckReputation {
                        from: signer,
                        update,
                    });
                }
            }
            Gossip::Health(_) => {}
            Gossip::Evidence(evidence) => {
                if !evidence.names_its_job(&signer) {
                    self.penalize(signer, "bad-evidence");
                    return (MessageAcceptance::Reject, kind);
                }
                let arbitrating = self
                    .chain
                    .as_ref()
                    .filter(|_| self.config.chain.as_ref().is_some_and(|c| c.arbitrate));
                if let Some(link) = arbitrating {
                    if !self.arbitrations.contains_key(&evidence.dispute_id) {
                        let _ = link.to.send(ToChain::Arbitrate {
                            client: signer,
                            evidence,
                        });
                    }
                }
            }
        }
        (MessageAcceptance::Accept, kind)
    }

    /// A worker's capability ad. When the network settles on chain, only the ads of peers
    /// the chain backs count; the others are ignored and their senders penalized.
    fn on_ad(&mut self, signer: PeerId, ad: CapabilityAd) {
        let Some(link) = &mut self.chain else {
            self.ads.insert(signer, ad, Instant::now());
            return;
        };
        let Some(backing) = ad.backing.clone() else {
            self.penalize(signer, "unbacked");
            return;
        };
        match link.backed(&signer, &backing) {
            Some(Backed::Yes(backer, _)) if backer.active => {
                self.ads.insert(signer, ad, Instant::now());
            }
            Some(_) => self.penalize(signer, "unbacked"),
            None => {
                link.parked_ads.insert(signer, ad);
                link.verify(signer, backing);
            }
        }
    }

    /// The gossip score reputation earns `peer`, from the reputation source: 0 without a
    /// chain or a standing.
    fn reputation_score(&self, peer: &PeerId) -> f64 {
        let account = self.chain.as_ref().and_then(|l| l.account_of(peer));
        if account.is_none() {
            return 0.0;
        }
        self.config
            .reputation
            .standing(peer, account)
            .map(|s| (s.reputation_ppm as f64 / 1e6 - 0.5) * REPUTATION_GOSSIP_WEIGHT)
            .unwrap_or(0.0)
    }

    /// A strike against `peer`: its gossip score falls with its live strike count, and
    /// persistent abuse bans it. The score reaches gossipsub's graylist threshold exactly
    /// when the strikes reach the ban, so a peer is never silenced by gossipsub before
    /// the node has decided to ban it.
    fn penalize(&mut self, peer: PeerId, reason: &'static str) {
        self.metrics.penalties.with_label_values(&[reason]).inc();
        let verdict = self.limits.strike(peer, Instant::now());
        let score = match verdict {
            _ if self.limits.is_banned(&peer) => -1000.0,
            Verdict::Tolerated(strikes) => {
                let graylist = network::peer_score().1.graylist_threshold;
                // Reputation may soften strikes, never enough to keep a peer that earned a
                // ban out of the graylist.
                let strikes_score =
                    graylist * 0.99 * strikes as f64 / self.config.policy.ban_strikes.max(1) as f64;
                strikes_score + self.reputation_score(&peer).min(-strikes_score * 0.01)
            }
            Verdict::Banned => -1000.0,
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, score);
        if verdict == Verdict::Banned {
            tracing::warn!(%peer, reason, "banning a peer");
            self.metrics.bans.inc();
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            self.ads.remove(&peer);
        }
    }

    fn publish(&mut self, message: &Gossip) -> Result<(), gossipsub::PublishError> {
        let data = protocol::seal(&self.key, message);
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(IdentTopic::new(message.topic()), data)
            .map(|_| ())
    }

    fn advertised_addrs(&self) -> Vec<Vec<u8>> {
        if !self.config.reachable {
            return Vec::new();
        }
        let addrs = self.shared.listen_addrs.lock().expect("addrs lock").clone();
        addrs_to_wire(self.config.external.iter().chain(addrs.iter()))
    }

    fn advertise(&mut self) {
        if self.config.capabilities.is_empty() {
            return;
        }
        // A worker the chain does not back yet has nothing to offer.
        let backing = match &self.chain {
            Some(link) => match &link.own {
                Some(own) if own.active => Some(link.backing.clone()),
                _ if self.config.conduct == WorkerConduct::IgnoreStake => {
                    Some(link.backing.clone())
                }
                _ => return,
            },
            None => None,
        };
        let ad = Gossip::Capabilities(CapabilityAd {
            capabilities: self.config.capabilities.clone(),
            min_price: self.config.min_price,
            slots: self.config.slots,
            issued_ms: now_ms(),
            ttl_secs: self.config.ad_ttl.as_secs().clamp(1, 3600) as u32,
            addrs: self.advertised_addrs(),
            backing,
        });
        if self.publish(&ad).is_ok() {
            self.last_ad = Some(Instant::now());
        }
    }

    // ----- client: submitting, announcing, selecting, verifying ----------------------

    /// A job [`Shared::submit`] has checked: it is announced at once.
    fn submit(&mut self, checked: Checked) -> JobId {
        let Checked {
            request,
            module,
            input,
            spec,
        } = checked;
        let now = now_ms();
        let nonce: [u8; 16] = rand_nonce();
        let id = protocol::job_id(&self.me, &spec, &nonce);
        self.blobs.insert(module, Arc::new(request.module));
        self.blobs.insert(input, Arc::new(request.input));
        let mut job = ClientJob::new(
            id,
            spec,
            request.capability,
            request.reward,
            request.redundancy,
            request.limits,
            module,
            input,
            now,
            now + request.deadline.as_millis() as u64,
        );
        job.nonce = nonce;
        if let Some(link) = &self.chain {
            let _ = link.to.send(ToChain::Created {
                job: id,
                slots: job.redundancy,
                reward: job.reward,
                capability: job.capability.clone(),
                deadline_ms: job.deadline_ms,
            });
        }
        self.shared.jobs.lock().expect("jobs lock").insert(id, job);
        self.announce(id);
        id
    }

    /// Publishes the job's announcement; with nobody subscribed yet, looks for workers
    /// and waits for one to appear.
    fn announce(&mut self, id: JobId) {
        let Some(job) = self.shared.job(&id) else {
            return;
        };
        if !job.is_open() {
            self.unannounced.remove(&id);
            return;
        }
        let announcement = Gossip::Job(JobAnnouncement {
            job_id: id,
            spec_hash: job.spec_hash,
            capability: job.capability.clone(),
            reward: job.reward,
            deadline_ms: job.deadline_ms,
            redundancy: job.redundancy,
            limits: job.limits,
            addrs: self.advertised_addrs(),
            round: job.announcements,
        });
        match self.publish(&announcement) {
            Ok(()) => {
                self.shared.emit(NodeEvent::Announced {
                    job: id,
                    at: Instant::now(),
                });
                self.unannounced.remove(&id);
                let mut jobs = self.shared.jobs.lock().expect("jobs lock");
                if let Some(job) = jobs.get_mut(&id) {
                    job.announced_ms.get_or_insert(now_ms());
                    job.announcements += 1;
                    job.last_announced_ms = now_ms();
                }
            }
            Err(e) => {
                tracing::debug!(job = %id, "announcement waits: {e}");
                self.unannounced.insert(id);
                // Nobody to send it to: look for workers, one lookup per capability at a
                // time. (A full queue is only retried.)
                let looking = self
                    .lookups
                    .values()
                    .any(|l| l.capability == job.capability);
                if matches!(e, gossipsub::PublishError::NoPeersSubscribedToTopic) && !looking {
                    self.start_lookup(job.capability.clone(), job.redundancy as usize * 2, None);
                }
            }
        }
    }

    fn announce_waiting(&mut self, topic: &TopicHash) {
        let waiting: Vec<JobId> = {
            let jobs = self.shared.jobs.lock().expect("jobs lock");
            self.unannounced
                .iter()
                .filter(|id| {
                    jobs.get(id)
                        .is_some_and(|j| topics::jobs(&j.capability) == topic.as_str())
                })
                .copied()
                .collect()
        };
        for id in waiting {
            self.announce(id);
        }
    }

    /// A bid. When the network settles on chain, a bid counts only once the chain backs
    /// the worker for the job's capability with enough free stake; until the chain has
    /// answered, the bid waits.
    fn on_bid(&mut self, worker: PeerId, bid: Bid) -> Response {
        let mut account = None;
        if let Some(link) = &mut self.chain {
            let Some(backing) = bid.backing.clone() else {
                self.penalize(worker, "unbacked");
                return Response::Refused(Refusal::Unbacked);
            };
            let Some(job) = self.shared.job(&bid.job_id) else {
                return Response::Refused(Refusal::UnknownJob);
            };
            // Without a consent to these terms the escrow would refuse the assignment.
            let consents = bid.consent.as_ref().is_some_and(|c| {
                c.price <= job.reward
                    && c.collateral >= link.collateral
                    && c.deadline.saturating_mul(1000) >= job.deadline_ms
                    && c.expiry > now_ms() / 1000
            });
            if !consents {
                return Response::Refused(Refusal::Unconsented);
            }
            match link.backed(&worker, &backing) {
                Some(Backed::Yes(backer, _)) if backer.backs(&job.capability, link.collateral) => {
                    account = Some(backer.account);
                }
                Some(_) => {
                    self.penalize(worker, "unbacked");
                    return Response::Refused(Refusal::Unbacked);
                }
                None => {
                    link.parked_bids.entry(worker).or_default().push(bid);
                    link.verify(worker, backing);
                    return Response::Ack;
                }
            }
        }
        let standing = self
            .config
            .reputation
            .standing(&worker, account)
            .unwrap_or(Standing::UNKNOWN);
        let mut jobs = self.shared.jobs.lock().expect("jobs lock");
        let Some(job) = jobs.get_mut(&bid.job_id) else {
            return Response::Refused(Refusal::UnknownJob);
        };
        let score = self.config.weights.score(
            standing,
            bid.price,
            job.reward,
            bid.eta_ms,
            job.limits.timeout_ms,
        );
        match job.add_bid(worker, &bid, score, now_ms()) {
            Ok(()) => {
                if let (Some(link), Some(consent)) = (&mut self.chain, bid.consent) {
                    link.consents.insert((bid.job_id, worker), consent);
                }
                Response::Ack
            }
            Err(refusal) => Response::Refused(refusal),
        }
    }

    /// Assigns workers where a job wants them, and re-announces jobs with no one left:
    /// one job right after an event that concerns it, every job on the clock.
    fn drive_jobs(&mut self, only: Option<JobId>) {
        let now = now_ms();
        let grace = self.config.assign_grace.as_millis() as u64;
        let window = self.config.bid_window.as_millis() as u64;
        let mut assign = Vec::new();
        let mut reannounce = Vec::new();
        {
            let mut jobs = self.shared.jobs.lock().expect("jobs lock");
            let selected: Vec<&mut ClientJob> = match only {
                Some(id) => jobs.get_mut(&id).into_iter().collect(),
                None => jobs.values_mut().collect(),
            };
            for job in selected {
                let was_open = job.is_open();
                job.expire(now);
                if !job.is_open() {
                    if was_open {
                        self.finished(job);
                    }
                    continue;
                }
                let Some(announced) = job.announced_ms else {
                    continue;
                };
                let k = job.redundancy as usize;
                let ready = job.status == JobStatus::Running
                    || job.bids.len() >= 2 * k
                    || (now >= announced + window && !job.bids.is_empty());
                if ready && job.wanted() > 0 {
                    let initial = job.selected_ms.is_none();
                    let chosen = job.select(now, grace);
                    if !initial {
                        self.metrics.reassignments.inc_by(chosen.len() as u64);
                    }
                    for worker in chosen {
                        assign.push((
                            worker,
                            Assignment {
                                job_id: job.id,
                                module: job.module,
                                input: job.input,
                                limits: job.limits,
                                deadline_ms: job
                                    .assignment(&worker)
                                    .expect("just assigned")
                                    .deadline_ms,
                            },
                        ));
                    }
                }
                // No bid at all for a first announcement (every worker drew "no") is
                // retried after three bid windows; anything else after REANNOUNCE.
                let retry = if job.bids.is_empty() && job.announcements == 1 {
                    3 * window
                } else {
                    REANNOUNCE.as_millis() as u64
                };
                if job.wanted() > 0
                    && job.reserve().is_empty()
                    && now >= job.last_announced_ms + retry
                {
                    reannounce.push(job.id);
                }
            }
        }
        for (worker, assignment) in assign {
            let job = assignment.job_id;
            let id = self
                .swarm
                .behaviour_mut()
                .jobs
                .send_request(&worker, Request::Assign(assignment));
            self.pending.insert(id, Pending::Assign { job, worker });
        }
        for id in reannounce {
            self.announce(id);
        }
    }

    fn finished(&self, job: &ClientJob) {
        self.shared.emit(NodeEvent::Settled {
            job: job.id,
            status: job.status,
            at: Instant::now(),
        });
        let status = match job.status {
            JobStatus::Completed => "completed",
            _ => "failed",
        };
        self.metrics.jobs.with_label_values(&[status]).inc();
        tracing::info!(job = %job.id, status, error = ?job.error, "job finished");
        if let Some(link) = &self.chain {
            let (expected, mut verdicts) = verdicts(job);
            if self.config.client_conduct == ClientConduct::Grief {
                // Contest every agreed result, naming the agreed result as the evidence.
                for (_, verdict) in &mut verdicts {
                    if let SlotVerdict::Agreed { result, .. } = verdict {
                        *verdict = SlotVerdict::Wrong { evidence: *result };
                    }
                }
            }
            let _ = link.to.send(ToChain::Finished {
                job: job.id,
                expected,
                verdicts,
            });
        }
    }

    /// Applies `f` to a job, then records its end if `f` ended it.
    fn with_job<T>(&self, id: &JobId, f: impl FnOnce(&mut ClientJob) -> T) -> Option<T> {
        let mut jobs = self.shared.jobs.lock().expect("jobs lock");
        let job = jobs.get_mut(id)?;
        let (was_open, failures) = (job.is_open(), job.verification_failures.len());
        let out = f(job);
        let new_failures = job.verification_failures.len() - failures;
        self.metrics
            .verification_failures
            .inc_by(new_failures as u64);
        if was_open && !job.is_open() {
            self.finished(job);
        }
        Some(out)
    }

    fn worker_lost(&mut self, peer: PeerId) {
        let ids: Vec<JobId> = {
            let jobs = self.shared.jobs.lock().expect("jobs lock");
            jobs.values()
                .filter(|j| j.is_open() && j.assignment(&peer).is_some())
                .map(|j| j.id)
                .collect()
        };
        for id in ids {
            self.with_job(&id, |job| job.lost(&peer, now_ms()));
            self.drive_jobs(Some(id));
        }
    }

    fn serve_fetch(&self, peer: &PeerId, job_id: &JobId, hash: &Hash) -> Response {
        // A worker hands its disputed job to whoever re-runs it.
        if let Some(work) = self.work.get(job_id) {
            if let (Some(_), Some(blob)) = (work.disputed_at, work.blobs.get(hash)) {
                return Response::Blob(blob.clone());
            }
        }
        let jobs = self.shared.jobs.lock().expect("jobs lock");
        let disputed = self.config.client_conduct != ClientConduct::Grief
            && jobs.get(job_id).is_some_and(|job| {
                !job.disputes.is_empty() && (job.module == *hash || job.input == *hash)
            });
        let allowed = disputed
            || jobs.get(job_id).is_some_and(|job| {
                job.is_open()
                    && (job.module == *hash || job.input == *hash)
                    && job.assignment(peer).is_some_and(|a| {
                        matches!(
                            a.state,
                            crate::job::AssignmentState::Offered
                                | crate::job::AssignmentState::Accepted
                        )
                    })
            });
        match (allowed, self.blobs.get(hash)) {
            (true, Some(blob)) => Response::Blob(blob.to_vec()),
            _ => Response::Refused(Refusal::NotAssigned),
        }
    }

    // ----- worker: bidding, fetching, running, reporting -----------------------------

    fn busy(&self) -> usize {
        self.work
            .values()
            .filter(|w| {
                matches!(
                    w.state,
                    WorkState::Fetching
                        | WorkState::Running
                        | WorkState::Committing
                        | WorkState::Delivering
                )
            })
            .count()
    }

    fn on_announcement(&mut self, client: PeerId, job: JobAnnouncement) {
        if !self.config.capabilities.contains(&job.capability) {
            return;
        }
        self.shared.emit(NodeEvent::Heard {
            job: job.job_id,
            at: Instant::now(),
        });
        let backed = match &self.chain {
            Some(link) => {
                self.config.conduct == WorkerConduct::IgnoreStake
                    || link
                        .own
                        .as_ref()
                        .is_some_and(|own| own.backs(&job.capability, 0))
            }
            None => true,
        };
        let bidding = backed
            && job.reward >= self.config.min_price
            && job.deadline_ms > now_ms()
            && self.busy() < self.config.slots as usize
            && !self.work.contains_key(&job.job_id)
            && self.draws_bid(&job);
        if !bidding {
            return;
        }
        // On chain, the bid carries this worker's signed consent: its price, its free stake
        // (capped by `--max-collateral`) as the most collateral, and its result due a margin
        // after the job's deadline.
        let link_and_standing = self
            .chain
            .as_ref()
            .and_then(|link| link.own.as_ref().map(|own| (link, own)));
        let consent = match link_and_standing {
            Some((link, own)) => match link.bidder.consent(
                &job.job_id,
                self.config.min_price,
                crate::chain::offered_collateral(own.free, link.max_collateral),
                job.deadline_ms,
                now_ms() / 1000,
            ) {
                Ok(consent) => Some(consent),
                Err(e) => {
                    tracing::warn!(job = %job.job_id, "signing a consent: {e}");
                    return;
                }
            },
            None => None,
        };
        for addr in addrs_from_wire(&job.addrs) {
            self.swarm.add_peer_address(client, addr);
        }
        let bid = Bid {
            job_id: job.job_id,
            price: self.config.min_price,
            eta_ms: (job.limits.timeout_ms / 4).max(1) * (1 + self.busy() as u32),
            stake_claim: self
                .chain
                .as_ref()
                .and_then(|l| l.own.as_ref())
                .map_or(0, |own| own.stake),
            reputation_claim_ppm: 0,
            backing: self.chain.as_ref().map(|l| l.backing.clone()),
            consent,
        };
        let id = self
            .swarm
            .behaviour_mut()
            .jobs
            .send_request(&client, Request::Bid(bid));
        self.pending.insert(id, Pending::Bid(job.job_id));
        self.work.insert(
            job.job_id,
            WorkerJob {
                client,
                announcement: job,
                state: WorkState::Bid,
                assignment: None,
                blobs: HashMap::new(),
                outcome: None,
                seen: Instant::now(),
                escrow: None,
                salt: random_felt(),
                submitted: false,
                settling: false,
                disputed_at: None,
            },
        );
    }

    /// Whether this worker bids on a first announcement. The client needs a few bids,
    /// not one from every worker: each bids with probability `BID_FANOUT × k / N`, N the
    /// workers it knows offer the capability, so about `BID_FANOUT × k` bid however large
    /// the network. The draw is a hash of the job and the worker, so it is fair and
    /// reproducible. A re-announcement (round > 0) is bid on by everyone.
    fn draws_bid(&self, job: &JobAnnouncement) -> bool {
        if job.round > 0 {
            return true;
        }
        let offering = self.ads.offering(&job.capability, Instant::now()).len() + 1;
        let p = BID_FANOUT * job.redundancy as f64 / offering as f64;
        if p >= 1.0 {
            return true;
        }
        let draw = Hash::of(&[job.job_id.0.as_slice(), &self.me.to_bytes()].concat());
        let draw = u64::from_be_bytes(draw.0[..8].try_into().expect("8 bytes"));
        (draw as f64) < p * u64::MAX as f64
    }

    fn on_assign(&mut self, client: PeerId, assignment: Assignment) -> Response {
        let busy = self.busy();
        let Some(work) = self.work.get_mut(&assignment.job_id) else {
            return Response::Refused(Refusal::UnknownJob);
        };
        if work.client != client || work.state != WorkState::Bid {
            return Response::Refused(Refusal::NotAssigned);
        }
        if work.announcement.limits != assignment.limits {
            return Response::Refused(Refusal::BadRequest);
        }
        if busy >= self.config.slots as usize {
            // Forget the bid, so the worker can bid again when the job is re-announced.
            self.work.remove(&assignment.job_id);
            return Response::Refused(Refusal::Busy);
        }
        work.state = WorkState::Fetching;
        work.assignment = Some(assignment.clone());
        if self.config.conduct == WorkerConduct::Stall {
            return Response::Ack;
        }
        for hash in [assignment.module, assignment.input] {
            let id = self.swarm.behaviour_mut().jobs.send_request(
                &client,
                Request::Fetch {
                    job_id: assignment.job_id,
                    hash,
                },
            );
            self.pending.insert(
                id,
                Pending::Fetch {
                    job: assignment.job_id,
                    hash,
                },
            );
        }
        Response::Ack
    }

    fn on_blob(&mut self, job: JobId, hash: Hash, blob: Vec<u8>) {
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        if Hash::of(&blob) != hash {
            let client = work.client;
            work.state = WorkState::Done;
            self.penalize(client, "bad-blob");
            return;
        }
        work.blobs.insert(hash, blob);
        let assignment = work.assignment.clone().expect("fetching implies assigned");
        let (Some(module), Some(input)) = (
            work.blobs.get(&assignment.module).cloned(),
            work.blobs.get(&assignment.input).cloned(),
        ) else {
            return;
        };
        work.state = WorkState::Running;
        let sandbox = self.sandbox.clone();
        let done = self.internal.clone();
        tokio::task::spawn_blocking(move || {
            let result = sandbox.run(&module, &input, &assignment.limits);
            let _ = done.send(Internal::Executed { job, result });
        });
    }

    fn on_executed(&mut self, done: Internal) {
        let (job, result) = match done {
            Internal::Executed { job, result } => (job, result),
            Internal::Rerun { dispute_id, result } => return self.on_rerun(dispute_id, result),
        };
        let (label, fuel) = match &result {
            Ok(e) => {
                self.metrics
                    .execution_seconds
                    .observe(e.elapsed.as_secs_f64());
                ("ok", e.fuel_used)
            }
            Err(_) => ("error", 0),
        };
        self.metrics.executions.with_label_values(&[label]).inc();
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        let mut outcome = match result {
            Ok(e) => Outcome::Output(e.output),
            Err(e) => Outcome::Error(e.to_string()),
        };
        if self.config.conduct == WorkerConduct::Lie {
            outcome = match outcome {
                Outcome::Output(mut bytes) => {
                    bytes.push(0xff);
                    Outcome::Output(bytes)
                }
                Outcome::Error(_) => Outcome::Output(b"made up".to_vec()),
            };
        }
        let commit = ResultCommit {
            job_id: job,
            result: outcome.hash(),
            fuel_used: fuel,
            salt: work.salt,
        };
        work.state = WorkState::Committing;
        work.outcome = Some(outcome);
        let client = work.client;
        self.submit_on_chain(job);
        let id = self
            .swarm
            .behaviour_mut()
            .jobs
            .send_request(&client, Request::Commit(commit));
        self.pending.insert(id, Pending::Commit(job));
    }

    fn deliver(&mut self, job: JobId) {
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        let (output, error) = match work.outcome.clone() {
            Some(Outcome::Output(bytes)) => (bytes, None),
            Some(Outcome::Error(message)) => (Vec::new(), Some(message)),
            None => return,
        };
        work.state = WorkState::Delivering;
        let client = work.client;
        let id = self.swarm.behaviour_mut().jobs.send_request(
            &client,
            Request::Result {
                job_id: job,
                output,
                error,
            },
        );
        self.pending.insert(id, Pending::Result(job));
    }

    /// Sends the worker's committed result to its escrow job, once both are known.
    fn submit_on_chain(&mut self, job: JobId) {
        let Some(link) = &self.chain else {
            return;
        };
        let Some(work) = self.work.get_mut(&job) else {
            return;
        };
        if let (Some(escrow_id), Some(outcome), false) =
            (work.escrow, &work.outcome, work.submitted)
        {
            work.submitted = true;
            let _ = link.to.send(ToChain::Submit {
                job,
                escrow_id,
                result: outcome.hash(),
                salt: work.salt,
            });
        }
    }

    // ----- the chain ------------------------------------------------------------------

    fn on_chain(&mut self, message: FromChain) {
        match message {
            FromChain::Verified {
                peer,
                backing,
                verdict,
            } => self.on_verified(peer, backing, verdict),
            FromChain::OwnStanding(backer) => {
                let became_active = backer.active
                    && self
                        .chain
                        .as_ref()
                        .is_some_and(|l| !l.own.as_ref().is_some_and(|o| o.active));
                if let Some(link) = &mut self.chain {
                    link.own = Some(backer);
                }
                if became_active {
                    self.advertise();
                }
            }
            FromChain::Slots { job, escrow_ids } => {
                self.with_job(&job, |j| j.escrow_ids.extend(escrow_ids));
            }
            FromChain::Escrowed {
                job,
                worker,
                escrow_id,
            } => {
                let id = self.swarm.behaviour_mut().jobs.send_request(
                    &worker,
                    Request::Escrowed {
                        job_id: job,
                        escrow_id,
                    },
                );
                self.pending.insert(id, Pending::Escrowed);
            }
            FromChain::Refused { job, message } => {
                self.with_job(&job, |j| j.chain_errors.push(message));
            }
            FromChain::Settled { job, slots } => {
                if let Some(link) = &mut self.chain {
                    link.consents.retain(|(j, _), _| *j != job);
                }
                self.with_job(&job, |j| j.settlement = Some(slots.clone()));
                self.shared.emit(NodeEvent::SettledOnChain { job, slots });
            }
            FromChain::Disputed {
                job,
                escrow_id,
                dispute_id,
                worker,
            } => self.on_disputed(job, escrow_id, dispute_id, worker),
            FromChain::Rerun {
                client,
                evidence,
                worker_result,
            } => self.on_rerun_wanted(client, evidence, worker_result),
            FromChain::Voted {
                dispute_id,
                worker_right,
            } => {
                tracing::info!(dispute_id, worker_right, "arbitrated");
                self.shared.emit(NodeEvent::Voted {
                    dispute_id,
                    worker_right,
                });
            }
            FromChain::Recovered(report) => {
                tracing::info!(?report, "settled a slot left by an earlier run");
                self.shared.emit(NodeEvent::Recovered(report));
            }
            FromChain::Finalized { job, escrow_id } => {
                self.shared
                    .emit(NodeEvent::FinalizedOnChain { job, escrow_id });
            }
            FromChain::Submitted { job, escrow_id } => {
                if let Some(work) = self.work.get_mut(&job) {
                    work.settling = true;
                }
                self.shared
                    .emit(NodeEvent::SubmittedOnChain { job, escrow_id });
            }
            FromChain::WorkSettled { job, disputed } => {
                if let Some(work) = self.work.get_mut(&job) {
                    work.settling = false;
                    if disputed {
                        work.disputed_at = Some(Instant::now());
                    }
                }
            }
            FromChain::Reputation(update) => {
                if let Err(e) = self.publish(&Gossip::Reputation(update)) {
                    tracing::debug!("reputation update not published: {e}");
                }
            }
            FromChain::ReputationChecked {
                from,
                update,
                genuine,
            } => {
                if genuine {
                    self.metrics.reputation_updates.inc();
                    self.shared
                        .reputation
                        .lock()
                        .expect("reputation lock")
                        .insert(update.worker, update);
                } else {
                    self.penalize(from, "forged-reputation");
                }
            }
        }
    }

    /// A client's dispute is open: publish the evidence for the arbitrators.
    fn on_disputed(&mut self, job: JobId, escrow_id: u64, dispute_id: u64, worker: PeerId) {
        let Some(record) = self.with_job(&job, |j| {
            j.disputes.push(dispute_id);
            j.clone()
        }) else {
            return;
        };
        let failure = record
            .verification_failures
            .iter()
            .find(|f| f.worker == worker);
        let evidence = protocol::Evidence {
            escrow_id,
            dispute_id,
            job_id: job,
            nonce: record.nonce,
            module: record.module,
            input: record.input,
            capability: record.capability.clone(),
            limits: record.limits,
            worker: worker.to_bytes(),
            claimed: failure.and_then(|f| f.claimed),
            accepted: failure
                .and_then(|f| f.accepted)
                .or(record.result.as_ref().map(|r| r.hash)),
            addrs: self.advertised_addrs(),
            round: 0,
        };
        tracing::info!(%job, dispute_id, "dispute opened; publishing the evidence");
        self.evidence.insert(
            dispute_id,
            Published {
                evidence,
                next: Instant::now(),
            },
        );
        self.publish_evidence();
    }

    /// Publishes the evidence that is due, each a few times in all.
    fn publish_evidence(&mut self) {
        let now = Instant::now();
        let due: Vec<u64> = self
            .evidence
            .iter()
            .filter(|(_, p)| p.next <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(published) = self.evidence.get_mut(&id) else {
                continue;
            };
            let message = Gossip::Evidence(published.evidence.clone());
            published.evidence.round += 1;
            published.next = now + Duration::from_secs(3);
            if published.evidence.round >= EVIDENCE_ROUNDS {
                self.evidence.remove(&id);
            }
            if let Err(e) = self.publish(&message) {
                tracing::debug!(dispute = id, "evidence not published yet: {e}");
            }
        }
    }

    /// The chain confirmed the evidence: fetch the job from its client and run it.
    fn on_rerun_wanted(
        &mut self,
        client: PeerId,
        evidence: protocol::Evidence,
        worker_result: starknet::core::types::Felt,
    ) {
        if self.arbitrations.contains_key(&evidence.dispute_id) {
            return;
        }
        for addr in addrs_from_wire(&evidence.addrs) {
            self.swarm.add_peer_address(client, addr);
        }
        for hash in [evidence.module, evidence.input] {
            let id = self.swarm.behaviour_mut().jobs.send_request(
                &client,
                Request::Fetch {
                    job_id: evidence.job_id,
                    hash,
                },
            );
            self.pending.insert(
                id,
                Pending::Evidence {
                    dispute_id: evidence.dispute_id,
                    hash,
                    from_worker: false,
                },
            );
        }
        self.arbitrations.insert(
            evidence.dispute_id,
            Arbitration {
                evidence,
                worker_result,
                blobs: HashMap::new(),
            },
        );
    }

    fn on_evidence_blob(&mut self, dispute_id: u64, hash: Hash, blob: Vec<u8>) {
        let Some(arbitration) = self.arbitrations.get_mut(&dispute_id) else {
            return;
        };
        if Hash::of(&blob) != hash {
            tracing::warn!(
                dispute_id,
                "the client handed over a blob that is not the job's"
            );
            return;
        }
        arbitration.blobs.insert(hash, blob);
        let e = &arbitration.evidence;
        let (Some(module), Some(input)) = (
            arbitration.blobs.get(&e.module).cloned(),
            arbitration.blobs.get(&e.input).cloned(),
        ) else {
            return;
        };
        let limits = e.limits;
        let sandbox = self.sandbox.clone();
        let done = self.internal.clone();
        tokio::task::spawn_blocking(move || {
            let result = sandbox.run(&module, &input, &limits);
            let _ = done.send(Internal::Rerun { dispute_id, result });
        });
    }

    /// Asks the disputed worker for a blob of the job the client did not hand over, at the
    /// addresses its own capability ad gave (not the client's word for them).
    fn fetch_evidence_from_worker(&mut self, dispute_id: u64, hash: Hash) {
        let Some(arbitration) = self.arbitrations.get(&dispute_id) else {
            return;
        };
        if arbitration.blobs.contains_key(&hash) {
            return;
        }
        let Ok(worker) = PeerId::from_bytes(&arbitration.evidence.worker) else {
            self.arbitrations.remove(&dispute_id);
            return;
        };
        let job_id = arbitration.evidence.job_id;
        if let Some(ad) = self.ads.get(&worker, Instant::now()) {
            for addr in addrs_from_wire(&ad.addrs) {
                self.swarm.add_peer_address(worker, addr);
            }
        }
        let id = self
            .swarm
            .behaviour_mut()
            .jobs
            .send_request(&worker, Request::Fetch { job_id, hash });
        self.pending.insert(
            id,
            Pending::Evidence {
                dispute_id,
                hash,
                from_worker: true,
            },
        );
    }

    /// The arbitrator's own result: the worker was right if it submitted this hash.
    fn on_rerun(&mut self, dispute_id: u64, result: Result<Execution, SandboxError>) {
        let Some(arbitration) = self.arbitrations.get(&dispute_id) else {
            return;
        };
        let outcome = match result {
            Ok(e) => Outcome::Output(e.output),
            Err(e) => Outcome::Error(e.to_string()),
        };
        let worker_right = crate::chain::felt_of(&outcome.hash()) == arbitration.worker_result;
        tracing::info!(dispute_id, worker_right, "re-ran a disputed job");
        if let Some(link) = &self.chain {
            let _ = link.to.send(ToChain::Vote {
                dispute_id,
                worker_right,
            });
        }
    }

    fn on_verified(&mut self, peer: PeerId, backing: Backing, verdict: Result<Backer, String>) {
        let Some(link) = &mut self.chain else {
            return;
        };
        link.verifying.remove(&peer);
        let ad = link.parked_ads.remove(&peer);
        let bids = link.parked_bids.remove(&peer).unwrap_or_default();
        let now = Instant::now();
        match verdict {
            Ok(backer) => {
                tracing::debug!(%peer, account = %format_args!("{:#x}", backer.account), "the chain backs a peer");
                link.backers.insert(peer, Backed::Yes(backer.clone(), now));
                // Warm the reputation source, and let reputation into the gossip score.
                let score = self.reputation_score(&peer);
                if self.limits.total_strikes(&peer) == 0 {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .set_application_score(&peer, score);
                }
                if let Some(ad) = ad {
                    if backer.active {
                        self.ads.insert(peer, ad, now);
                    } else {
                        self.penalize(peer, "unbacked");
                    }
                }
                let mut concerned = Vec::new();
                for bid in bids
                    .into_iter()
                    .filter(|b| b.backing.as_ref() == Some(&backing))
                {
                    concerned.push(bid.job_id);
                    if let Response::Refused(refusal) = self.on_bid(peer, bid) {
                        tracing::debug!(%peer, ?refusal, "a parked bid was refused");
                    }
                }
                for job in concerned {
                    self.drive_jobs(Some(job));
                }
            }
            Err(reason) => {
                tracing::info!(%peer, "ignoring a peer the chain does not back: {reason}");
                link.backers.insert(peer, Backed::No(now));
                self.penalize(peer, "unbacked");
            }
        }
    }

    // ----- request-response ---------------------------------------------------------

    fn on_jobs(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_request(peer, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_response(peer, request_id, Ok(response)),
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, "request failed: {error}");
                self.on_response(peer, request_id, Err(()));
            }
            _ => {}
        }
    }

    /// Answers a request. Each is rate-limited per peer and kind first.
    fn on_request(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        let kind = request.kind();
        let concerns = match &request {
            Request::Bid(b) => Some(b.job_id),
            Request::Result { job_id, .. } => Some(*job_id),
            _ => None,
        };
        let response = if !self.limits.allow(&peer, Channel::of(&request)) {
            self.penalize(peer, "rate-limited");
            Response::Refused(Refusal::RateLimited)
        } else {
            let now = now_ms();
            match request {
                Request::Refused(e) => {
                    tracing::debug!(%peer, "refused a request: {e}");
                    self.penalize(peer, e.label());
                    Response::Refused(Refusal::BadRequest)
                }
                Request::Bid(bid) => self.on_bid(peer, bid),
                Request::Escrowed { job_id, escrow_id } => match self.work.get_mut(&job_id) {
                    Some(work) if work.client == peer && self.chain.is_some() => {
                        work.escrow = Some(escrow_id);
                        self.submit_on_chain(job_id);
                        Response::Ack
                    }
                    Some(_) => Response::Refused(Refusal::NotAssigned),
                    None => Response::Refused(Refusal::UnknownJob),
                },
                Request::Assign(assignment) => self.on_assign(peer, assignment),
                Request::Fetch { job_id, hash } => self.serve_fetch(&peer, &job_id, &hash),
                Request::Commit(c) => self
                    .with_job(&c.job_id, |job| {
                        job.commit(&peer, c.result, c.salt, c.fuel_used, now)
                    })
                    .unwrap_or(Err(Refusal::UnknownJob))
                    .map_or_else(Response::Refused, |()| Response::Ack),
                Request::Result {
                    job_id,
                    output,
                    error,
                } => {
                    let outcome = match error {
                        Some(message) => Outcome::Error(message),
                        None => Outcome::Output(output),
                    };
                    let result = self
                        .with_job(&job_id, |job| job.deliver(&peer, outcome, now))
                        .unwrap_or(Err(Refusal::UnknownJob));
                    if result == Err(Refusal::HashMismatch) {
                        self.penalize(peer, "broken-commit");
                    }
                    result.map_or_else(Response::Refused, |()| Response::Ack)
                }
            }
        };
        let outcome = match &response {
            Response::Refused(r) => format!("{r:?}").to_lowercase(),
            _ => "ok".into(),
        };
        self.metrics
            .requests
            .with_label_values(&[kind, &outcome])
            .inc();
        let _ = self
            .swarm
            .behaviour_mut()
            .jobs
            .send_response(channel, response);
        if concerns.is_some() {
            self.drive_jobs(concerns);
        }
    }

    fn on_response(&mut self, peer: PeerId, id: OutboundRequestId, response: Result<Response, ()>) {
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        match (pending, response) {
            (Pending::Assign { job, worker }, response) => {
                let accepted = matches!(response, Ok(Response::Ack));
                let now = now_ms();
                self.with_job(&job, |j| match response {
                    Ok(_) => j.assign_reply(&worker, accepted, now),
                    Err(()) => j.lost(&worker, now),
                });
                // Only a worker that took the job is assigned on chain: one that refused
                // (busy) must not be slashed for a job it never had.
                if accepted {
                    if let Some(link) = &self.chain {
                        match (link.account_of(&worker), link.consents.get(&(job, worker))) {
                            (Some(account), Some(consent)) => {
                                let _ = link.to.send(ToChain::Assigned {
                                    job,
                                    worker,
                                    bid: signed_bid(&job, account, consent),
                                });
                            }
                            _ => {
                                tracing::warn!(%job, %worker, "assigned a worker with no account or consent")
                            }
                        }
                    }
                } else {
                    self.drive_jobs(Some(job));
                }
            }
            (Pending::Bid(job), Ok(Response::Ack)) => {
                let _ = job;
            }
            (Pending::Escrowed, _) => {}
            (
                Pending::Evidence {
                    dispute_id, hash, ..
                },
                Ok(Response::Blob(blob)),
            ) => self.on_evidence_blob(dispute_id, hash, blob),
            (
                Pending::Evidence {
                    dispute_id,
                    hash,
                    from_worker: false,
                },
                _,
            ) => {
                tracing::info!(
                    dispute_id,
                    "the client did not hand over the disputed job; asking the worker"
                );
                self.fetch_evidence_from_worker(dispute_id, hash);
            }
            (Pending::Evidence { dispute_id, .. }, _) => {
                tracing::warn!(
                    dispute_id,
                    "neither the client nor the worker handed over the disputed job"
                );
                self.arbitrations.remove(&dispute_id);
            }
            (Pending::Bid(job), _) => {
                if self
                    .work
                    .get(&job)
                    .is_some_and(|w| w.state == WorkState::Bid)
                {
                    self.work.remove(&job);
                }
            }
            (Pending::Fetch { job, hash }, Ok(Response::Blob(blob))) => {
                self.on_blob(job, hash, blob)
            }
            (Pending::Fetch { job, .. }, _) => self.abandon(job, peer),
            (Pending::Commit(job), Ok(Response::Ack)) => self.deliver(job),
            (Pending::Commit(job), _) | (Pending::Result(job), _) => {
                if let Some(w) = self.work.get_mut(&job) {
                    w.state = WorkState::Done;
                }
            }
        }
    }

    fn abandon(&mut self, job: JobId, client: PeerId) {
        if let Some(w) = self.work.get_mut(&job) {
            tracing::debug!(%job, %client, "abandoning a job");
            w.state = WorkState::Done;
        }
    }

    // ----- discovery ------------------------------------------------------------------

    /// Finds up to `count` workers for `capability`: first from gossip ads, then from the
    /// DHT's provider records, shard by shard. Found workers are dialed.
    fn start_lookup(
        &mut self,
        capability: String,
        count: usize,
        reply: Option<oneshot::Sender<Vec<PeerId>>>,
    ) {
        let mut found: BTreeSet<PeerId> = self
            .ads
            .offering(&capability, Instant::now())
            .into_iter()
            .collect();
        found.remove(&self.me);
        let id = self.next_lookup;
        self.next_lookup += 1;
        self.lookups.insert(
            id,
            Lookup {
                capability,
                count,
                found,
                shards: discovery::shard_order(&self.me)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect(),
                running: 0,
                replies: reply.into_iter().collect(),
            },
        );
        self.advance_lookup(id);
    }

    fn advance_lookup(&mut self, id: u64) {
        let Some(lookup) = self.lookups.get_mut(&id) else {
            return;
        };
        while lookup.found.len() < lookup.count && lookup.running < LOOKUP_PARALLELISM {
            let Some(shard) = lookup.shards.pop() else {
                break;
            };
            let key = discovery::provider_key(&lookup.capability, shard);
            let query = self.swarm.behaviour_mut().kad.get_providers(key);
            self.queries.insert(query, id);
            lookup.running += 1;
        }
        if lookup.running > 0 {
            return;
        }
        let lookup = self.lookups.remove(&id).expect("present");
        let found: Vec<PeerId> = lookup.found.into_iter().take(lookup.count).collect();
        for peer in &found {
            if !self.swarm.is_connected(peer) {
                let _ = self.swarm.dial(*peer);
            }
        }
        for reply in lookup.replies {
            let _ = reply.send(found.clone());
        }
    }

    // ----- commands and the clock -----------------------------------------------------

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Submit(request, reply) => {
                let _ = reply.send(self.submit(*request));
            }
            Command::FindWorkers {
                capability,
                count,
                reply,
            } => self.start_lookup(capability, count, Some(reply)),
            Command::Peers(reply) => {
                let _ = reply.send(self.peer_infos());
            }
            Command::Dial(addr) => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::warn!(%addr, "dial: {e}");
                }
            }
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let now = Instant::now();
        let mut infos: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(peer, record)| PeerInfo {
                peer_id: *peer,
                connected: self.swarm.is_connected(peer),
                addrs: record.addrs.clone(),
                agent: record.agent.clone(),
                capabilities: self
                    .ads
                    .get(peer, now)
                    .map(|ad| ad.capabilities.clone())
                    .unwrap_or_default(),
                gossip_score: self.swarm.behaviour().gossipsub.peer_score(peer),
                strikes: self.limits.total_strikes(peer),
                banned: self.limits.is_banned(peer),
                backer: match self.chain.as_ref().and_then(|l| l.backers.get(peer)) {
                    Some(Backed::Yes(backer, _)) => Some(backer.clone()),
                    _ => None,
                },
            })
            .collect();
        infos.sort_by_key(|p| p.peer_id);
        infos
    }

    fn on_tick(&mut self) {
        let silence = self.shared.heartbeat.silence();
        self.shared.heartbeat.beat();
        self.metrics
            .loop_lag_seconds
            .observe(silence.saturating_sub(TICK).as_secs_f64());
        self.drive_jobs(None);
        if !self.evidence.is_empty() {
            self.publish_evidence();
        }
        let now = Instant::now();
        if self.next_provide.is_some_and(|at| now >= at) {
            self.provide();
        }
        // Retry announcements that had nobody to go to.
        let waiting: Vec<JobId> = self.unannounced.iter().copied().collect();
        for id in waiting {
            self.announce(id);
        }
        let ad_due = match self.last_ad {
            None => true,
            Some(at) => now.duration_since(at) >= self.config.ad_ttl / 2,
        };
        if ad_due && now.duration_since(self.started) > Duration::from_millis(200) {
            self.advertise();
        }
        if now.duration_since(self.last_health) >= self.config.health_interval {
            self.last_health = now;
            let health = Gossip::Health(Health {
                running: self.busy() as u16,
                slots: self.config.slots,
                uptime_secs: self.started.elapsed().as_secs(),
            });
            let _ = self.publish(&health);
            if self.config.conduct == WorkerConduct::ForgeReputation {
                if let Some(link) = &self.chain {
                    let forged = Gossip::Reputation(protocol::ReputationUpdate {
                        worker: link.backing.account,
                        reason: "job_completed".into(),
                        jobs_completed: 1000,
                        jobs_failed: 0,
                        disputes_won: 0,
                        disputes_lost: 0,
                        tx_hash: Hash::of(&now_ms().to_be_bytes()).0,
                        block: 1,
                    });
                    let _ = self.publish(&forged);
                }
            }
            self.ads.expire(now);
            // Forget finished work and bids that were never taken. Work whose slot is
            // still settling is kept for an hour at most, disputed work for ten minutes
            // after the dispute: long enough for arbitrators to fetch it.
            self.work.retain(|_, w| {
                !(w.state == WorkState::Done
                    || (w.state == WorkState::Bid && w.announcement.deadline_ms < now_ms()))
                    || now.duration_since(w.seen) < Duration::from_secs(60)
                    || (w.settling && now.duration_since(w.seen) < SETTLING_RETENTION)
                    || w.disputed_at
                        .is_some_and(|at| now.duration_since(at) < DISPUTED_RETENTION)
            });
        }
        if now.duration_since(self.last_expiry) < Duration::from_secs(1) {
            return;
        }
        self.last_expiry = now;
        for peer in self.limits.expire(now) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            self.swarm
                .behaviour_mut()
                .gossipsub
                .set_application_score(&peer, 0.0);
        }
    }
}

/// The agreed result of a finished job, and each assigned worker's standing against it:
/// what the escrow settles by.
fn verdicts(job: &ClientJob) -> (Option<Hash>, Vec<(PeerId, SlotVerdict)>) {
    let expected = job
        .result
        .as_ref()
        .filter(|_| job.status == JobStatus::Completed)
        .map(|r| r.hash);
    let mut seen = HashSet::new();
    let verdicts = job
        .assignments
        .iter()
        .filter(|a| a.state != crate::job::AssignmentState::Refused)
        .filter(|a| seen.insert(a.worker))
        .map(|a| {
            let agreed = job
                .result
                .as_ref()
                .is_some_and(|r| r.agreeing.contains(&a.worker));
            let failure = job
                .verification_failures
                .iter()
                .find(|f| f.worker == a.worker && f.claimed.is_some());
            let verdict = match (agreed, failure, expected, a.salt) {
                (true, _, Some(result), Some(salt)) => SlotVerdict::Agreed { result, salt },
                (false, Some(failure), _, _) => SlotVerdict::Wrong {
                    evidence: failure.evidence_hash(&job.id),
                },
                _ => SlotVerdict::NoResult,
            };
            (a.worker, verdict)
        })
        .collect();
    (expected, verdicts)
}

/// 31 random bytes: a felt, big-endian, below 2^248.
fn random_felt() -> [u8; 32] {
    let mut bytes: [u8; 32] = rand::random();
    bytes[0] = 0;
    bytes
}

fn rand_nonce() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&now_ms().to_be_bytes());
    bytes[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::workloads;

    fn request(module: Vec<u8>) -> JobRequest {
        JobRequest {
            module,
            input: vec![1, 2, 3],
            capability: "wasm".into(),
            redundancy: 2,
            reward: 5,
            limits: JobLimits::default(),
            deadline: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn a_submission_is_checked_off_the_loop_within_a_budget_and_one_at_a_time() {
        let sandbox = Sandbox::new().unwrap();
        let turn = Arc::new(tokio::sync::Semaphore::new(COMPILING_AT_ONCE));
        let matmul = workloads::compile(workloads::MATMUL);

        let checked = check(&sandbox, &turn, request(matmul.clone()), COMPILE_BUDGET)
            .await
            .unwrap();
        assert_eq!(checked.module, Hash::of(&matmul));
        assert_eq!(checked.input, Hash::of(&[1, 2, 3]));
        let limits = JobLimits::default();
        assert_eq!(
            checked.spec,
            spec_hash(&checked.module, &checked.input, "wasm", &limits)
        );

        // Compiling that outlasts the budget is refused as the module's fault.
        let fresh = Sandbox::new().unwrap();
        let timed_out = check(&fresh, &turn, request(matmul.clone()), Duration::ZERO).await;
        assert!(matches!(
            timed_out,
            Err(SubmitError::Module(SandboxError::CompileTimeout(0)))
        ));

        // While another submission holds the turn, a second one waits, then is turned away.
        let held = turn.clone().acquire_owned().await.unwrap();
        let busy = check(
            &sandbox,
            &turn,
            request(matmul.clone()),
            Duration::from_millis(50),
        )
        .await;
        assert!(matches!(busy, Err(SubmitError::Busy)), "{busy:?}");
        drop(held);
        assert!(check(&sandbox, &turn, request(matmul), COMPILE_BUDGET)
            .await
            .is_ok());

        // Bad fields are refused before any compiling.
        let mut bad = request(b"not even wasm".to_vec());
        bad.redundancy = 0;
        assert!(matches!(
            check(&sandbox, &turn, bad, COMPILE_BUDGET).await,
            Err(SubmitError::Invalid {
                field: "redundancy",
                ..
            })
        ));
    }
}
