//! End-to-end tests of the whole system live in `system.rs`: each starts a local network
//! with `ciro::up` (devnet, the deployed suite, staked workers, the indexer on SQLite,
//! worker nodes and a client node) and checks what the chain and the indexer say.
