//! The CIRO Network peer: a libp2p node that moves jobs without a coordinator.
//!
//! Where things are handled, one hop each:
//! - [`protocol`]: every message on the wire, its limits, signing and decoding;
//! - [`network`]: transports and the composed libp2p behaviour;
//! - [`node`]: the event loop, which routes swarm events, gossip, requests, responses,
//!   commands and timers to the roles: client, worker, arbiter, peers and lookup;
//! - [`job`]: a client's job and its rules (selection, k-of-n verification, reassignment);
//! - [`sandbox`]: wasmtime execution within a job's limits, and the example workloads;
//! - [`discovery`]: sharded DHT provider keys and the gossip ad cache;
//! - [`limits`]: per-peer token buckets, strikes and bans;
//! - [`chain`]: Starknet: which peers the chain backs, escrow settlement, reputation proofs;
//! - [`reputation`]: the pluggable source of worker standing and the bid score;
//! - [`gateway`]: the HTTP API; [`client`]: its client, for the CLI; [`metrics`]: Prometheus; [`config`]: settings.
pub mod chain;
pub mod client;
pub mod clock;
pub mod config;
pub mod discovery;
pub mod gateway;
pub mod identity;
pub mod job;
pub mod json;
pub mod limits;
pub mod metrics;
pub mod network;
pub mod node;
pub mod protocol;
pub mod reputation;
pub mod sandbox;
pub mod store;

pub use config::{ClientConduct, NodeArgs, NodeConfig, WorkerConduct};
pub use node::{JobRequest, Node, NodeHandle};
