-- The indexer's schema on PostgreSQL. Amounts are decimal strings of base units (they exceed
-- BIGINT); felts are 0x-prefixed, 64-digit lowercase hex.

-- Which deployment and chain this database indexes.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every indexed block; the highest one is the cursor.
CREATE TABLE blocks (
    number      BIGINT PRIMARY KEY,
    hash        TEXT   NOT NULL,
    parent_hash TEXT   NOT NULL,
    timestamp   BIGINT NOT NULL,
    events      BIGINT NOT NULL,
    -- Pedersen hash of the block's transaction hashes: devnet's block hashes do not
    -- commit to the transactions, so a replaced block can keep its hash.
    txs         TEXT   NOT NULL
);

-- Every event of the indexed contracts, raw and with the entities it concerns.
CREATE TABLE events (
    block_number BIGINT NOT NULL,
    tx_hash      TEXT   NOT NULL,
    event_index  BIGINT NOT NULL,
    tx_index     BIGINT NOT NULL,
    contract     TEXT   NOT NULL,
    from_address TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    worker       TEXT,
    job_id       BIGINT,
    dispute_id   BIGINT,
    keys         TEXT   NOT NULL,
    data         TEXT   NOT NULL,
    timestamp    BIGINT NOT NULL,
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
    unlock_at        BIGINT,
    capabilities     TEXT   NOT NULL,
    jobs_assigned    BIGINT NOT NULL,
    jobs_completed   BIGINT NOT NULL,
    jobs_failed      BIGINT NOT NULL,
    disputes_won     BIGINT NOT NULL,
    disputes_lost    BIGINT NOT NULL,
    slashes          BIGINT NOT NULL,
    total_earned     TEXT   NOT NULL,
    total_slashed    TEXT   NOT NULL,
    score_success    DOUBLE PRECISION NOT NULL,
    score_failure    DOUBLE PRECISION NOT NULL,
    score_at         BIGINT,
    score_ppm        BIGINT NOT NULL,
    slashed_since_stake BIGINT NOT NULL,
    first_block      BIGINT NOT NULL,
    last_block       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX workers_by_score ON workers (score_ppm DESC, address);

-- The capability index: workers by capability, ordered by score.
CREATE TABLE worker_capabilities (
    capability TEXT   NOT NULL,
    worker     TEXT   NOT NULL,
    score_ppm  BIGINT NOT NULL,
    status     TEXT   NOT NULL,
    PRIMARY KEY (capability, worker)
);
CREATE INDEX worker_capabilities_by_score ON worker_capabilities (capability, score_ppm DESC, worker);

-- Each step of each worker's score, with the event behind it.
CREATE TABLE score_history (
    worker       TEXT   NOT NULL,
    block_number BIGINT NOT NULL,
    tx_hash      TEXT   NOT NULL,
    tx_index     BIGINT NOT NULL,
    event_index  BIGINT NOT NULL,
    reason       TEXT   NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    timestamp    BIGINT NOT NULL,
    PRIMARY KEY (worker, block_number, tx_hash, event_index)
);

CREATE TABLE jobs (
    job_id            BIGINT PRIMARY KEY,
    client            TEXT   NOT NULL,
    worker            TEXT,
    state             TEXT   NOT NULL,
    spec_hash         TEXT   NOT NULL,
    capability        TEXT   NOT NULL,
    reward            TEXT   NOT NULL,
    collateral        TEXT   NOT NULL,
    deadline          BIGINT NOT NULL,
    challenge_window  BIGINT NOT NULL,
    result_hash       TEXT,
    challenge_ends_at BIGINT,
    dispute_id        BIGINT,
    payout            TEXT,
    fee               TEXT,
    refund            TEXT,
    slashed           TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    created_block     BIGINT NOT NULL,
    updated_block     BIGINT NOT NULL,
    created_tx        TEXT   NOT NULL
);
CREATE INDEX jobs_client ON jobs (client, job_id);
CREATE INDEX jobs_worker ON jobs (worker, job_id);
CREATE INDEX jobs_state ON jobs (state, job_id);

CREATE TABLE disputes (
    dispute_id          BIGINT PRIMARY KEY,
    job_id              BIGINT NOT NULL,
    client              TEXT   NOT NULL,
    worker              TEXT   NOT NULL,
    evidence_hash       TEXT   NOT NULL,
    voting_ends_at      BIGINT NOT NULL,
    votes_worker        BIGINT NOT NULL,
    votes_client        BIGINT NOT NULL,
    status              TEXT   NOT NULL,
    ruling              TEXT,
    by_timeout          BIGINT,
    payout              TEXT,
    slashed_to_client   TEXT,
    slashed_to_treasury TEXT,
    opened_at           BIGINT NOT NULL,
    resolved_at         BIGINT,
    opened_block        BIGINT NOT NULL,
    updated_block       BIGINT NOT NULL
);
