-- Governance events (upgrades, roles, pause, setup) are read by name for /v1/governance.
CREATE INDEX events_by_name ON events (name, block_number, tx_index, event_index);
