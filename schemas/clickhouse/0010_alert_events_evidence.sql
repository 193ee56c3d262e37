-- The evidence every transition carries since rules other than availability
-- exist: the rule's kind, what it measured (value, unit), the first result
-- involved, the deciding location and the locations failing out of those
-- active, the quorum, whether a silence covered it, and the one-line summary.
ALTER TABLE ${db}.alert_events
    ADD COLUMN IF NOT EXISTS kind LowCardinality(String) DEFAULT 'availability',
    ADD COLUMN IF NOT EXISTS value Float64 DEFAULT availability,
    ADD COLUMN IF NOT EXISTS unit LowCardinality(String) DEFAULT 'ratio',
    ADD COLUMN IF NOT EXISTS first_result_id String DEFAULT '',
    ADD COLUMN IF NOT EXISTS location LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS failing_locations Array(String) DEFAULT [],
    ADD COLUMN IF NOT EXISTS locations UInt32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS quorum UInt32 DEFAULT 1,
    ADD COLUMN IF NOT EXISTS silenced Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS silence String DEFAULT '',
    ADD COLUMN IF NOT EXISTS summary String DEFAULT '';
