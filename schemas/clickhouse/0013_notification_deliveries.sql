-- The notifier's delivery log: one row per attempt to send a notification to
-- a destination, and one per event it decided not to send (silenced,
-- historical, stale, resolved_not_sent, parked). notification_key is the
-- webhook-id receivers saw. A row written twice (a replay) collapses to one.
CREATE TABLE IF NOT EXISTS ${db}.notification_deliveries
(
    event_id          String,
    notification_key  String,
    destination       LowCardinality(String),
    attempt           UInt32,
    status            LowCardinality(String),
    latency_ms        Float64,
    error             String,
    at                DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (destination, event_id, notification_key, attempt, status, at)
TTL toDateTime(at) + INTERVAL 90 DAY;
