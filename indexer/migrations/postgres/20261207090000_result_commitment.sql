-- Workers commit to their results and reveal them later: a job records the commitment at
-- submission, and its result hash only once it is revealed.
ALTER TABLE jobs ADD COLUMN commitment TEXT;
