-- A worker's capability rows, found by worker. Every save of a worker replaces its rows
-- (`DELETE ... WHERE worker = $1`); the primary key leads with the capability, so without
-- this index each save scanned the whole table: at 100,000 workers, writing them took
-- longer than ten minutes.
CREATE INDEX worker_capabilities_by_worker ON worker_capabilities (worker);
