-- How many attempts (confirmation retries included) each result took.
ALTER TABLE ${db}.check_results
    ADD COLUMN IF NOT EXISTS attempts UInt8 DEFAULT 1;
