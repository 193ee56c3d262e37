-- The newest result (kind 'result') and the newest run that measured the
-- target and failed (kind 'failure') of every check and location: what the
-- check list and the overview show, read from a table of a few rows per
-- check instead of a search of check_results for each (check, location)'s
-- newest row. Two materialized views fill it on every insert into
-- check_results, one row per (kind, check, location) of the inserted block;
-- ReplacingMergeTree(scheduled_at) keeps the newest of them, so a replayed,
-- redelivered or late result changes nothing unless it is newer. Readers use
-- FINAL. Kept as long as the raw rows (30 days after the result).
-- A column added to check_results later must be added here and to both views.
CREATE TABLE IF NOT EXISTS ${db}.check_latest
(
    kind            LowCardinality(String),
    result_id       String,
    check_id        LowCardinality(String),
    check_name      LowCardinality(String),
    check_type      LowCardinality(String),
    location        LowCardinality(String),
    scheduled_at    DateTime64(3, 'UTC'),
    started_at      DateTime64(3, 'UTC'),
    duration_ms     Float64,
    ttfb_ms         Float64,
    http_status     UInt16,
    success         Bool,
    failure_class   LowCardinality(String),
    failure_message String,
    interval_ms     UInt32,
    dns_ms          Float64,
    connect_ms      Float64,
    tls_ms          Float64,
    processing_ms   Float64,
    transfer_ms     Float64,
    cert_not_after  DateTime64(3, 'UTC'),
    cert_issuer     LowCardinality(String),
    attempts        UInt8,
    labels          Map(LowCardinality(String), String)
)
ENGINE = ReplacingMergeTree(scheduled_at)
ORDER BY (kind, check_id, location)
TTL toDateTime(scheduled_at) + INTERVAL 30 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.check_latest_result_mv TO ${db}.check_latest AS
SELECT 'result' AS kind, result_id, check_id, check_name, check_type, location, scheduled_at, started_at,
    duration_ms, ttfb_ms, http_status, success, failure_class, failure_message, interval_ms,
    dns_ms, connect_ms, tls_ms, processing_ms, transfer_ms, cert_not_after, cert_issuer, attempts, labels
FROM ${db}.check_results
ORDER BY check_id, location, scheduled_at DESC
LIMIT 1 BY check_id, location;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.check_latest_failure_mv TO ${db}.check_latest AS
SELECT 'failure' AS kind, result_id, check_id, check_name, check_type, location, scheduled_at, started_at,
    duration_ms, ttfb_ms, http_status, success, failure_class, failure_message, interval_ms,
    dns_ms, connect_ms, tls_ms, processing_ms, transfer_ms, cert_not_after, cert_issuer, attempts, labels
FROM ${db}.check_results
WHERE NOT success AND failure_class != 'FAILURE_CLASS_OVERLOAD'
ORDER BY check_id, location, scheduled_at DESC
LIMIT 1 BY check_id, location;

-- The results stored before this migration (the views see only new inserts;
-- run twice, the copies collapse).
INSERT INTO ${db}.check_latest
SELECT 'result' AS kind, result_id, check_id, check_name, check_type, location, scheduled_at, started_at,
    duration_ms, ttfb_ms, http_status, success, failure_class, failure_message, interval_ms,
    dns_ms, connect_ms, tls_ms, processing_ms, transfer_ms, cert_not_after, cert_issuer, attempts, labels
FROM ${db}.check_results
ORDER BY check_id, location, scheduled_at DESC
LIMIT 1 BY check_id, location;

INSERT INTO ${db}.check_latest
SELECT 'failure' AS kind, result_id, check_id, check_name, check_type, location, scheduled_at, started_at,
    duration_ms, ttfb_ms, http_status, success, failure_class, failure_message, interval_ms,
    dns_ms, connect_ms, tls_ms, processing_ms, transfer_ms, cert_not_after, cert_issuer, attempts, labels
FROM ${db}.check_results
WHERE NOT success AND failure_class != 'FAILURE_CLASS_OVERLOAD'
ORDER BY check_id, location, scheduled_at DESC
LIMIT 1 BY check_id, location;
