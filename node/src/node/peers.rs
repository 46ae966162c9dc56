//! Peer policy: capability ads, the chain's backing of each peer, penalties, what this
//! node advertises and publishes, and `/v1/peers`.

use super::*;

/// What the chain says of a peer, and when it said it.
#[derive(Clone)]
pub(super) enum Backed {
    Yes(Backer, Instant),
    No(Instant),
}

/// The node's side of its link to the chain (see [`crate::chain`]).
pub(super) struct ChainLink {
    pub(super) to: mpsc::UnboundedSender<ToChain>,
    /// This node's own backing, sent with its bids and ads.
    pub(super) backing: Backing,
    /// This node's own standing, as last read.
    pub(super) own: Option<Backer>,
    /// Signs this node's consents, sent with its bids.
    pub(super) bidder: Bidder,
    /// This client pays from its deposit: it answers bids with its backing.
    pub(super) pays_from_deposit: bool,
    /// The consents of the bids this client holds, until their job settles.
    pub(super) consents: HashMap<(JobId, PeerId), Consent>,
    pub(super) collateral: u128,
    /// The most collateral this node consents to lock as a worker.
    pub(super) max_collateral: Option<u128>,
    pub(super) backers: HashMap<PeerId, Backed>,
    pub(super) verifying: HashSet<PeerId>,
    pub(super) parked_bids: HashMap<PeerId, Vec<Bid>>,
    pub(super) parked_ads: HashMap<PeerId, CapabilityAd>,
}

/// A verdict on a peer's backing is trusted this long…
pub(super) const BACKING_TTL: Duration = Duration::from_secs(30);

/// …and used this long while a fresh one is fetched.
pub(super) const BACKING_STALE: Duration = Duration::from_secs(300);

/// How far reputation moves a peer's gossip score: from −10 (score 0) to +10 (score 1).
pub(super) const REPUTATION_GOSSIP_WEIGHT: f64 = 20.0;

impl ChainLink {
    /// The chain's verdict on `peer` backed by `account`, if there is one to go by. A
    /// verdict older than [`BACKING_TTL`] still stands, up to [`BACKING_STALE`], while a
    /// fresh one is fetched, so a busy chain never holds up bids from known workers.
    pub(super) fn backed(&mut self, peer: &PeerId, backing: &Backing) -> Option<Backed> {
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

    pub(super) fn account_of(&self, peer: &PeerId) -> Option<starknet::core::types::Felt> {
        match self.backers.get(peer) {
            Some(Backed::Yes(backer, _)) => Some(backer.account),
            _ => None,
        }
    }

    /// Asks the chain about `peer` unless a question is out already.
    pub(super) fn verify(&mut self, peer: PeerId, backing: Backing) {
        if self.verifying.insert(peer) {
            let _ = self.to.send(ToChain::Verify { peer, backing });
        }
    }
}

#[derive(Default)]
pub(super) struct PeerRecord {
    pub(super) addrs: Vec<Multiaddr>,
    pub(super) agent: Option<String>,
}

impl Node {
    /// A worker's capability ad. When the network settles on chain, only the ads of peers
    /// the chain backs count; the others are ignored and their senders penalized.
    pub(super) fn on_ad(&mut self, signer: PeerId, ad: CapabilityAd) {
        for addr in addrs_from_wire(&ad.addrs) {
            self.swarm.add_peer_address(signer, addr);
        }
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
    pub(super) fn reputation_score(&self, peer: &PeerId) -> f64 {
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
    pub(super) fn penalize(&mut self, peer: PeerId, reason: &'static str) {
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

    pub(super) fn publish(&mut self, message: &Gossip) -> Result<(), gossipsub::PublishError> {
        let data = protocol::seal(&self.key, message);
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(IdentTopic::new(message.topic()), data)
            .map(|_| ())
    }

    pub(super) fn advertised_addrs(&self) -> Vec<Vec<u8>> {
        if !self.config.reachable {
            return Vec::new();
        }
        let addrs = self.shared.listen_addrs.lock().expect("addrs lock").clone();
        addrs_to_wire(self.config.external.iter().chain(addrs.iter()))
    }

    pub(super) fn advertise(&mut self) {
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

    pub(super) fn on_verified(
        &mut self,
        peer: PeerId,
        backing: Backing,
        verdict: Result<Backer, BackingError>,
    ) {
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
            // The chain could not be read: no verdict, so no penalty; the peer's next
            // bid or ad asks again.
            Err(BackingError::Chain(e)) => {
                tracing::warn!(%peer, "could not check a peer's backing: {e}");
            }
            Err(reason) => {
                tracing::info!(%peer, "ignoring a peer the chain does not back: {reason}");
                link.backers.insert(peer, Backed::No(now));
                self.penalize(peer, "unbacked");
            }
        }
    }

    pub(super) fn peer_infos(&self) -> Vec<PeerInfo> {
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

    /// This node's own standing, as the chain last said: it advertises once active.
    pub(super) fn on_own_standing(&mut self, backer: Backer) {
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

    /// A reputation change this node caused on chain, for its peers to hear of.
    /// A reputation change this node's own transaction caused (read from its receipt):
    /// kept here too, since gossip never hands a node its own messages, and published.
    pub(super) fn publish_reputation(&mut self, update: protocol::ReputationUpdate) {
        self.keep_reputation(update.clone());
        if let Err(e) = self.publish(&Gossip::Reputation(update)) {
            tracing::debug!("reputation update not published: {e}");
        }
    }

    fn keep_reputation(&self, update: protocol::ReputationUpdate) {
        self.shared
            .reputation
            .lock()
            .expect("reputation lock")
            .insert(update.worker, update);
    }

    /// The chain's word on a reputation update a peer gossiped: kept, or its sender
    /// penalized for forging it.
    pub(super) fn on_reputation_checked(
        &mut self,
        from: PeerId,
        update: protocol::ReputationUpdate,
        genuine: bool,
    ) {
        if genuine {
            self.metrics.reputation_updates.inc();
            self.keep_reputation(update);
        } else {
            self.penalize(from, "forged-reputation");
        }
    }

    /// A reputation update a peer gossiped: the chain checks it before anyone believes it.
    pub(super) fn check_reputation(&mut self, from: PeerId, update: protocol::ReputationUpdate) {
        if let Some(link) = &self.chain {
            let _ = link.to.send(ToChain::CheckReputation { from, update });
        }
    }
}
