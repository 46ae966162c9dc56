//! Gossip: job announcements, capability ads, reputation updates, dispute evidence and
//! health, each sealed in an [`Envelope`] signed by its sender and checked on arrival.

use super::*;

pub(super) const SIGNING_DOMAIN: &[u8] = b"ciro/gossip/v1\0";

/// A job offered to workers with a capability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAnnouncement {
    pub job_id: JobId,
    /// Commits to the module, the input and the limits (see [`spec_hash`]).
    pub spec_hash: Hash,
    pub capability: String,
    /// What the client pays each selected worker, in the token's smallest unit.
    pub reward: u128,
    /// Unix milliseconds after which the job is worth nothing to the client.
    pub deadline_ms: u64,
    pub redundancy: u8,
    pub limits: Limits,
    /// Where the client can be dialed for bids (multiaddr bytes, at most [`MAX_ADDRS`]).
    pub addrs: Vec<Vec<u8>>,
    /// Counts re-announcements, so each is a new message to gossip's duplicate filter.
    pub round: u32,
}

/// A worker's capabilities, re-advertised before `ttl_secs` runs out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityAd {
    pub capabilities: Vec<String>,
    /// The lowest reward the worker bids for.
    pub min_price: u128,
    pub slots: u16,
    pub issued_ms: u64,
    pub ttl_secs: u32,
    /// Where the worker can be dialed (multiaddr bytes, at most [`MAX_ADDRS`]).
    pub addrs: Vec<Vec<u8>>,
    /// The Starknet account that stakes for this peer, when the network settles on chain.
    pub backing: Option<Backing>,
}

/// A Starknet account's signature over a peer id: the proof that the account, and the
/// stake it holds, stands behind the peer (see `chain::binding_hash`). Peers check
/// it with the account contract's own `is_valid_signature`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backing {
    /// The account's address (a felt, big-endian).
    pub account: [u8; 32],
    /// The account's signature (felts, big-endian; `r, s` for the usual accounts).
    pub signature: Vec<[u8; 32]>,
}

/// Most felts in a [`Backing`] signature.
pub const MAX_SIGNATURE_FELTS: usize = 4;

/// A Starknet account signature on the wire: 1 to [`MAX_SIGNATURE_FELTS`] felts.
pub(super) fn check_signature(signature: &[[u8; 32]]) -> Result<(), WireError> {
    if signature.is_empty() || signature.len() > MAX_SIGNATURE_FELTS {
        return Err(WireError::Invalid("signature length out of range"));
    }
    Ok(())
}

impl Backing {
    pub(super) fn check(&self) -> Result<(), WireError> {
        check_signature(&self.signature)
    }
}

/// A worker's on-chain reputation record after the transaction `tx_hash` changed it (its
/// `ReputationUpdated` event). Any peer can fetch the receipt and check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReputationUpdate {
    /// The worker's account (a felt, big-endian).
    pub worker: [u8; 32],
    /// The event's reason, a Cairo short string such as `completed`.
    pub reason: String,
    pub jobs_completed: u64,
    pub jobs_failed: u64,
    pub disputes_won: u64,
    pub disputes_lost: u64,
    pub tx_hash: [u8; 32],
    pub block: u64,
}

/// What a client publishes when it disputes a worker's result on chain: everything an
/// arbitrator needs to re-run the job and to check that this is the job the escrow holds
/// (`job_id` is the hash of the client's peer id, the spec and `nonce`; the escrow job's
/// spec hash is `job_id`) and the record the dispute's evidence hash names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub escrow_id: u64,
    pub dispute_id: u64,
    pub job_id: JobId,
    pub nonce: [u8; 16],
    pub module: Hash,
    pub input: Hash,
    pub capability: String,
    pub limits: Limits,
    /// The disputed worker's peer id.
    pub worker: Vec<u8>,
    pub claimed: Option<Hash>,
    pub accepted: Option<Hash>,
    /// Where the client can be dialed for the module and the input.
    pub addrs: Vec<Vec<u8>>,
    /// Publications of the same evidence count up, so a repeat is not a duplicate.
    pub round: u32,
}

impl Evidence {
    /// Whether `job_id` is the job this evidence describes, as submitted by `client`.
    pub fn names_its_job(&self, client: &PeerId) -> bool {
        let spec = spec_hash(&self.module, &self.input, &self.capability, &self.limits);
        job_id(client, &spec, &self.nonce) == self.job_id
    }
}

/// A node's load, published every few seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub running: u16,
    pub slots: u16,
    pub uptime_secs: u64,
}

/// Everything that crosses gossip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gossip {
    Job(JobAnnouncement),
    Capabilities(CapabilityAd),
    Reputation(ReputationUpdate),
    Health(Health),
    Evidence(Evidence),
}

/// The gossip topics, versioned, job announcements sharded by capability.
pub mod topics {
    pub const CAPABILITIES: &str = "/ciro/1/capabilities";
    pub const REPUTATION: &str = "/ciro/1/reputation";
    pub const HEALTH: &str = "/ciro/1/health";
    pub const DISPUTES: &str = "/ciro/1/disputes";
    const JOBS: &str = "/ciro/1/jobs/";

    /// The topic jobs needing `capability` are announced on.
    pub fn jobs(capability: &str) -> String {
        format!("{JOBS}{capability}")
    }

    /// The capability a job topic is for.
    pub fn job_capability(topic: &str) -> Option<&str> {
        topic.strip_prefix(JOBS)
    }
}

impl Gossip {
    /// The topic this message belongs on; a message on any other topic is rejected.
    pub fn topic(&self) -> String {
        match self {
            Self::Job(job) => topics::jobs(&job.capability),
            Self::Capabilities(_) => topics::CAPABILITIES.into(),
            Self::Reputation(_) => topics::REPUTATION.into(),
            Self::Health(_) => topics::HEALTH.into(),
            Self::Evidence(_) => topics::DISPUTES.into(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Job(_) => "job",
            Self::Capabilities(_) => "capabilities",
            Self::Reputation(_) => "reputation",
            Self::Health(_) => "health",
            Self::Evidence(_) => "evidence",
        }
    }

    pub(super) fn check(&self) -> Result<(), WireError> {
        match self {
            Self::Job(job) => {
                check_capability(&job.capability)?;
                if job.redundancy == 0 || job.redundancy > MAX_REDUNDANCY {
                    return Err(WireError::Invalid("redundancy out of range"));
                }
                job.limits.check()?;
                check_addrs(&job.addrs)
            }
            Self::Capabilities(ad) => {
                if ad.capabilities.is_empty() || ad.capabilities.len() > MAX_CAPABILITIES {
                    return Err(WireError::Invalid("capability count out of range"));
                }
                if ad.ttl_secs == 0 || ad.ttl_secs > MAX_AD_TTL_SECS {
                    return Err(WireError::Invalid("ttl out of range"));
                }
                ad.capabilities
                    .iter()
                    .try_for_each(|c| check_capability(c))?;
                if let Some(backing) = &ad.backing {
                    backing.check()?;
                }
                check_addrs(&ad.addrs)
            }
            Self::Reputation(update) => {
                if update.reason.len() > 31 {
                    return Err(WireError::Invalid("reason longer than a short string"));
                }
                Ok(())
            }
            Self::Health(_) => Ok(()),
            Self::Evidence(e) => {
                check_capability(&e.capability)?;
                e.limits.check()?;
                PeerId::from_bytes(&e.worker)
                    .map_err(|_| WireError::Invalid("worker is not a peer id"))?;
                check_addrs(&e.addrs)
            }
        }
    }
}

/// A signed gossip message as it travels.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u16,
    /// The sender's Ed25519 public key, 32 bytes.
    pub signer: Vec<u8>,
    /// The postcard encoding of a [`Gossip`].
    pub body: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Encodes and signs `message` with `key`.
pub fn seal(key: &identity::Keypair, message: &Gossip) -> Vec<u8> {
    let body = postcard::to_stdvec(message).expect("gossip always encodes");
    let signature = key
        .sign(&signing_bytes(&body))
        .expect("ed25519 signing cannot fail");
    let signer = key
        .public()
        .try_into_ed25519()
        .expect("nodes only hold ed25519 keys")
        .to_bytes()
        .to_vec();
    let envelope = Envelope {
        version: VERSION,
        signer,
        body,
        signature,
    };
    postcard::to_stdvec(&envelope).expect("envelopes always encode")
}

pub(super) fn signing_bytes(body: &[u8]) -> Vec<u8> {
    [SIGNING_DOMAIN, body].concat()
}

/// Decodes, checks the signature of, and validates gossip that arrived on `topic`.
/// Returns the signer and the message.
pub fn open(bytes: &[u8], topic: &str) -> Result<(PeerId, Gossip), WireError> {
    if bytes.len() > MAX_GOSSIP_BYTES {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            limit: MAX_GOSSIP_BYTES,
        });
    }
    let envelope: Envelope = decode(bytes)?;
    if envelope.version != VERSION {
        return Err(WireError::Version(envelope.version));
    }
    let key = identity::ed25519::PublicKey::try_from_bytes(&envelope.signer)
        .map_err(|_| WireError::BadKey)?;
    if !key.verify(&signing_bytes(&envelope.body), &envelope.signature) {
        return Err(WireError::BadSignature);
    }
    let message: Gossip = decode(&envelope.body)?;
    message.check()?;
    if message.topic() != topic {
        return Err(WireError::Invalid("message sent on the wrong topic"));
    }
    let signer = PeerId::from_public_key(&identity::PublicKey::from(key));
    Ok((signer, message))
}
