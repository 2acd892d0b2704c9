-- The initial schema. Money and credits are NUMERIC without a typmod, so nothing is
-- ever rounded by the database (ADR 0001); CHECK constraints make impossible states
-- impossible rather than trusting every code path to avoid them.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    slug        text NOT NULL CHECK (slug <> ''),
    created_at  timestamptz NOT NULL,
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);

CREATE TABLE model_access_groups (
    name        text PRIMARY KEY CHECK (name <> ''),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
    id                 uuid PRIMARY KEY,
    organization_id    uuid NOT NULL REFERENCES organizations (id),
    name               text NOT NULL CHECK (name <> ''),
    status             text NOT NULL CHECK (status IN ('active', 'suspended')),
    budget_mode        text NOT NULL CHECK (budget_mode IN ('job_based', 'consumption_usd', 'consumption_tokens')),
    credits_per_usd    numeric NOT NULL CHECK (credits_per_usd > 0),
    tokens_per_credit  bigint NOT NULL CHECK (tokens_per_credit > 0),
    -- The cached balance, in credits: always the replay of the team's credit_ledger rows,
    -- updated in the same statement that appends each row.
    allocated          numeric NOT NULL DEFAULT 0,
    used               numeric NOT NULL DEFAULT 0,
    held               numeric NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    CONSTRAINT teams_used_not_negative CHECK (used >= 0),
    CONSTRAINT teams_held_not_negative CHECK (held >= 0),
    CONSTRAINT teams_available_not_negative CHECK (used + held <= allocated),
    CONSTRAINT teams_id_organization_key UNIQUE (id, organization_id)
);
CREATE INDEX teams_organization_idx ON teams (organization_id);

CREATE TABLE team_access_groups (
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    group_name  text NOT NULL REFERENCES model_access_groups (name) ON DELETE CASCADE ON UPDATE CASCADE,
    position    smallint NOT NULL CHECK (position >= 0),
    PRIMARY KEY (team_id, group_name)
);
CREATE INDEX team_access_groups_group_idx ON team_access_groups (group_name);

-- Virtual keys: only the SHA-256 digest and a visible prefix are stored.
CREATE TABLE team_api_keys (
    id               uuid PRIMARY KEY,
    team_id          uuid NOT NULL,
    organization_id  uuid NOT NULL,
    prefix           text NOT NULL,
    digest           text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    created_at       timestamptz NOT NULL,
    revoked_at       timestamptz,
    CONSTRAINT team_api_keys_digest_key UNIQUE (digest),
    -- A key's organization is its team's organization, never another one.
    FOREIGN KEY (team_id, organization_id) REFERENCES teams (id, organization_id) ON DELETE CASCADE
);
CREATE INDEX team_api_keys_team_idx ON team_api_keys (team_id, created_at);

CREATE TABLE model_aliases (
    alias                              text PRIMARY KEY CHECK (alias <> ''),
    provider                           text NOT NULL
                                       CHECK (provider IN ('openai', 'anthropic', 'gemini', 'fireworks', 'fake')),
    provider_model                     text NOT NULL CHECK (provider_model <> ''),
    -- USD per 1M tokens; NULL optional prices fall back as PriceSheet says.
    customer_input_per_million         numeric NOT NULL CHECK (customer_input_per_million >= 0),
    customer_output_per_million        numeric NOT NULL CHECK (customer_output_per_million >= 0),
    customer_cached_input_per_million  numeric CHECK (customer_cached_input_per_million >= 0),
    customer_cache_write_per_million   numeric CHECK (customer_cache_write_per_million >= 0),
    customer_reasoning_per_million     numeric CHECK (customer_reasoning_per_million >= 0),
    provider_input_per_million         numeric NOT NULL CHECK (provider_input_per_million >= 0),
    provider_output_per_million        numeric NOT NULL CHECK (provider_output_per_million >= 0),
    provider_cached_input_per_million  numeric CHECK (provider_cached_input_per_million >= 0),
    provider_cache_write_per_million   numeric CHECK (provider_cache_write_per_million >= 0),
    provider_reasoning_per_million     numeric CHECK (provider_reasoning_per_million >= 0),
    default_max_tokens                 integer NOT NULL CHECK (default_max_tokens > 0),
    fallbacks                          text[] NOT NULL DEFAULT '{}' CHECK (NOT (alias = ANY (fallbacks))),
    organization_id                    uuid REFERENCES organizations (id) ON DELETE CASCADE,
    created_at                         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE model_access_group_members (
    group_name  text NOT NULL REFERENCES model_access_groups (name) ON DELETE CASCADE ON UPDATE CASCADE,
    alias       text NOT NULL REFERENCES model_aliases (alias) ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (group_name, alias)
);
CREATE INDEX model_access_group_members_alias_idx ON model_access_group_members (alias);

-- Provider keys, Fernet-encrypted by the vault before they reach the database.
CREATE TABLE provider_credentials (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider         text NOT NULL CHECK (provider IN ('openai', 'anthropic', 'gemini', 'fireworks', 'fake')),
    name             text NOT NULL,
    encrypted_key    text NOT NULL CHECK (encrypted_key <> ''),
    key_hint         text NOT NULL,
    is_active        boolean NOT NULL DEFAULT true,
    api_base         text CHECK (api_base ~ '^https?://'),
    created_at       timestamptz NOT NULL
);
CREATE INDEX provider_credentials_active_idx
    ON provider_credentials (organization_id, provider, created_at DESC) WHERE is_active;

CREATE TABLE jobs (
    id                 uuid PRIMARY KEY,
    team_id            uuid NOT NULL REFERENCES teams (id),
    job_type           text NOT NULL CHECK (job_type <> ''),
    status             text NOT NULL
                       CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled', 'expired')),
    metadata           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    external_id        text,
    created_at         timestamptz NOT NULL,
    completed_at       timestamptz,
    held_credits       numeric NOT NULL DEFAULT 0 CHECK (held_credits >= 0),
    credits_charged    numeric CHECK (credits_charged >= 0),
    -- Running totals of the job's calls (a CostSummary), updated with each recorded call.
    total_calls        integer NOT NULL DEFAULT 0,
    successful_calls   integer NOT NULL DEFAULT 0 CHECK (successful_calls >= 0),
    failed_calls       integer NOT NULL DEFAULT 0 CHECK (failed_calls >= 0),
    input_tokens       bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens      bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    provider_cost_usd  numeric NOT NULL DEFAULT 0 CHECK (provider_cost_usd >= 0),
    customer_cost_usd  numeric NOT NULL DEFAULT 0 CHECK (customer_cost_usd >= 0),
    credits            numeric NOT NULL DEFAULT 0 CHECK (credits >= 0),
    CONSTRAINT jobs_calls_add_up CHECK (total_calls = successful_calls + failed_calls),
    CONSTRAINT jobs_completed_iff_final CHECK ((status IN ('pending', 'in_progress')) = (completed_at IS NULL)),
    CONSTRAINT jobs_charged_iff_final CHECK ((status IN ('pending', 'in_progress')) = (credits_charged IS NULL)),
    CONSTRAINT jobs_external_id_key UNIQUE (team_id, external_id),
    CONSTRAINT jobs_id_team_key UNIQUE (id, team_id)
);
CREATE INDEX jobs_team_created_idx ON jobs (team_id, created_at DESC, id DESC);
CREATE INDEX jobs_active_created_idx ON jobs (created_at) WHERE status IN ('pending', 'in_progress');

-- One row per call. Token categories are disjoint (TokenUsage): the API's prompt total is
-- input + cached_input + cache_write, its completion total output + reasoning.
CREATE TABLE llm_calls (
    id                   uuid PRIMARY KEY,
    job_id               uuid NOT NULL,
    team_id              uuid NOT NULL,
    alias                text NOT NULL,
    provider             text NOT NULL,
    provider_model       text NOT NULL,
    status               text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    input_tokens         integer NOT NULL CHECK (input_tokens >= 0),
    cached_input_tokens  integer NOT NULL CHECK (cached_input_tokens >= 0),
    cache_write_tokens   integer NOT NULL CHECK (cache_write_tokens >= 0),
    output_tokens        integer NOT NULL CHECK (output_tokens >= 0),
    reasoning_tokens     integer NOT NULL CHECK (reasoning_tokens >= 0),
    provider_cost_usd    numeric NOT NULL CHECK (provider_cost_usd >= 0),
    customer_price_usd   numeric NOT NULL CHECK (customer_price_usd >= 0),
    credits              numeric NOT NULL CHECK (credits >= 0),
    overdraft_credits    numeric NOT NULL DEFAULT 0 CHECK (overdraft_credits >= 0),
    usage_estimated      boolean NOT NULL DEFAULT false,
    finish_reason        text,
    latency_ms           integer NOT NULL CHECK (latency_ms >= 0),
    ttft_ms              integer CHECK (ttft_ms >= 0),
    attempts             integer NOT NULL DEFAULT 1 CHECK (attempts >= 0),
    streamed             boolean NOT NULL DEFAULT false,
    error_code           text,
    error_message        text,
    credential_id        uuid,
    purpose              text,
    created_at           timestamptz NOT NULL,
    -- A call belongs to its job's team, never another one.
    FOREIGN KEY (job_id, team_id) REFERENCES jobs (id, team_id)
);
CREATE INDEX llm_calls_job_idx ON llm_calls (job_id, created_at);
CREATE INDEX llm_calls_team_created_idx ON llm_calls (team_id, created_at);

-- Written once when a job finishes (a second completion inserts nothing); a call that
-- settles after its job finished is added to it.
CREATE TABLE job_cost_summaries (
    job_id             uuid PRIMARY KEY,
    team_id            uuid NOT NULL,
    status             text NOT NULL CHECK (status IN ('completed', 'failed', 'cancelled', 'expired')),
    completed_at       timestamptz NOT NULL,
    day                date NOT NULL,
    total_calls        integer NOT NULL,
    successful_calls   integer NOT NULL CHECK (successful_calls >= 0),
    failed_calls       integer NOT NULL CHECK (failed_calls >= 0),
    input_tokens       bigint NOT NULL CHECK (input_tokens >= 0),
    output_tokens      bigint NOT NULL CHECK (output_tokens >= 0),
    provider_cost_usd  numeric NOT NULL CHECK (provider_cost_usd >= 0),
    customer_cost_usd  numeric NOT NULL CHECK (customer_cost_usd >= 0),
    credits            numeric NOT NULL CHECK (credits >= 0),
    CONSTRAINT job_cost_summaries_calls_add_up CHECK (total_calls = successful_calls + failed_calls),
    FOREIGN KEY (job_id, team_id) REFERENCES jobs (id, team_id)
);
CREATE INDEX job_cost_summaries_team_day_idx ON job_cost_summaries (team_id, day);

-- Per team per (UTC) completion day: the sum of that day's job_cost_summaries.
CREATE TABLE team_usage_summaries (
    team_id            uuid NOT NULL REFERENCES teams (id),
    day                date NOT NULL,
    jobs_total         integer NOT NULL,
    jobs_completed     integer NOT NULL CHECK (jobs_completed >= 0),
    jobs_failed        integer NOT NULL CHECK (jobs_failed >= 0),
    jobs_cancelled     integer NOT NULL CHECK (jobs_cancelled >= 0),
    jobs_expired       integer NOT NULL CHECK (jobs_expired >= 0),
    total_calls        integer NOT NULL,
    successful_calls   integer NOT NULL CHECK (successful_calls >= 0),
    failed_calls       integer NOT NULL CHECK (failed_calls >= 0),
    input_tokens       bigint NOT NULL CHECK (input_tokens >= 0),
    output_tokens      bigint NOT NULL CHECK (output_tokens >= 0),
    provider_cost_usd  numeric NOT NULL CHECK (provider_cost_usd >= 0),
    customer_cost_usd  numeric NOT NULL CHECK (customer_cost_usd >= 0),
    credits            numeric NOT NULL CHECK (credits >= 0),
    PRIMARY KEY (team_id, day),
    CONSTRAINT team_usage_summaries_jobs_add_up
        CHECK (jobs_total = jobs_completed + jobs_failed + jobs_cancelled + jobs_expired),
    CONSTRAINT team_usage_summaries_calls_add_up CHECK (total_calls = successful_calls + failed_calls)
);

-- Per team per completion day per model alias: the calls of the jobs finished that day,
-- so a usage report's by_model never scans llm_calls.
CREATE TABLE team_model_usage_summaries (
    team_id            uuid NOT NULL REFERENCES teams (id),
    day                date NOT NULL,
    model              text NOT NULL,
    calls              integer NOT NULL CHECK (calls >= 0),
    tokens             bigint NOT NULL CHECK (tokens >= 0),
    provider_cost_usd  numeric NOT NULL CHECK (provider_cost_usd >= 0),
    customer_cost_usd  numeric NOT NULL CHECK (customer_cost_usd >= 0),
    PRIMARY KEY (team_id, day, model)
);

-- Append-only: every credit movement of a team. ``amount`` is signed (its effect on the
-- team's available credits); the team's cached balance is the replay of these rows.
CREATE TABLE credit_ledger (
    id               uuid PRIMARY KEY,
    sequence         bigint GENERATED ALWAYS AS IDENTITY,
    team_id          uuid NOT NULL REFERENCES teams (id),
    type             text NOT NULL CHECK (type IN ('allocation', 'adjustment', 'hold', 'release', 'debit', 'refund')),
    amount           numeric NOT NULL,
    job_id           uuid,
    call_id          uuid,
    reason           text,
    idempotency_key  text,
    created_at       timestamptz NOT NULL,
    CONSTRAINT credit_ledger_amount_sign CHECK (
        CASE
            WHEN type IN ('allocation', 'release', 'refund') THEN amount > 0
            WHEN type IN ('hold', 'debit') THEN amount < 0
            ELSE amount <> 0
        END
    ),
    CONSTRAINT credit_ledger_idempotency_key UNIQUE (team_id, idempotency_key),
    -- Deferred: a job_based job's hold is written just before the job row itself.
    FOREIGN KEY (job_id, team_id) REFERENCES jobs (id, team_id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX credit_ledger_team_idx ON credit_ledger (team_id, created_at DESC, sequence DESC);
CREATE INDEX credit_ledger_job_holds_idx ON credit_ledger (job_id, sequence) WHERE type IN ('hold', 'release');

CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OR DELETE ON credit_ledger
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE TABLE admin_users (
    id               uuid PRIMARY KEY,
    email            text NOT NULL CHECK (email LIKE '_%@_%'),
    password_hash    text NOT NULL CHECK (password_hash <> ''),
    role             text NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
    organization_id  uuid REFERENCES organizations (id) ON DELETE CASCADE,
    created_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX admin_users_email_key ON admin_users (lower(email));

-- Who changed what: history outlives the users and organizations it names (no FKs).
CREATE TABLE audit_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               timestamptz NOT NULL,
    actor_id         uuid,
    actor_email      text NOT NULL,
    action           text NOT NULL,
    target_type      text NOT NULL,
    target_id        text NOT NULL,
    organization_id  uuid,
    before           jsonb,
    after            jsonb
);
CREATE INDEX audit_log_organization_idx ON audit_log (organization_id, id DESC);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE TABLE webhooks (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url              text NOT NULL CHECK (url ~ '^https?://'),
    events           text[] NOT NULL CHECK (cardinality(events) > 0),
    secret           text NOT NULL CHECK (secret <> ''),
    is_active        boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL
);
CREATE INDEX webhooks_organization_idx ON webhooks (organization_id);

-- The outbox: written in the transaction of the event, sent later by the worker.
CREATE TABLE webhook_deliveries (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id        uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event             text NOT NULL,
    payload           jsonb NOT NULL,
    attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    next_attempt_at   timestamptz NOT NULL,
    created_at        timestamptz NOT NULL,
    last_status_code  integer,
    last_error        text,
    delivered_at      timestamptz,
    CONSTRAINT webhook_deliveries_delivered_at CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC);
