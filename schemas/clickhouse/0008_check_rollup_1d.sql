-- Per check, location and day, merged from the hour rollup; rebuilt like it; kept forever.
CREATE TABLE IF NOT EXISTS ${db}.check_rollup_1d
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
PARTITION BY toYear(bucket)
ORDER BY (check_id, location, bucket);
