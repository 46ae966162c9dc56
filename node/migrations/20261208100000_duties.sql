-- What a worker owes and is owed for a job it ran: written before its commitment leaves,
-- so a restarted worker still commits, reveals, finalizes or settles its pay.
CREATE TABLE duties (
    job_id BLOB PRIMARY KEY NOT NULL,
    -- The client's peer id.
    client BLOB NOT NULL,
    -- The job as announced (postcard).
    announcement BLOB NOT NULL,
    -- The salt of the worker's on-chain commitment (32 bytes).
    salt BLOB NOT NULL,
    -- The run's output, or its deterministic failure: exactly one is set.
    output BLOB,
    error TEXT,
    -- The account whose deposit pays (32 bytes), or NULL for an escrow job.
    payer BLOB,
    -- The client's escrow job for this work, once it named it.
    escrow_id INTEGER,
    -- The client's signed acceptance of the result (postcard), for a deposit-paid job.
    acceptance BLOB,
    created_ms INTEGER NOT NULL,
    -- When the worker's pay was settled on chain (paid, refunded or ruled on); NULL while
    -- the duty is open.
    settled_ms INTEGER,
    CHECK ((output IS NULL) <> (error IS NULL))
);

CREATE INDEX duties_open ON duties (settled_ms);
