#![doc = include_str!("../README.md")]

pub mod api;
pub mod config;
pub mod engine;
pub mod error;
pub mod fetch;
pub mod metrics;
pub mod model;
pub mod processors;
pub mod score;
pub mod service;
pub mod store;

pub use config::{ChainArgs, Config, IndexerArgs};
pub use error::{IndexerError, Result};
pub use store::Store;
