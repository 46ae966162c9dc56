//! Finding workers: Kademlia provider records by capability shard, and the lookups that
//! query them.

use super::*;

pub(super) struct Lookup {
    pub(super) capability: String,
    pub(super) count: usize,
    pub(super) found: BTreeSet<PeerId>,
    pub(super) shards: Vec<u16>,
    pub(super) running: usize,
    pub(super) replies: Vec<oneshot::Sender<Vec<PeerId>>>,
}

/// Lookups run this many shard queries at once.
pub(super) const LOOKUP_PARALLELISM: usize = 8;

impl Node {
    pub(super) fn on_kad(&mut self, event: kad::Event) {
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
    pub(super) fn provide(&mut self) {
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

    /// Finds up to `count` workers for `capability`: first from gossip ads, then from the
    /// DHT's provider records, shard by shard. Found workers are dialed.
    pub(super) fn start_lookup(
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

    pub(super) fn advance_lookup(&mut self, id: u64) {
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
}
