//! Per-peer, per-channel rate limits (a governor token bucket for each pair) and the
//! strike count that turns persistent abuse into a ban.
//!
//! A strike is recorded for every message refused: rate-limited, malformed, oversized,
//! unsigned, forged or invalid. Strikes decay by one a second; a peer that reaches
//! [`Policy::ban_strikes`] is banned for [`Policy::ban_for`]. The node enforces the ban
//! (it disconnects the peer and refuses it) and lowers its gossipsub score.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    time::{Duration, Instant},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use libp2p::PeerId;

/// A channel a peer can use, limited separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Gossip this peer signed (wherever it came from).
    Gossip,
    /// Bids, commits and results it sends us.
    Request,
    /// Module and input fetches: fewer and larger.
    Fetch,
}

impl Channel {
    pub fn of(request: &crate::protocol::Request) -> Self {
        match request {
            crate::protocol::Request::Fetch { .. } => Self::Fetch,
            _ => Self::Request,
        }
    }
}

/// The limits a node applies to each peer.
#[derive(Clone, Debug)]
pub struct Policy {
    pub gossip_per_sec: u32,
    pub gossip_burst: u32,
    pub requests_per_sec: u32,
    pub requests_burst: u32,
    pub fetches_per_sec: u32,
    pub fetches_burst: u32,
    pub ban_strikes: u32,
    pub ban_for: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            gossip_per_sec: 20,
            gossip_burst: 60,
            requests_per_sec: 100,
            requests_burst: 300,
            fetches_per_sec: 10,
            fetches_burst: 40,
            ban_strikes: 50,
            ban_for: Duration::from_secs(600),
        }
    }
}

fn quota(per_sec: u32, burst: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(per_sec.max(1)).expect("max(1)"))
        .allow_burst(NonZeroU32::new(burst.max(1)).expect("max(1)"))
}

/// What became of a peer after a strike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Tolerated(u32),
    Banned,
}

#[derive(Default, Clone, Copy)]
struct Strikes {
    count: f64,
    at: Option<Instant>,
    total: u64,
}

/// The rate limiters and the strike book.
pub struct Limits {
    policy: Policy,
    buckets: HashMap<Channel, DefaultKeyedRateLimiter<PeerId>>,
    strikes: HashMap<PeerId, Strikes>,
    banned: HashMap<PeerId, Instant>,
}

impl Limits {
    pub fn new(policy: Policy) -> Self {
        let buckets = [
            (
                Channel::Gossip,
                quota(policy.gossip_per_sec, policy.gossip_burst),
            ),
            (
                Channel::Request,
                quota(policy.requests_per_sec, policy.requests_burst),
            ),
            (
                Channel::Fetch,
                quota(policy.fetches_per_sec, policy.fetches_burst),
            ),
        ]
        .into_iter()
        .map(|(channel, quota)| (channel, RateLimiter::keyed(quota)))
        .collect();
        Self {
            policy,
            buckets,
            strikes: HashMap::new(),
            banned: HashMap::new(),
        }
    }

    /// Takes a token from `peer`'s bucket for `channel`; false when the bucket is empty.
    pub fn allow(&self, peer: &PeerId, channel: Channel) -> bool {
        self.buckets[&channel].check_key(peer).is_ok()
    }

    /// Records a refused message from `peer`.
    pub fn strike(&mut self, peer: PeerId, now: Instant) -> Verdict {
        let entry = self.strikes.entry(peer).or_default();
        if let Some(at) = entry.at {
            entry.count = (entry.count - now.duration_since(at).as_secs_f64()).max(0.0);
        }
        entry.count += 1.0;
        entry.at = Some(now);
        entry.total += 1;
        if entry.count >= self.policy.ban_strikes as f64 && !self.banned.contains_key(&peer) {
            self.banned.insert(peer, now + self.policy.ban_for);
            Verdict::Banned
        } else {
            Verdict::Tolerated(entry.count as u32)
        }
    }

    /// All strikes `peer` has ever earned.
    pub fn total_strikes(&self, peer: &PeerId) -> u64 {
        self.strikes.get(peer).map_or(0, |s| s.total)
    }

    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned.contains_key(peer)
    }

    /// Lifts bans that have run out and forgets idle buckets; returns the peers unbanned.
    pub fn expire(&mut self, now: Instant) -> Vec<PeerId> {
        let lifted: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in &lifted {
            self.banned.remove(peer);
            self.strikes.remove(peer);
        }
        for bucket in self.buckets.values() {
            bucket.retain_recent();
        }
        lifted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_other_peers_are_unaffected() {
        let limits = Limits::new(Policy {
            gossip_per_sec: 1,
            gossip_burst: 5,
            ..Policy::default()
        });
        let (flooder, honest) = (PeerId::random(), PeerId::random());
        let allowed = (0..100)
            .filter(|_| limits.allow(&flooder, Channel::Gossip))
            .count();
        assert_eq!(allowed, 5);
        assert!(limits.allow(&honest, Channel::Gossip));
        // Another channel has its own bucket.
        assert!(limits.allow(&flooder, Channel::Request));
    }

    #[test]
    fn persistent_strikes_ban_and_bans_expire() {
        let mut limits = Limits::new(Policy {
            ban_strikes: 3,
            ban_for: Duration::from_secs(10),
            ..Policy::default()
        });
        let peer = PeerId::random();
        let now = Instant::now();
        assert_eq!(limits.strike(peer, now), Verdict::Tolerated(1));
        // Strikes decay: two seconds later the first is forgotten.
        assert_eq!(
            limits.strike(peer, now + Duration::from_secs(2)),
            Verdict::Tolerated(1)
        );
        let t = now + Duration::from_secs(2);
        assert_eq!(limits.strike(peer, t), Verdict::Tolerated(2));
        assert_eq!(limits.strike(peer, t), Verdict::Banned);
        assert!(limits.is_banned(&peer));
        assert_eq!(limits.total_strikes(&peer), 4);
        assert!(limits.expire(t + Duration::from_secs(5)).is_empty());
        assert_eq!(limits.expire(t + Duration::from_secs(10)), vec![peer]);
        assert!(!limits.is_banned(&peer));
    }
}
