//! The libp2p stack: transports, the composed behaviour, and their settings.
//!
//! Transports: TCP, QUIC and WebSocket on the network, and libp2p's in-process memory
//! transport for tests and benchmarks; every one but QUIC (which has TLS 1.3 built in)
//! is secured by Noise and multiplexed by Yamux. One swarm listens on any mix of them.
//! This module builds the swarm; what the node does with its events is in `node`.

use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use futures::{AsyncRead, AsyncWrite};

use libp2p::{
    allow_block_list, connection_limits,
    core::{transport::MemoryTransport, upgrade::Version},
    gossipsub, identify, identity, kad, noise, ping, request_response,
    swarm::NetworkBehaviour,
    yamux, StreamProtocol, Swarm, Transport,
};

use crate::protocol::{self, JobCodec, MAX_GOSSIP_BYTES};

/// The peer id at the end of a `/p2p/<id>` address.
pub fn peer_of(addr: &libp2p::Multiaddr) -> Option<libp2p::PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// The Kademlia protocol name: CIRO's own DHT, apart from IPFS's.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ciro/kad/1");
/// What identify reports as the protocol version; peers on another version are not added
/// to the routing table.
pub const IDENTIFY_VERSION: &str = "/ciro/1";

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub limits: connection_limits::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub gossipsub: gossipsub::Behaviour,
    pub jobs: request_response::Behaviour<JobCodec>,
}

/// Counts the bytes written to the memory transport's connections: every byte on the
/// wire once, Noise and Yamux framing included. Benchmarks read it.
#[derive(Clone, Debug, Default)]
pub struct WireCounter(Arc<AtomicU64>);

impl WireCounter {
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counted<S> {
    inner: S,
    counter: WireCounter,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &written {
            self.counter.0.fetch_add(*n as u64, Ordering::Relaxed);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// Settings the swarm is built with.
#[derive(Clone, Debug)]
pub struct NetworkSettings {
    pub max_connections: u32,
    pub max_connections_per_peer: u32,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    pub heartbeat: Duration,
    /// Where the memory transport counts its bytes.
    pub wire: WireCounter,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_connections_per_peer: 2,
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            heartbeat: Duration::from_millis(700),
            wire: WireCounter::default(),
        }
    }
}

/// Gossipsub tuned for small signed announcements: content-addressed ids (the same
/// envelope relayed twice is one message), our own signatures instead of gossipsub's
/// (anonymous mode, so one signature per message, not two), explicit validation, a
/// size bound, and short queues: the default 5000-message handler queue costs about
/// 0.5 MB per peer.
pub fn gossipsub_config(heartbeat: Duration) -> gossipsub::Config {
    gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(protocol::Hash::of(&m.data).0[..20].to_vec())
        })
        .max_transmit_size(MAX_GOSSIP_BYTES + 512)
        .connection_handler_queue_len(128)
        .heartbeat_interval(heartbeat)
        .duplicate_cache_time(Duration::from_secs(120))
        .history_length(5)
        .history_gossip(1)
        // A smaller mesh than the default 6, and lazy gossip (IHAVE) to 3 peers about
        // the last heartbeat's messages only: announcements are published to every
        // subscribed peer anyway (flood publish), so duplicates and IHAVEs are the bulk
        // of the bytes. Measured: 10x the payload per receiver with the defaults.
        .mesh_n(4)
        .mesh_n_low(3)
        .mesh_n_high(8)
        .mesh_outbound_min(2)
        .gossip_lazy(3)
        .flood_publish(true)
        .build()
        .expect("the gossipsub settings are consistent")
}

/// Peer scoring: application penalties (invalid or rate-limited messages) push a peer
/// below the thresholds, where its gossip is first ignored, then it is graylisted.
pub fn peer_score() -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let params = gossipsub::PeerScoreParams {
        app_specific_weight: 1.0,
        ..Default::default()
    };
    let thresholds = gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 5.0,
    };
    (params, thresholds)
}

fn behaviour(key: &identity::Keypair, settings: &NetworkSettings) -> anyhow::Result<Behaviour> {
    let peer_id = key.public().to_peer_id();
    let mut gossipsub = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Anonymous,
        gossipsub_config(settings.heartbeat),
    )
    .map_err(|e| anyhow::anyhow!("gossipsub: {e}"))?;
    let (params, thresholds) = peer_score();
    gossipsub
        .with_peer_score(params, thresholds)
        .map_err(|e| anyhow::anyhow!("gossipsub scoring: {e}"))?;

    let mut kad_config = kad::Config::new(KAD_PROTOCOL);
    kad_config
        .set_query_timeout(Duration::from_secs(10))
        .set_provider_record_ttl(Some(Duration::from_secs(2 * 3600)))
        .set_provider_publication_interval(Some(Duration::from_secs(3600)));
    let store = kad::store::MemoryStore::with_config(
        peer_id,
        kad::store::MemoryStoreConfig {
            // The cap the sharded provider keys are sized for (see `discovery`).
            max_providers_per_key: crate::discovery::MAX_PROVIDERS_PER_KEY,
            ..Default::default()
        },
    );
    let kad = kad::Behaviour::with_config(peer_id, store, kad_config);

    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(settings.max_connections))
        .with_max_established_per_peer(Some(settings.max_connections_per_peer))
        .with_max_pending_incoming(Some(settings.max_connections / 4 + 8));

    Ok(Behaviour {
        blocked: Default::default(),
        limits: connection_limits::Behaviour::new(limits),
        identify: identify::Behaviour::new(
            identify::Config::new(IDENTIFY_VERSION.into(), key.public())
                .with_agent_version(format!("ciro-node/{}", env!("CARGO_PKG_VERSION"))),
        ),
        ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(15))),
        kad,
        gossipsub,
        jobs: request_response::Behaviour::new(
            [(
                protocol::JOB_PROTOCOL,
                request_response::ProtocolSupport::Full,
            )],
            request_response::Config::default()
                .with_request_timeout(settings.request_timeout)
                .with_max_concurrent_streams(256),
        ),
    })
}

/// Builds a swarm that can listen on and dial TCP, QUIC, WebSocket and memory addresses.
pub async fn swarm(
    key: identity::Keypair,
    settings: &NetworkSettings,
) -> anyhow::Result<Swarm<Behaviour>> {
    let settings = settings.clone();
    let idle = settings.idle_timeout;
    let wire = settings.wire.clone();
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_quic()
        .with_other_transport(|key| {
            let noise = noise::Config::new(key)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(MemoryTransport::default()
                .map(move |inner, _| Counted {
                    inner,
                    counter: wire.clone(),
                })
                .upgrade(Version::V1)
                .authenticate(noise)
                .multiplex(yamux::Config::default()))
        })?
        .with_dns()?
        .with_websocket(noise::Config::new, yamux::Config::default)
        .await?
        .with_behaviour(|key| behaviour(key, &settings).map_err(Into::into))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();
    Ok(swarm)
}
