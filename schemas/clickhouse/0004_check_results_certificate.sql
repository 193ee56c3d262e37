-- The server certificate seen by runs that did a TLS handshake: the chain's
-- earliest expiry (1970 when there was no handshake) and the leaf's issuer.
ALTER TABLE ${db}.check_results
    ADD COLUMN IF NOT EXISTS cert_not_after DateTime64(3, 'UTC') DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cert_issuer LowCardinality(String) DEFAULT '';
