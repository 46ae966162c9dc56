//! The node: one task owns the swarm and every piece of state. Where each thing is
//! handled, one hop each:
//! - this file: the node's state, its start, and the event loop, which only routes: swarm
//!   events (`on_swarm`), commands from the gateway or the embedding program
//!   (`on_command`), finished runs, messages from the chain, and the clock (`on_tick`);
//! - [`router`]: one arm per gossip topic, request kind, response and chain message, each
//!   calling one role;
//! - the roles: [`client`] (the jobs this node submits), [`worker`] (the jobs it bids on
//!   and runs), [`arbiter`] (the disputes it judges), [`peers`] (ads, backing, penalties,
//!   what it advertises) and [`lookup`] (Kademlia);
//! - [`api`]: what programs around the node see: requests and their checks, commands,
//!   events, the shared state and the handle.
//!
//! A node is a client (the jobs it submits, in `Node::jobs`; others ask for them through
//! [`Shared::job`]) and, when it has capabilities, a worker (the jobs it bids on and runs,
//! in `Node::work`).

use std::{
    cell::RefCell,
    collections::{BTreeSet, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use ciro_bindings::acceptance::SignedAcceptance;
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
use starknet::core::types::Felt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::{
    chain::{
        signed_bid, Backer, BackingError, Bidder, Earlier, FromChain, PayerError, Settler,
        SlotReport, ToChain, Verdict as SlotVerdict,
    },
    clock::now_ms,
    config::{ClientConduct, NodeConfig, WorkerConduct},
    discovery::{self, AdCache},
    job::{ClientJob, Hashed, JobStatus, Outcome},
    limits::{Channel, Limits, Verdict},
    metrics::{Heartbeat, Metrics},
    network::{self, peer_of, Behaviour, BehaviourEvent},
    protocol::{
        self, addrs_from_wire, addrs_to_wire, spec_hash, topics, Assignment, Backing, Bid,
        CapabilityAd, Consent, Gossip, Hash, Health, JobAnnouncement, JobId, Limits as JobLimits,
        Refusal, Request, Response, ResultCommit,
    },
    reputation::Standing,
    sandbox::{Execution, Sandbox, SandboxError},
};

mod api;
mod arbiter;
mod client;
mod duties;
mod lookup;
mod peers;
mod router;
mod worker;

pub use api::*;
use {arbiter::*, client::*, duties::*, lookup::*, peers::*, worker::*};

enum Pending {
    Bid(JobId),
    Escrowed {
        job: JobId,
        worker: PeerId,
        escrow_id: u64,
        tries: u32,
    },
    Accepted(JobId),
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

/// Work done off the event loop (on blocking threads), coming back to it.
enum Internal {
    /// A job this worker ran: its outcome, hashed, and what running it cost (none when it
    /// failed).
    Executed {
        job: JobId,
        outcome: Hashed,
        cost: Option<(u64, Duration)>,
    },
    /// An arbitrator's own run of a disputed job.
    Rerun { dispute_id: u64, outcome: Hashed },
    /// A blob a worker fetched, and whether it hashes to what was asked for.
    Blob {
        job: JobId,
        hash: Hash,
        blob: Arc<Vec<u8>>,
        genuine: bool,
    },
    /// A blob of a disputed job an arbitrator fetched, checked the same way.
    EvidenceBlob {
        dispute_id: u64,
        hash: Hash,
        blob: Arc<Vec<u8>>,
        genuine: bool,
    },
    /// A worker's result, hashed, with the channel the client's answer goes back on.
    Result {
        worker: PeerId,
        job_id: JobId,
        outcome: Hashed,
        channel: ResponseChannel<Response>,
    },
    /// A write to the node's duties reached the disk (`written`) or failed; `then` waited
    /// on it.
    Stored { then: Stored, written: bool },
}

/// A run's outcome, hashed, and what it cost: work for a blocking thread.
fn hashed_run(result: Result<Execution, SandboxError>) -> (Hashed, Option<(u64, Duration)>) {
    match result {
        Ok(e) => (
            Hashed::new(Outcome::Output(e.output)),
            Some((e.fuel_used, e.elapsed)),
        ),
        Err(e) => (Hashed::new(Outcome::Error(e.to_string())), None),
    }
}

/// How often the node looks at its jobs, timers and limits.
const TICK: Duration = Duration::from_millis(25);

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
    /// Jobs paid from the deposit, announced once their rewards are held in it.
    awaiting_funds: HashSet<JobId>,
    /// Escrow jobs to tell their workers again, when due: the message did not get through.
    escrowed_again: Vec<EscrowedAgain>,
    work: HashMap<JobId, WorkerJob>,
    /// Writes to the worker's durable duties; `None` without a data directory.
    duties: Option<crate::store::Writer<Stored>>,
    /// The jobs this node submitted (the client role's state). Only the loop holds them;
    /// the gateway and embedders ask through [`Command::Job`]. A `RefCell`, not a lock:
    /// one task owns it, and a handler borrows it while it calls other handlers.
    jobs: RefCell<HashMap<JobId, ClientJob>>,
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
    /// runs the event loop in the background. The HTTP gateway is not part of the node: whoever
    /// embeds it starts one with [`crate::gateway::serve`].
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

        // The duties an earlier run left open come back before anything else runs.
        let store = match &config.data_dir {
            Some(dir) => Some(crate::store::Store::open(dir).await?),
            None => None,
        };
        let (open, open_jobs) = match &store {
            Some(store) => {
                store
                    .prune(now_ms().saturating_sub(SETTLED_RETENTION.as_millis() as u64))
                    .await?;
                (store.open_duties().await?, store.open_jobs().await?)
            }
            None => (Vec::new(), Vec::new()),
        };
        let account = config.chain.as_ref().map(|c| c.account);
        let restored = restore(open, account).await;
        if !restored.work.is_empty() {
            tracing::info!(
                duties = restored.work.len(),
                "resuming the duties an earlier run left open"
            );
        }
        let (jobs, resumed_jobs) = restore_jobs(open_jobs);
        if !jobs.is_empty() {
            tracing::info!(
                jobs = jobs.len(),
                "resuming the settlement of the jobs an earlier run left"
            );
        }

        let (from_chain_tx, from_chain) = mpsc::unbounded_channel();
        let metrics = Metrics::default();
        let chain = match &config.chain {
            Some(settings) => {
                let (to, backing, bidder) = Settler::start(
                    settings.clone(),
                    me,
                    from_chain_tx.clone(),
                    metrics.clone(),
                    Earlier {
                        duties: restored.openings.clone(),
                        jobs: resumed_jobs,
                    },
                )
                .await?;
                for (job, acceptance) in &restored.acceptances {
                    let _ = to.send(ToChain::Accepted {
                        job: *job,
                        acceptance: acceptance.clone(),
                        resumed: true,
                    });
                }
                Some(ChainLink {
                    to,
                    backing,
                    own: None,
                    bidder,
                    consents: HashMap::new(),
                    pays_from_deposit: settings.batching.deposit.is_some(),
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
        let duties = store.map(|store| {
            let done = internal.clone();
            crate::store::Writer::start(store, move |then, written| {
                let _ = done.send(Internal::Stored { then, written });
            })
        });
        let sandbox = Sandbox::new()?;
        let shared = Arc::new(Shared {
            peer_id: me,
            reputation: Mutex::default(),
            metrics: metrics.clone(),
            heartbeat: Heartbeat::default(),
            listen_addrs: Mutex::new(listening),
            commands: commands_tx,
            events: tokio::sync::broadcast::channel(4096).0,
            sandbox: sandbox.clone(),
            compiling: Arc::new(tokio::sync::Semaphore::new(COMPILING_AT_ONCE)),
        });
        let mut node = Node {
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
            awaiting_funds: HashSet::new(),
            escrowed_again: Vec::new(),
            work: restored.work,
            duties,
            jobs: RefCell::new(jobs.into_iter().map(|j| (j.id, j)).collect()),
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
        for job in restored.expired {
            tracing::info!(%job, "closing a duty nothing can pay any more");
            node.close_duty(job);
        }
        let stop = CancellationToken::new();
        let task = tokio::spawn(node.run(commands, internal_rx, from_chain, stop.clone()));
        Ok(NodeHandle { shared, task, stop })
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
        mut from_chain: mpsc::UnboundedReceiver<FromChain>,
        stop: CancellationToken,
    ) {
        if self.config.bootstrap.is_empty() {
            self.provide();
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                event = self.swarm.select_next_some() => self.on_swarm(event),
                Some(command) = commands.recv() => self.on_command(command),
                Some(done) = internal.recv() => self.on_internal(done),
                Some(message) = from_chain.recv() => self.on_chain(message),
                _ = tick.tick() => self.on_tick(),
            }
        }
        tracing::debug!("the node stopped");
    }

    /// Runs input-sized work (running, hashing) on a blocking thread; what it returns
    /// comes back to the loop through [`Self::on_internal`].
    fn off_loop(&self, work: impl FnOnce() -> Internal + Send + 'static) {
        let done = self.internal.clone();
        tokio::task::spawn_blocking(move || {
            let _ = done.send(work());
        });
    }

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
            Command::Job(id, reply) => {
                let _ = reply.send(self.jobs.borrow().get(&id).cloned());
            }
            Command::Jobs(reply) => {
                let mut jobs: Vec<JobSummary> =
                    self.jobs.borrow().values().map(JobSummary::from).collect();
                jobs.sort_by_key(|j| std::cmp::Reverse(j.created_ms));
                let _ = reply.send(jobs);
            }
            Command::Dial(addr) => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::warn!(%addr, "dial: {e}");
                }
            }
        }
    }

    fn on_tick(&mut self) {
        let silence = self.shared.heartbeat.silence();
        self.shared.heartbeat.beat();
        self.metrics
            .loop_lag_seconds
            .observe(silence.saturating_sub(TICK).as_secs_f64());
        self.drive_jobs(None);
        self.retry_escrowed();
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
                    || ((w.settling || w.owed) && now.duration_since(w.seen) < SETTLING_RETENTION)
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
