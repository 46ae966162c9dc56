-- The indexer's schema on SQLite. Amounts are decimal strings of base units (they exceed
-- INTEGER); felts are 0x-prefixed, 64-digit lowercase hex.

-- Which deployment and chain this database indexes.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every indexed block; the highest one is the cursor.
CREATE TABLE blocks (
    number      INTEGER PRIMARY KEY,
    hash        TEXT   NOT NULL,
    parent_hash TEXT   NOT NULL,
    timestamp   INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    -- Pedersen hash of the block's transaction hashes: devnet's block hashes do not
    -- commit to the transactions, so a replaced block can keep its hash.
    txs         TEXT   NOT NULL
);

-- Every event of the indexed contracts, raw and with the entities it concerns.
CREATE TABLE events (
    block_number INTEGER NOT NULL,
    tx_hash      TEXT   NOT NULL,
    event_index  INTEGER NOT NULL,
    tx_index     INTEGER NOT NULL,
    contract     TEXT   NOT NULL,
    from_address TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    worker       TEXT,
    job_id       INTEGER,
    dispute_id   INTEGER,
    keys         TEXT   NOT NULL,
    data         TEXT   NOT NULL,
    timestamp    INTEGER NOT NULL,
    PRIMARY KEY (block_number, tx_hash, event_index)
);
CREATE INDEX events_order ON events (block_number, tx_index, event_index);
CREATE INDEX events_worker ON events (worker, block_number, tx_index, event_index);
CREATE INDEX events_job ON events (job_id, block_number, tx_index, event_index);
CREATE INDEX events_dispute ON events (dispute_id, block_number, tx_index, event_index);

CREATE TABLE workers (
    address          TEXT PRIMARY KEY,
    status           TEXT   NOT NULL,
    stake            TEXT   NOT NULL,
    locked           TEXT   NOT NULL,
    pending_unstake  TEXT   NOT NULL,
    unlock_at        INTEGER,
    capabilities     TEXT   NOT NULL,
    jobs_assigned    INTEGER NOT NULL,
    jobs_completed   INTEGER NOT NULL,
    jobs_failed      INTEGER NOT NULL,
    disputes_won     INTEGER NOT NULL,
    disputes_lost    INTEGER NOT NULL,
    slashes          INTEGER NOT NULL,
    total_earned     TEXT   NOT NULL,
    total_slashed    TEXT   NOT NULL,
    score_success    REAL     NOT NULL,
    score_failure    REAL     NOT NULL,
    score_at         INTEGER,
    score_ppm        INTEGER NOT NULL,
    slashed_since_stake INTEGER NOT NULL,
    first_block      INTEGER NOT NULL,
    last_block       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX workers_by_score ON workers (score_ppm DESC, address);

-- The capability index: workers by capability, ordered by score.
CREATE TABLE worker_capabilities (
    capability TEXT   NOT NULL,
    worker     TEXT   NOT NULL,
    score_ppm  INTEGER NOT NULL,
    status     TEXT   NOT NULL,
    PRIMARY KEY (capability, worker)
);
CREATE INDEX worker_capabilities_by_score ON worker_capabilities (capability, score_ppm DESC, worker);

-- Each step of each worker's score, with the event behind it.
CREATE TABLE score_history (
    worker       TEXT   NOT NULL,
    block_number INTEGER NOT NULL,
    tx_hash      TEXT   NOT NULL,
    tx_index     INTEGER NOT NULL,
    event_index  INTEGER NOT NULL,
    reason       TEXT   NOT NULL,
    score        REAL     NOT NULL,
    timestamp    INTEGER NOT NULL,
    PRIMARY KEY (worker, block_number, tx_hash, event_index)
);

CREATE TABLE jobs (
    job_id            INTEGER PRIMARY KEY,
    client            TEXT   NOT NULL,
    worker            TEXT,
    state             TEXT   NOT NULL,
    spec_hash         TEXT   NOT NULL,
    capability        TEXT   NOT NULL,
    reward            TEXT   NOT NULL,
    collateral        TEXT   NOT NULL,
    deadline          INTEGER NOT NULL,
    challenge_window  INTEGER NOT NULL,
    result_hash       TEXT,
    challenge_ends_at INTEGER,
    dispute_id        INTEGER,
    payout            TEXT,
    fee               TEXT,
    refund            TEXT,
    slashed           TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    created_block     INTEGER NOT NULL,
    updated_block     INTEGER NOT NULL,
    created_tx        TEXT   NOT NULL
);
CREATE INDEX jobs_client ON jobs (client, job_id);
CREATE INDEX jobs_worker ON jobs (worker, job_id);
CREATE INDEX jobs_state ON jobs (state, job_id);

CREATE TABLE disputes (
    dispute_id          INTEGER PRIMARY KEY,
    job_id              INTEGER NOT NULL,
    client              TEXT   NOT NULL,
    worker              TEXT   NOT NULL,
    evidence_hash       TEXT   NOT NULL,
    voting_ends_at      INTEGER NOT NULL,
    votes_worker        INTEGER NOT NULL,
    votes_client        INTEGER NOT NULL,
    status              TEXT   NOT NULL,
    ruling              TEXT,
    by_timeout          INTEGER,
    payout              TEXT,
    slashed_to_client   TEXT,
    slashed_to_treasury TEXT,
    opened_at           INTEGER NOT NULL,
    resolved_at         INTEGER,
    opened_block        INTEGER NOT NULL,
    updated_block       INTEGER NOT NULL
);
