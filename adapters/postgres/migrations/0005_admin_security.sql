-- Admin-side hardening: operator idempotency keys in their own namespace, the shared
-- login throttle, and row versions for optimistic concurrency on admin updates.

-- 1. Operator idempotency keys (allocations and adjustments given through the API or the
--    CLI) are stored as 'op:' || key from now on, so none can equal a system key
--    ('hold:…', 'release:…', 'debit:…', 'initial:<team>'). Keys written before this
--    migration are moved into that namespace too, so retrying one of them still applies
--    once. Only the stored form of the key changes (amounts, types and order do not),
--    which is why the append-only trigger is lifted for this one statement and nothing
--    else. Deepest 'op:op:…' keys first, so no intermediate state breaks the unique key.
ALTER TABLE credit_ledger DISABLE TRIGGER credit_ledger_append_only;
DO $$
DECLARE
    depth int;
BEGIN
    SELECT coalesce(max(length(substring(idempotency_key FROM '^((?:op:)*)')) / 3), 0) INTO depth
    FROM credit_ledger
    WHERE type IN ('allocation', 'adjustment') AND idempotency_key IS NOT NULL
      AND idempotency_key <> 'initial:' || team_id::text;
    FOR d IN REVERSE depth..0 LOOP
        UPDATE credit_ledger SET idempotency_key = 'op:' || idempotency_key
        WHERE type IN ('allocation', 'adjustment') AND idempotency_key IS NOT NULL
          AND idempotency_key <> 'initial:' || team_id::text
          AND length(substring(idempotency_key FROM '^((?:op:)*)')) = d * 3;
    END LOOP;
END;
$$;
ALTER TABLE credit_ledger ENABLE TRIGGER credit_ledger_append_only;

-- 2. The login throttle's counters when no Redis is configured: one row per fixed-window
--    counter of the ``limits`` library (adapters/postgres/limits_storage.py). Each
--    instance prunes expired rows, so the table holds only the current windows.
CREATE TABLE rate_limit_counters (
    key         text PRIMARY KEY,
    count       bigint NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX rate_limit_counters_expiry_idx ON rate_limit_counters (expires_at);

-- 3. Row versions for optimistic concurrency (ETag / If-Match) on admin updates. Every
--    update writes only the columns it changes, WHERE version = the one read (when the
--    client sent If-Match), and bumps it. Credit movements on teams and re-encryption of
--    credentials leave it alone: they change nothing an admin edits.
ALTER TABLE organizations ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE teams ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE model_aliases ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE model_access_groups ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE provider_credentials ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version > 0);
