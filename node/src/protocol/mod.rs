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

mod gossip;
mod requests;
#[cfg(test)]
mod tests;

pub use gossip::*;
pub use requests::*;

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

/// A job's id: its client, its spec and a nonce.
pub fn job_id(client: &PeerId, spec: &Hash, nonce: &[u8; 16]) -> JobId {
    Hash::of(&[client.to_bytes(), spec.0.to_vec(), nonce.to_vec()].concat())
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
