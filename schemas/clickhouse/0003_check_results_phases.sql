-- Per-phase timings of each run (milliseconds; 0 when the phase did not happen).
ALTER TABLE ${db}.check_results
    ADD COLUMN IF NOT EXISTS dns_ms Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS connect_ms Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tls_ms Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS processing_ms Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS transfer_ms Float64 DEFAULT 0;
