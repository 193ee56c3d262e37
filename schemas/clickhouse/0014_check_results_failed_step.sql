-- What a failed run failed at, besides its message: the journey step (its
-- name) and the assertion (as written in the check) that failed, for the
-- results page and the check page. Empty on success and for rows stored
-- before.
ALTER TABLE ${db}.check_results
    ADD COLUMN IF NOT EXISTS failed_step String DEFAULT '',
    ADD COLUMN IF NOT EXISTS failed_assertion String DEFAULT '';
