-- The columns of check_results that the overview adds up, ordered by time:
-- what the overview of every check reads for its 10 minutes, 24 hours and the
-- partial days of its 30 days, and the dashboard's bar of recent minutes.
-- check_results is ordered by check first, so a read of every check's last
-- day touches every granule of it; here the last day is a contiguous range.
--
-- A materialized view fills it on every insert into check_results. It is a
-- ReplacingMergeTree keyed on the same (check, location, scheduled time) as
-- check_results, so a replayed, redelivered or late result collapses in it
-- exactly as it does there, and readers use FINAL, as they do there.
--
-- It is kept for at least 31 days (a month's parts are dropped whole once
-- all their rows are 31 days old, so up to two months are kept), a day
-- longer than the raw rows: a 30-day window ending now always finds its
-- oldest results here, where check_results' TTL may already have removed
-- them. It is partitioned by month, as check_results is: an insert into
-- check_results spanning more than 100 days (a daily check's replay) would be
-- refused by daily partitions, through the view.
CREATE TABLE IF NOT EXISTS ${db}.check_results_by_time
(
    check_id      LowCardinality(String),
    location      LowCardinality(String),
    scheduled_at  DateTime64(3, 'UTC'),
    success       Bool,
    failure_class LowCardinality(String),
    duration_ms   Float64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(scheduled_at)
ORDER BY (scheduled_at, check_id, location)
TTL toDateTime(scheduled_at) + INTERVAL 31 DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.check_results_by_time_mv TO ${db}.check_results_by_time AS
SELECT check_id, location, scheduled_at, success, failure_class, duration_ms
FROM ${db}.check_results;

-- The results stored before this migration (the view sees only new inserts;
-- run twice, or next to the view's copies, the rows collapse), of the last
-- 31 days only: older ones the TTL would drop.
INSERT INTO ${db}.check_results_by_time
SELECT check_id, location, scheduled_at, success, failure_class, duration_ms
FROM ${db}.check_results FINAL
WHERE scheduled_at >= now() - INTERVAL 31 DAY;
