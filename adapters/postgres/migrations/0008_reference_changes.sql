-- Reference data changes are announced on the channel 'saasllm_reference' (the payload
-- names the table), so every instance drops what it cached of it within a second.
-- Statement-level triggers: one notification per statement, sent when its transaction
-- commits (Postgres folds identical ones within a transaction). The per-call balance
-- updates of teams (allocated, used, held) announce nothing: they are not cached.
CREATE FUNCTION saasllm_reference_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('saasllm_reference', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER teams_reference_changed
    AFTER INSERT OR DELETE OR TRUNCATE
    OR UPDATE OF id, organization_id, name, status, budget_mode, credits_per_usd, tokens_per_credit,
                 created_at, max_calls_per_job, charge_failed_jobs, version, rpm_limit, tpm_limit
    ON teams FOR EACH STATEMENT EXECUTE FUNCTION saasllm_reference_changed();

CREATE TRIGGER team_access_groups_reference_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON team_access_groups
    FOR EACH STATEMENT EXECUTE FUNCTION saasllm_reference_changed();

CREATE TRIGGER team_api_keys_reference_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON team_api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION saasllm_reference_changed();

CREATE TRIGGER model_aliases_reference_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON model_aliases
    FOR EACH STATEMENT EXECUTE FUNCTION saasllm_reference_changed();

CREATE TRIGGER model_access_groups_reference_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON model_access_groups
    FOR EACH STATEMENT EXECUTE FUNCTION saasllm_reference_changed();

CREATE TRIGGER model_access_group_members_reference_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON model_access_group_members
    FOR EACH STATEMENT EXECUTE FUNCTION saasllm_reference_changed();

CREATE TRIGGER provider_credentials_reference_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON provider_credentials
    FOR EACH STATEMENT EXECUTE FUNCTION saasllm_reference_changed();

CREATE TRIGGER organizations_reference_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION saasllm_reference_changed();
