//! Finding workers by capability, two ways:
//! - **DHT provider records** under sharded keys. A worker provides
//!   `/ciro/1/cap/<capability>/<shard>`, its shard fixed by its peer id, so each key holds
//!   a bounded slice of the workers and no key outgrows the store's cap of
//!   [`MAX_PROVIDERS_PER_KEY`]; a client looks up shards until it has enough.
//! - **Gossip ads** with a TTL, cached by every node that hears them.
//!
//! This module holds the keys and the cache; the node drives the queries.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::{kad::RecordKey, PeerId};
use sha2::{Digest, Sha256};

use crate::protocol::CapabilityAd;

/// The store-wide cap on providers under one key; shards keep each key below it.
pub const MAX_PROVIDERS_PER_KEY: usize = 20;
/// Shards per capability: `SHARDS × MAX_PROVIDERS_PER_KEY` = 1280 providers per
/// capability before any key fills.
pub const SHARDS: u16 = 64;

/// The shard a worker provides under.
pub fn shard_of(peer: &PeerId) -> u16 {
    let digest = Sha256::digest(peer.to_bytes());
    u16::from_be_bytes([digest[0], digest[1]]) % SHARDS
}

/// The DHT key for one shard of a capability.
pub fn provider_key(capability: &str, shard: u16) -> RecordKey {
    RecordKey::new(&format!("/ciro/1/cap/{capability}/{shard}"))
}

/// The order a client looks shards up in: starting from a shard derived from its own id,
/// so clients spread over shards instead of all asking the same one first.
pub fn shard_order(me: &PeerId) -> impl Iterator<Item = u16> {
    let start = shard_of(me);
    (0..SHARDS).map(move |i| (start + i) % SHARDS)
}

/// Capability ads heard over gossip, until their TTL runs out.
#[derive(Default)]
pub struct AdCache {
    ads: HashMap<PeerId, (CapabilityAd, Instant)>,
}

impl AdCache {
    pub fn insert(&mut self, peer: PeerId, ad: CapabilityAd, now: Instant) {
        let expires = now + Duration::from_secs(ad.ttl_secs.into());
        self.ads.insert(peer, (ad, expires));
    }

    pub fn remove(&mut self, peer: &PeerId) {
        self.ads.remove(peer);
    }

    /// Peers whose live ad names `capability`.
    pub fn offering(&self, capability: &str, now: Instant) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = self
            .ads
            .iter()
            .filter(|(_, (ad, expires))| {
                *expires > now && ad.capabilities.iter().any(|c| c == capability)
            })
            .map(|(peer, _)| *peer)
            .collect();
        peers.sort();
        peers
    }

    pub fn get(&self, peer: &PeerId, now: Instant) -> Option<&CapabilityAd> {
        self.ads
            .get(peer)
            .filter(|(_, expires)| *expires > now)
            .map(|(ad, _)| ad)
    }

    pub fn expire(&mut self, now: Instant) {
        self.ads.retain(|_, (_, expires)| *expires > now);
    }

    pub fn len(&self) -> usize {
        self.ads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ads.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_workers_under_the_cap() {
        let mut counts = vec![0usize; SHARDS as usize];
        for _ in 0..1000 {
            counts[shard_of(&PeerId::random()) as usize] += 1;
        }
        // 1000 workers over 64 shards: about 16 a key, none near a full key twice over.
        assert!(
            counts.iter().all(|&c| c < 2 * MAX_PROVIDERS_PER_KEY),
            "{counts:?}"
        );
        assert!(counts.iter().filter(|&&c| c > 0).count() > 50);
        let order: Vec<u16> = shard_order(&PeerId::random()).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..SHARDS).collect::<Vec<_>>());
        assert_ne!(provider_key("wasm", 1), provider_key("wasm", 2));
        assert_ne!(provider_key("wasm", 1), provider_key("gpu", 1));
    }

    #[test]
    fn ads_expire_with_their_ttl() {
        let mut cache = AdCache::default();
        let now = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        let ad = |caps: &[&str], ttl| CapabilityAd {
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            min_price: 0,
            slots: 1,
            issued_ms: 0,
            ttl_secs: ttl,
            addrs: vec![],
            backing: None,
        };
        cache.insert(a, ad(&["wasm"], 10), now);
        cache.insert(b, ad(&["wasm", "gpu"], 100), now);
        assert_eq!(cache.offering("wasm", now).len(), 2);
        assert_eq!(cache.offering("gpu", now), vec![b]);
        let later = now + Duration::from_secs(11);
        assert_eq!(cache.offering("wasm", later), vec![b]);
        assert!(cache.get(&a, later).is_none());
        cache.expire(later);
        assert_eq!(cache.len(), 1);
    }
}
