-- A client's jobs: written when a job is submitted, and again when it ends, before any
-- transaction settling its escrow slots goes out, so a restarted client settles each slot
-- by the verdict it reached, exactly once, and still shows the job.
CREATE TABLE client_jobs (
    job_id BLOB PRIMARY KEY NOT NULL,
    -- The job as submitted (postcard): its terms and the hashes of its module and input.
    record BLOB NOT NULL,
    -- How it ended (postcard): its status, the agreed result, each worker's verdict. NULL
    -- while it runs.
    ending BLOB,
    created_ms INTEGER NOT NULL,
    -- When every escrow slot of the job was settled on chain; NULL while any is open.
    settled_ms INTEGER
);

CREATE INDEX client_jobs_open ON client_jobs (settled_ms);
