-- Per check, location and minute: what the raw results of that minute add up
-- to. Rows are rebuilt from check_results FINAL (so a duplicate result is
-- never counted) and replace the previous version of their minute: rebuilding
-- is idempotent, and a late result only means its minute is rebuilt.
-- Percentiles come from a DDSketch with 1 % relative accuracy, mergeable into
-- longer buckets.
CREATE TABLE IF NOT EXISTS ${db}.check_rollup_1m
(
    check_id       LowCardinality(String),
    location       LowCardinality(String),
    bucket         DateTime('UTC'),
    runs           UInt64,
    successes      UInt64,
    duration_sum   Float64,
    duration_max   Float64,
    ttfb_sum       Float64,
    ttfb_max       Float64,
    duration_q     AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    status_counts  Map(UInt16, UInt64),
    class_counts   Map(String, UInt64),
    version        DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(bucket)
ORDER BY (check_id, location, bucket)
TTL bucket + INTERVAL 90 DAY;
