//! The whole wire vocabulary: every message a node sends or accepts, its size limit, its
//! version, and how it is encoded, signed and checked.
//!
//! Two channels carry it:
//! - **gossip** (small, broadcast): job announcements, capability ads, reputation updates
//!   and health. Each is a [`Gossip`] sealed in an [`Envelope`] signed by its sender's
//!   Ed25519 key, so any relay can forward it and any receiver can check who said it.
//! - **request-response** (direct, one peer to one peer over an authenticated Noise
//!   channel): bids, assignments, blob fetches (module and input by hash), result commits
//!   and result payloads, framed by [`JobCodec`].
//!
//! Everything is [postcard](https://docs.rs/postcard) with a length bound checked before a
//! byte is decoded, and every decoded value goes through `check()` before anyone sees it.
//! This module never touches the network or the clock.

use std::{fmt, io};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{identity, Multiaddr, PeerId, StreamProtocol};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Unix milliseconds, the clock every `*_ms` field on the wire is read against.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

/// The version every envelope carries. A peer speaking another version is rejected, not
/// guessed at; the request-response protocol name carries the same number.
pub const VERSION: u16 = 1;
/// The request-response protocol: bids, assignments, fetches, commits and results.
pub const JOB_PROTOCOL: StreamProtocol = StreamProtocol::new("/ciro/job/1");

/// The largest gossip message, envelope included. Announcements are a few hundred bytes.
pub const MAX_GOSSIP_BYTES: usize = 4 * 1024;
/// The largest module, input or result a job may move.
pub const MAX_BLOB_BYTES: usize = 8 * 1024 * 1024;
/// The largest request-response frame: a blob plus its small header.
pub const MAX_FRAME_BYTES: usize = MAX_BLOB_BYTES + 1024;
/// The most capabilities a worker may claim in one ad.
pub const MAX_CAPABILITIES: usize = 16;
/// The longest capability name.
pub const MAX_CAPABILITY_LEN: usize = 48;
/// The most workers one job may ask for.
pub const MAX_REDUNDANCY: u8 = 8;
/// The most addresses a message may carry, and the longest one.
pub const MAX_ADDRS: usize = 4;
pub const MAX_ADDR_BYTES: usize = 96;
/// The longest a capability ad may live.
pub const MAX_AD_TTL_SECS: u32 = 3600;

const SIGNING_DOMAIN: &[u8] = b"ciro/gossip/v1\0";

/// A SHA-256 digest: job specs, modules, inputs and results are named by theirs.
/// On the wire it is 32 raw bytes; in JSON, 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.hex())
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            Self::parse(&text).map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(d).map(Self)
        }
    }
}

impl Hash {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn parse(text: &str) -> Result<Self, WireError> {
        let text = text.strip_prefix("0x").unwrap_or(text);
        let bytes = hex::decode(text).map_err(|_| WireError::Invalid("hash is not hex"))?;
        Ok(Self(
            bytes
                .try_into()
                .map_err(|_| WireError::Invalid("hash is not 32 bytes"))?,
        ))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.hex()[..12])
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// A job's id: the hash of its client, spec and a nonce, so two clients never collide and
/// the id itself commits to what is to be run.
pub type JobId = Hash;

/// Why bytes from the network were refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("unsupported protocol version {0} (this node speaks {VERSION})")]
    Version(u16),
    #[error("signer key is not an Ed25519 public key")]
    BadKey,
    #[error("signature does not match the signer and the message")]
    BadSignature,
    #[error("{0}")]
    Invalid(&'static str),
}

impl WireError {
    /// A short stable label, for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "oversized",
            Self::Malformed(_) => "malformed",
            Self::Version(_) => "version",
            Self::BadKey | Self::BadSignature => "unsigned",
            Self::Invalid(_) => "invalid",
        }
    }
}

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

/// What a job may consume; the worker enforces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub fuel: u64,
    pub memory_bytes: u32,
    pub timeout_ms: u32,
}

impl Limits {
    pub const MAX_FUEL: u64 = 50_000_000_000;
    pub const MAX_MEMORY: u32 = 1 << 30;
    pub const MAX_TIMEOUT_MS: u32 = 10 * 60 * 1000;

    pub fn check(&self) -> Result<(), WireError> {
        if self.fuel == 0 || self.fuel > Self::MAX_FUEL {
            return Err(WireError::Invalid("fuel out of range"));
        }
        if self.memory_bytes < 65_536 || self.memory_bytes > Self::MAX_MEMORY {
            return Err(WireError::Invalid("memory limit out of range"));
        }
        if self.timeout_ms == 0 || self.timeout_ms > Self::MAX_TIMEOUT_MS {
            return Err(WireError::Invalid("timeout out of range"));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 1_000_000_000,
            memory_bytes: 64 << 20,
            timeout_ms: 10_000,
        }
    }
}

/// The spec hash: the module, the input, the capability and the limits, in that order.
pub fn spec_hash(module: &Hash, input: &Hash, capability: &str, limits: &Limits) -> Hash {
    let mut h = Sha256::new();
    h.update(b"ciro/spec/v1\0");
    h.update(module.0);
    h.update(input.0);
    h.update((capability.len() as u32).to_be_bytes());
    h.update(capability.as_bytes());
    h.update(limits.fuel.to_be_bytes());
    h.update(limits.memory_bytes.to_be_bytes());
    h.update(limits.timeout_ms.to_be_bytes());
    Hash(h.finalize().into())
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

impl Backing {
    fn check(&self) -> Result<(), WireError> {
        if self.signature.is_empty() || self.signature.len() > MAX_SIGNATURE_FELTS {
            return Err(WireError::Invalid("signature length out of range"));
        }
        Ok(())
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

/// A job's id: its client, its spec and a nonce.
pub fn job_id(client: &PeerId, spec: &Hash, nonce: &[u8; 16]) -> JobId {
    Hash::of(&[client.to_bytes(), spec.0.to_vec(), nonce.to_vec()].concat())
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

    fn check(&self) -> Result<(), WireError> {
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

/// Capability names: `[a-z0-9:._-]`, 1 to 48 bytes, e.g. `wasm` or `gpu:a100`.
pub fn check_capability(name: &str) -> Result<(), WireError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CAPABILITY_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(WireError::Invalid(
            "capability must be 1-48 characters of a-z 0-9 : . _ -",
        ))
    }
}

fn check_addrs(addrs: &[Vec<u8>]) -> Result<(), WireError> {
    if addrs.len() > MAX_ADDRS || addrs.iter().any(|a| a.len() > MAX_ADDR_BYTES) {
        return Err(WireError::Invalid("too many or too long addresses"));
    }
    if addrs
        .iter()
        .any(|a| Multiaddr::try_from(a.clone()).is_err())
    {
        return Err(WireError::Invalid("address is not a multiaddr"));
    }
    Ok(())
}

/// Addresses as they travel: the first [`MAX_ADDRS`] that fit.
pub fn addrs_to_wire<'a>(addrs: impl IntoIterator<Item = &'a Multiaddr>) -> Vec<Vec<u8>> {
    addrs
        .into_iter()
        .map(|a| a.to_vec())
        .filter(|a| a.len() <= MAX_ADDR_BYTES)
        .take(MAX_ADDRS)
        .collect()
}

/// Addresses from a checked message.
pub fn addrs_from_wire(addrs: &[Vec<u8>]) -> Vec<Multiaddr> {
    addrs
        .iter()
        .filter_map(|a| Multiaddr::try_from(a.clone()).ok())
        .collect()
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

fn signing_bytes(body: &[u8]) -> Vec<u8> {
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

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WireError> {
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(value)
}

/// A worker's offer for a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid {
    pub job_id: JobId,
    pub price: u128,
    pub eta_ms: u32,
    /// What the worker says it has staked; the client checks it against its own source.
    pub stake_claim: u128,
    pub reputation_claim_ppm: u32,
    /// The account behind the worker; a client that settles on chain ignores bids
    /// without one.
    pub backing: Option<Backing>,
    /// The worker's signed agreement to escrow terms; a client that settles on chain
    /// cannot assign the worker without one.
    pub consent: Option<Consent>,
}

/// A worker's signed consent to an escrow job (the `Bid` of `ciro_bindings::bid`): the
/// least reward, the most collateral and the time its result is due on chain. The spec hash
/// is the job id's felt and the signer is the backing account, so neither travels here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub price: u128,
    pub collateral: u128,
    /// Unix seconds.
    pub deadline: u64,
    /// Unix seconds (chain time) after which it cannot be used.
    pub expiry: u64,
    /// A felt, big-endian.
    pub nonce: [u8; 32],
    /// The account's signature (felts, big-endian).
    pub signature: Vec<[u8; 32]>,
}

impl Consent {
    fn check(&self) -> Result<(), WireError> {
        if self.signature.is_empty() || self.signature.len() > MAX_SIGNATURE_FELTS {
            return Err(WireError::Invalid("signature length out of range"));
        }
        Ok(())
    }
}

/// The client's choice of a worker, with what it needs to fetch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub job_id: JobId,
    pub module: Hash,
    pub input: Hash,
    pub limits: Limits,
    /// Unix milliseconds by which the result must be committed.
    pub deadline_ms: u64,
}

/// The result's hash, sent before the result itself, so a worker cannot copy another's,
/// with the salt of the worker's on-chain commitment to it: the client checks that the
/// escrow job's commitment opens to this result (`ciro_bindings::commitment`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultCommit {
    pub job_id: JobId,
    pub result: Hash,
    pub fuel_used: u64,
    /// A felt, big-endian.
    pub salt: [u8; 32],
}

/// A direct request from one peer to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Worker → client.
    Bid(Bid),
    /// Client → worker.
    Assign(Assignment),
    /// Worker → client: a module or an input of a job the worker is assigned.
    Fetch { job_id: JobId, hash: Hash },
    /// Worker → client.
    Commit(ResultCommit),
    /// Worker → client, after its commit was acknowledged: the output, or the
    /// deterministic failure (out of fuel, a trap) the run ended in.
    Result {
        job_id: JobId,
        output: Vec<u8>,
        error: Option<String>,
    },
    /// Client → worker: the assignment is on chain as escrow job `escrow_id`, where the
    /// worker submits its result hash.
    Escrowed { job_id: JobId, escrow_id: u64 },
    /// Never sent: what the codec hands the node in place of a frame it refused, so the
    /// node can answer it and count it against the sender.
    #[serde(skip)]
    Refused(WireError),
}

impl Request {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bid(_) => "bid",
            Self::Assign(_) => "assign",
            Self::Fetch { .. } => "fetch",
            Self::Commit(_) => "commit",
            Self::Result { .. } => "result",
            Self::Escrowed { .. } => "escrowed",
            Self::Refused(_) => "refused",
        }
    }

    fn check(&self) -> Result<(), WireError> {
        match self {
            Self::Assign(a) => a.limits.check(),
            Self::Bid(bid) => {
                if let Some(b) = &bid.backing {
                    b.check()?;
                }
                if let Some(c) = &bid.consent {
                    c.check()?;
                }
                Ok(())
            }
            Self::Result { error: Some(e), .. } if e.len() > 1024 => {
                Err(WireError::Invalid("error message too long"))
            }
            Self::Result { output, .. } if output.len() > MAX_BLOB_BYTES => {
                Err(WireError::TooLarge {
                    size: output.len(),
                    limit: MAX_BLOB_BYTES,
                })
            }
            _ => Ok(()),
        }
    }
}

/// Why a request was turned down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    UnknownJob,
    NotAssigned,
    Closed,
    Busy,
    RateLimited,
    HashMismatch,
    NoCommit,
    BadRequest,
    /// The chain does not back the sender: no stake, not active, or not registered for
    /// the capability.
    Unbacked,
    /// The bid carries no signed consent to the escrow terms the client asks (reward,
    /// collateral, deadline), so the worker cannot be assigned on chain.
    Unconsented,
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Ack,
    Blob(Vec<u8>),
    Refused(Refusal),
}

/// Frames requests and responses as a 4-byte big-endian length and a postcard body.
/// A length above [`MAX_FRAME_BYTES`] is refused before anything is read.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobCodec;

/// Reads one frame. A length above the limit is refused before the body is read.
async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(invalid(WireError::TooLarge {
            size: len,
            limit: MAX_FRAME_BYTES,
        }));
    }
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    io.take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send, M: Serialize>(
    io: &mut T,
    message: &M,
) -> io::Result<()> {
    let body = postcard::to_stdvec(message).map_err(io::Error::other)?;
    if body.len() > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            WireError::TooLarge {
                size: body.len(),
                limit: MAX_FRAME_BYTES,
            },
        ));
    }
    io.write_all(&(body.len() as u32).to_be_bytes()).await?;
    io.write_all(&body).await?;
    io.close().await
}

fn invalid(e: WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Decodes and checks one request frame.
pub fn decode_request(bytes: &[u8]) -> Result<Request, WireError> {
    let request: Request = decode(bytes)?;
    request.check()?;
    Ok(request)
}

impl libp2p::request_response::Codec for JobCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Request> {
        // A refused frame still reaches the node, which answers it and penalizes the
        // sender; libp2p would otherwise drop the stream without telling anyone.
        let frame = match read_frame(io).await {
            Ok(frame) => frame,
            Err(e) => match e.get_ref().and_then(|e| e.downcast_ref::<WireError>()) {
                Some(wire) => return Ok(Request::Refused(wire.clone())),
                None => return Err(e),
            },
        };
        Ok(decode_request(&frame).unwrap_or_else(Request::Refused))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Response> {
        decode(&read_frame(io).await?).map_err(invalid)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()> {
        if let Request::Refused(e) = request {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        }
        write_frame(io, &request).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> io::Result<()> {
        write_frame(io, &response).await
    }
}

/// The frame a well-behaved peer would send for `request`; tests and tools use it to build
/// hostile variants.
pub fn encode_request(request: &Request) -> Vec<u8> {
    postcard::to_stdvec(request).expect("requests always encode")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcement() -> Gossip {
        Gossip::Job(JobAnnouncement {
            job_id: Hash::of(b"job"),
            spec_hash: Hash::of(b"spec"),
            capability: "wasm".into(),
            reward: 10,
            deadline_ms: 1,
            redundancy: 2,
            limits: Limits::default(),
            addrs: addrs_to_wire(&["/ip4/127.0.0.1/tcp/1".parse().unwrap()]),
            round: 0,
        })
    }

    #[test]
    fn sealed_gossip_opens_to_its_signer() {
        let key = identity::Keypair::generate_ed25519();
        let bytes = seal(&key, &announcement());
        let (signer, message) = open(&bytes, "/ciro/1/jobs/wasm").unwrap();
        assert_eq!(signer, key.public().to_peer_id());
        assert_eq!(message, announcement());
    }

    #[test]
    fn forged_unsigned_and_misrouted_gossip_is_refused() {
        let key = identity::Keypair::generate_ed25519();
        let bytes = seal(&key, &announcement());
        let mut envelope: Envelope = decode(&bytes).unwrap();

        // Another body under the same signature: a forgery.
        let mut forged = envelope.clone();
        let Gossip::Job(mut job) = announcement() else {
            unreachable!()
        };
        job.reward = 1_000_000;
        forged.body = postcard::to_stdvec(&Gossip::Job(job)).unwrap();
        let forged = postcard::to_stdvec(&forged).unwrap();
        assert_eq!(
            open(&forged, "/ciro/1/jobs/wasm"),
            Err(WireError::BadSignature)
        );

        // Someone else's key claimed as the signer.
        let mut impostor = envelope.clone();
        impostor.signer = identity::Keypair::generate_ed25519()
            .public()
            .try_into_ed25519()
            .unwrap()
            .to_bytes()
            .to_vec();
        let impostor = postcard::to_stdvec(&impostor).unwrap();
        assert_eq!(
            open(&impostor, "/ciro/1/jobs/wasm"),
            Err(WireError::BadSignature)
        );

        // No signature at all.
        envelope.signature.clear();
        let unsigned = postcard::to_stdvec(&envelope).unwrap();
        assert_eq!(
            open(&unsigned, "/ciro/1/jobs/wasm"),
            Err(WireError::BadSignature)
        );

        // A valid message on another capability's topic.
        assert_eq!(
            open(&bytes, "/ciro/1/jobs/gpu"),
            Err(WireError::Invalid("message sent on the wrong topic"))
        );
    }

    #[test]
    fn malformed_oversized_and_future_gossip_is_refused() {
        let key = identity::Keypair::generate_ed25519();
        let bytes = seal(&key, &announcement());
        for cut in [0, 1, 5, bytes.len() / 2, bytes.len() - 1] {
            let err = open(&bytes[..cut], "/ciro/1/jobs/wasm").unwrap_err();
            assert!(matches!(err, WireError::Malformed(_)), "cut {cut}: {err:?}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            open(&trailing, "/ciro/1/jobs/wasm"),
            Err(WireError::Malformed(_))
        ));
        assert_eq!(
            open(&vec![0u8; MAX_GOSSIP_BYTES + 1], "/ciro/1/jobs/wasm"),
            Err(WireError::TooLarge {
                size: MAX_GOSSIP_BYTES + 1,
                limit: MAX_GOSSIP_BYTES
            })
        );
        let mut envelope: Envelope = decode(&bytes).unwrap();
        envelope.version = 2;
        assert_eq!(
            open(
                &postcard::to_stdvec(&envelope).unwrap(),
                "/ciro/1/jobs/wasm"
            ),
            Err(WireError::Version(2))
        );
        // Garbage of every small length never panics and is never accepted.
        for len in 0..200usize {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            assert!(open(&junk, "/ciro/1/jobs/wasm").is_err());
            let _ = decode_request(&junk);
        }
    }

    #[test]
    fn signed_but_invalid_content_is_refused() {
        let key = identity::Keypair::generate_ed25519();
        let Gossip::Job(mut job) = announcement() else {
            unreachable!()
        };
        job.redundancy = 0;
        let bytes = seal(&key, &Gossip::Job(job.clone()));
        assert_eq!(
            open(&bytes, "/ciro/1/jobs/wasm"),
            Err(WireError::Invalid("redundancy out of range"))
        );
        job.redundancy = 1;
        job.capability = "Not Valid".into();
        let bytes = seal(&key, &Gossip::Job(job));
        assert!(open(&bytes, "/ciro/1/jobs/Not Valid").is_err());
        let ad = Gossip::Capabilities(CapabilityAd {
            capabilities: vec![],
            min_price: 0,
            slots: 1,
            issued_ms: 0,
            ttl_secs: 60,
            addrs: vec![],
            backing: None,
        });
        assert_eq!(
            open(&seal(&key, &ad), topics::CAPABILITIES),
            Err(WireError::Invalid("capability count out of range"))
        );
    }

    #[test]
    fn requests_round_trip_and_bad_frames_are_refused() {
        let request = Request::Assign(Assignment {
            job_id: Hash::of(b"j"),
            module: Hash::of(b"m"),
            input: Hash::of(b"i"),
            limits: Limits::default(),
            deadline_ms: 5,
        });
        let bytes = encode_request(&request);
        assert_eq!(decode_request(&bytes).unwrap(), request);
        assert!(matches!(
            decode_request(&bytes[..bytes.len() - 3]),
            Err(WireError::Malformed(_))
        ));
        let Request::Assign(mut bad) = request else {
            unreachable!()
        };
        bad.limits.fuel = 0;
        assert_eq!(
            decode_request(&encode_request(&Request::Assign(bad))),
            Err(WireError::Invalid("fuel out of range"))
        );
        // An unknown variant tag.
        assert!(matches!(
            decode_request(&[9, 0, 0]),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn frames_longer_than_the_limit_are_refused_before_reading() {
        futures::executor::block_on(async {
            let mut frame = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
            frame.extend([0u8; 16]);
            let mut io = futures::io::Cursor::new(frame);
            let err = read_frame(&mut io).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            // A frame that promises more than it carries.
            let mut short = 100u32.to_be_bytes().to_vec();
            short.extend([1u8; 10]);
            let err = read_frame(&mut futures::io::Cursor::new(short))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        });
    }

    #[test]
    fn the_codec_hands_refused_frames_to_the_node() {
        use libp2p::request_response::Codec;
        futures::executor::block_on(async {
            let mut codec = JobCodec;
            let mut junk = 3u32.to_be_bytes().to_vec();
            junk.extend([0xff; 3]);
            let request = codec
                .read_request(&JOB_PROTOCOL, &mut futures::io::Cursor::new(junk))
                .await
                .unwrap();
            assert!(matches!(request, Request::Refused(WireError::Malformed(_))));
            let big = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
            let request = codec
                .read_request(&JOB_PROTOCOL, &mut futures::io::Cursor::new(big))
                .await
                .unwrap();
            assert_eq!(
                request,
                Request::Refused(WireError::TooLarge {
                    size: MAX_FRAME_BYTES + 1,
                    limit: MAX_FRAME_BYTES
                })
            );
            let mut out = futures::io::Cursor::new(Vec::new());
            assert!(codec
                .write_request(&JOB_PROTOCOL, &mut out, Request::Refused(WireError::BadKey))
                .await
                .is_err());
            assert!(out.into_inner().is_empty());
        });
    }

    #[test]
    fn capability_names_are_checked() {
        for ok in ["wasm", "gpu:a100", "cpu.avx2", "x-86_64"] {
            check_capability(ok).unwrap();
        }
        for bad in ["", "WASM", "has space", "ü", &"a".repeat(49), "a/b"] {
            assert!(check_capability(bad).is_err(), "{bad:?}");
        }
    }
}
