-- Per-phase timings in the rollups, and sketches that keep their 1 % bound.
--
-- For each phase (dns, connect, tls, processing = server processing, transfer):
-- the runs in which it happened, the sum and maximum of its time in
-- milliseconds, and a DDSketch of it (1 % relative accuracy), merged into hours
-- and days like the other columns.
--
-- check_results stores 0 for a phase that did not happen (no DNS lookup for an
-- IP address or a cached answer, no TLS handshake over plain HTTP, nothing
-- after a failed connect). Such a zero is not a fast phase, so <phase>_runs
-- counts only the runs whose time is > 0 and <phase>_ns_q sketches only
-- those: the phase's average (<phase>_sum / <phase>_runs), maximum and
-- percentiles describe the runs in which it happened. <phase>_sum and
-- <phase>_max take every run (a zero adds nothing), so <phase>_sum /
-- detail_runs is the phase's mean share of a run, zeros included: exactly the
-- average the stats API has always reported as phases_ms.
--
-- The sketches hold nanoseconds (milliseconds * 1e6), the response time's
-- too (duration_ns_q, which readers use instead of duration_q). ClickHouse's
-- DDSketch maps a value to a bucket by truncating log_gamma(value) towards
-- zero, so below 1 its buckets are one off and estimates can be 3 % wrong: in
-- milliseconds that hits sub-millisecond phases, in nanoseconds nothing a
-- prober can measure (a Go duration is a whole number of nanoseconds).
--
-- detail_runs counts the runs these columns cover. Rows rolled up before this
-- migration keep 0 and empty sketches until their bucket is rebuilt, so they
-- are left out of percentiles and phase figures instead of diluting them.
ALTER TABLE ${db}.check_rollup_1m
    ADD COLUMN IF NOT EXISTS detail_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS duration_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS dns_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS dns_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS dns_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS dns_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS connect_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS connect_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS connect_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS connect_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS tls_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tls_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tls_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tls_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS processing_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS processing_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS processing_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS processing_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS transfer_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS transfer_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS transfer_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS transfer_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64);
ALTER TABLE ${db}.check_rollup_1h
    ADD COLUMN IF NOT EXISTS detail_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS duration_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS dns_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS dns_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS dns_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS dns_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS connect_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS connect_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS connect_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS connect_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS tls_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tls_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tls_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tls_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS processing_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS processing_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS processing_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS processing_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS transfer_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS transfer_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS transfer_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS transfer_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64);
ALTER TABLE ${db}.check_rollup_1d
    ADD COLUMN IF NOT EXISTS detail_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS duration_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS dns_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS dns_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS dns_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS dns_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS connect_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS connect_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS connect_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS connect_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS tls_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tls_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tls_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS tls_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS processing_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS processing_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS processing_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS processing_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64),
    ADD COLUMN IF NOT EXISTS transfer_runs UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS transfer_sum Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS transfer_max Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS transfer_ns_q AggregateFunction(quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99), Float64);
