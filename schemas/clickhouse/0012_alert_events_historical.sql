-- A transition found late (by the restore after a restart, by re-evaluating
-- history under changed rules, or while catching up) is recorded with
-- historical = true and never paged; detected_at is when the aggregator
-- decided it.
ALTER TABLE ${db}.alert_events
    ADD COLUMN IF NOT EXISTS historical Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS detected_at DateTime64(3, 'UTC') DEFAULT at;
