-- Disputes cost the disputer a bond, and a lost dispute's slash goes to the treasury alone:
-- the client's share of slashes is gone.
ALTER TABLE disputes DROP COLUMN slashed_to_client;
ALTER TABLE disputes ADD COLUMN bond TEXT;
