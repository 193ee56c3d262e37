-- Raw check results: one row per (check, location, scheduled tick).
-- ReplacingMergeTree keyed on exactly that triple makes re-delivery and replay
-- harmless; readers use FINAL so a duplicate not yet merged is never counted.
CREATE TABLE IF NOT EXISTS ${db}.check_results
(
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
    interval_ms     UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(scheduled_at)
ORDER BY (check_id, location, scheduled_at)
TTL toDateTime(scheduled_at) + INTERVAL 30 DAY;
