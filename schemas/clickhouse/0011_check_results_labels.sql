-- The check's labels (from its definition) on every result, so silences by
-- label also match transitions evaluated from stored results (at restart,
-- in backtests).
ALTER TABLE ${db}.check_results
    ADD COLUMN IF NOT EXISTS labels Map(LowCardinality(String), String) DEFAULT map();
