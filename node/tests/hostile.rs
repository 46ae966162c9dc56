//! A hostile peer: a bare libp2p swarm that speaks the node's protocols but writes
//! whatever bytes it likes. Its unsigned, forged, oversized and malformed messages are
//! rejected and count against it; its flood is rate-limited until it is banned; and
//! honest jobs keep flowing throughout.

mod common;

use std::{io, time::Duration};

use ciro_node::{
    network::gossipsub_config,
    protocol::{self, seal, topics, Envelope, Gossip, Health, JOB_PROTOCOL, MAX_GOSSIP_BYTES},
};
use common::*;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::{
    core::{transport::MemoryTransport, upgrade::Version},
    gossipsub::{self, IdentTopic},
    identity::Keypair,
    noise, request_response,
    swarm::{NetworkBehaviour, SwarmEvent},
    yamux, Multiaddr, PeerId, StreamProtocol, Swarm, Transport,
};

/// Writes raw frames as they are given and reads raw frames back.
#[derive(Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        io.read_to_end(&mut buf).await?;
        Ok(buf)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        io.take(1 << 20).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bytes: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&bytes).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct Attacker {
    gossipsub: gossipsub::Behaviour,
    raw: request_response::Behaviour<RawCodec>,
}

async fn attacker(key: Keypair) -> Swarm<Attacker> {
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|key| {
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                MemoryTransport::default()
                    .upgrade(Version::V1)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()),
            )
        })
        .unwrap()
        .with_behaviour(|_| Attacker {
            gossipsub: gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Anonymous,
                gossipsub_config(Duration::from_millis(700)),
            )
            .unwrap(),
            raw: request_response::Behaviour::with_codec(
                RawCodec,
                [(JOB_PROTOCOL, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default(),
            ),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Drives the attacker's swarm for `time`, returning whether its connection to `target`
/// was closed meanwhile.
async fn pump(swarm: &mut Swarm<Attacker>, target: PeerId, time: Duration) -> bool {
    let mut closed = false;
    let deadline = tokio::time::sleep(time);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return closed,
            event = swarm.select_next_some() => {
                if let SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } = event {
                    closed |= peer_id == target;
                }
            }
        }
    }
}

fn health(n: u64) -> Gossip {
    Gossip::Health(Health {
        running: 0,
        slots: 1,
        uptime_secs: n,
    })
}

fn penalties(node: &ciro_node::NodeHandle, reason: &str) -> f64 {
    metric(
        node,
        &format!("ciro_node_penalties_total{{reason=\"{reason}\"}}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_rejected_penalized_and_a_flooder_banned_while_jobs_flow() {
    let (boot, workers) = network(3).await;
    let target = &workers[0];
    let client = start(config(memory(), &boot.addrs(), &[])).await;
    discover(&client, "wasm", 3).await;

    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut evil = attacker(key.clone()).await;
    let target_addr: Multiaddr = target.addrs()[0].clone();
    evil.dial(target_addr).unwrap();
    // Wait until the target's subscription to the health topic is known.
    let health_topic = IdentTopic::new(topics::HEALTH);
    evil.behaviour_mut()
        .gossipsub
        .subscribe(&health_topic)
        .unwrap();
    loop {
        if let SwarmEvent::Behaviour(AttackerEvent::Gossipsub(gossipsub::Event::Subscribed {
            peer_id,
            topic,
        })) = evil.select_next_some().await
        {
            if peer_id == target.peer_id() && topic == health_topic.hash() {
                break;
            }
        }
    }
    let publish = |evil: &mut Swarm<Attacker>, bytes: Vec<u8>| {
        evil.behaviour_mut()
            .gossipsub
            .publish(health_topic.clone(), bytes)
            .unwrap();
    };

    // Unsigned: a real envelope with its signature stripped.
    let mut envelope: Envelope = postcard::from_bytes(&seal(&key, &health(1))).unwrap();
    envelope.signature.clear();
    publish(&mut evil, postcard::to_stdvec(&envelope).unwrap());
    // Forged: someone else's key claimed for our signature.
    let mut forged: Envelope = postcard::from_bytes(&seal(&key, &health(2))).unwrap();
    forged.signer = Keypair::generate_ed25519()
        .public()
        .try_into_ed25519()
        .unwrap()
        .to_bytes()
        .to_vec();
    publish(&mut evil, postcard::to_stdvec(&forged).unwrap());
    // Malformed: not an envelope at all.
    publish(&mut evil, b"\x01\x02garbage that is not postcard".to_vec());
    // Oversized: above the node's gossip limit, below gossipsub's frame limit.
    publish(&mut evil, vec![7u8; MAX_GOSSIP_BYTES + 100]);
    // Direct requests: a malformed frame and a frame claiming more than the limit.
    evil.behaviour_mut().raw.send_request(
        &target.peer_id(),
        [&5u32.to_be_bytes()[..], b"\xff\xff\xff\xff\xff"].concat(),
    );
    evil.behaviour_mut().raw.send_request(
        &target.peer_id(),
        ((protocol::MAX_FRAME_BYTES + 1) as u32)
            .to_be_bytes()
            .to_vec(),
    );
    pump(&mut evil, target.peer_id(), Duration::from_millis(800)).await;

    for reason in ["unsigned", "malformed", "oversized"] {
        assert!(
            penalties(target, reason) >= 1.0,
            "no {reason} penalty:\n{}",
            target.shared.metrics.render()
        );
    }
    assert!(penalties(target, "unsigned") >= 2.0, "unsigned and forged");
    assert!(
        penalties(target, "malformed") >= 2.0,
        "gossip and request:\n{}",
        target.shared.metrics.render()
    );
    assert!(penalties(target, "oversized") >= 2.0, "gossip and request");
    let seen = target.shared.peers().await;
    let record = seen.iter().find(|p| p.peer_id == me).unwrap();
    assert!(record.strikes >= 6, "{record:?}");
    assert!(record.gossip_score.unwrap() < 0.0, "{record:?}");
    assert!(!record.banned);
    // Nothing the attacker sent was accepted.
    assert_eq!(
        metric(
            target,
            "ciro_node_gossip_messages_total{kind=\"health\",verdict=\"accept\"}"
        ),
        0.0
    );

    // An honest job submitted during the flood still completes.
    let request = matmul(10, 4, 2);
    let want = expected(&request);
    let id = client.shared.submit(request).await.unwrap();

    // The flood: well-formed, signed, distinct messages, far above the rate limit.
    let mut closed = false;
    let messages: Vec<Vec<u8>> = (0..3000u64)
        .map(|n| seal(&key, &health(1000 + n)))
        .collect();
    let flood = std::time::Instant::now();
    for batch in messages.chunks(25) {
        for message in batch {
            // A full queue drops the message: the flooder's problem, not the target's.
            let _ = evil
                .behaviour_mut()
                .gossipsub
                .publish(health_topic.clone(), message.clone());
        }
        closed |= pump(&mut evil, target.peer_id(), Duration::from_millis(10)).await;
        if closed {
            break;
        }
    }
    let flooded = flood.elapsed().as_secs_f64();
    closed |= pump(&mut evil, target.peer_id(), Duration::from_millis(500)).await;
    // The policy: a burst of 60, then 20 a second. Honest nodes publish health every 10 s.
    let accepted = metric(
        target,
        "ciro_node_gossip_messages_total{kind=\"health\",verdict=\"accept\"}",
    );
    let allowed = 60.0 + 20.0 * (flooded + 0.5) + 10.0;
    assert!(
        (60.0..=allowed).contains(&accepted),
        "accepted {accepted} health messages in {flooded:.2} s; at most {allowed} allowed\n{}",
        target.shared.metrics.render()
    );
    assert!(
        penalties(target, "rate-limited") >= 40.0,
        "{}",
        target.shared.metrics.render()
    );
    let record = target
        .shared
        .peers()
        .await
        .into_iter()
        .find(|p| p.peer_id == me)
        .unwrap();
    assert!(record.banned, "{record:?}");
    assert!(closed, "the banned peer's connection was closed");
    assert_eq!(metric(target, "ciro_node_bans_total"), 1.0);
    // A banned peer cannot come back.
    evil.dial(target.addrs()[0].clone()).unwrap();
    pump(&mut evil, target.peer_id(), Duration::from_millis(300)).await;
    assert!(!evil.is_connected(&target.peer_id()));

    assert_completed(&settled(&client, &id).await, &want);
}
