-- Alert state transitions, as emitted to the alert topic. event_id is
-- deterministic per (check, rule, state, event time), so a transition written
-- twice collapses to one row.
CREATE TABLE IF NOT EXISTS ${db}.alert_events
(
    event_id        String,
    check_id        LowCardinality(String),
    check_name      LowCardinality(String),
    rule            LowCardinality(String),
    state           LowCardinality(String),
    previous_state  LowCardinality(String),
    at              DateTime64(3, 'UTC'),
    message         String,
    availability    Float64,
    threshold       Float64,
    window_ms       UInt64,
    samples         UInt32,
    successes       UInt32,
    down_since      DateTime64(3, 'UTC'),
    last_result_id  String
)
ENGINE = ReplacingMergeTree
ORDER BY (check_id, rule, at, event_id);
