-- Job economics (issue 15): what a job type costs, quotes, run-out forecasts, exports.
--
-- The per-job rollup is job_cost_summaries, written once in the completion transaction
-- (nothing is added to the per-call path). It now carries what the reports group and
-- filter by: the job's type and organization (a team never changes organization), and
-- the credits charged by the completion itself (job_based: the job's credit), so a job's
-- credits are credits + job_credits without reading jobs.
ALTER TABLE job_cost_summaries
    ADD COLUMN organization_id uuid,
    ADD COLUMN job_type text,
    ADD COLUMN job_credits numeric NOT NULL DEFAULT 0 CHECK (job_credits >= 0);

UPDATE job_cost_summaries s
SET organization_id = t.organization_id,
    job_type = j.job_type,
    job_credits = GREATEST(COALESCE(j.credits_charged, 0) - s.credits, 0)
FROM jobs j JOIN teams t ON t.id = j.team_id
WHERE j.id = s.job_id;

ALTER TABLE job_cost_summaries
    ALTER COLUMN organization_id SET NOT NULL,
    ALTER COLUMN job_type SET NOT NULL;

-- The job-types report and the export of one organization over a window: one range of
-- this index, read index-only (every column they need is in it), in (day, job) order so
-- the export pages by keyset.
CREATE INDEX job_cost_summaries_org_day_idx ON job_cost_summaries (organization_id, day, job_id)
    INCLUDE (team_id, job_type, status, total_calls, input_tokens, output_tokens, provider_cost_usd,
             customer_cost_usd, credits, job_credits);

-- A team's quote for a job type: its most recent finished jobs of that type.
CREATE INDEX job_cost_summaries_team_type_idx ON job_cost_summaries (team_id, job_type, completed_at DESC)
    INCLUDE (credits, job_credits, customer_cost_usd);

-- Live usage: a team's open jobs (their running totals), without reading its finished ones.
-- The predicate's column (status) is already in jobs_active_created_idx's, so the per-call
-- updates of a job's totals stay as HOT-eligible as before.
CREATE INDEX jobs_team_active_idx ON jobs (team_id, created_at) WHERE status IN ('pending', 'in_progress');

-- A team's own "credits low" threshold, in credits; NULL keeps 10 % of its allocation.
ALTER TABLE teams ADD COLUMN low_credit_threshold numeric CHECK (low_credit_threshold >= 0);

-- The new team column is announced like the others (0008): cached teams carry it.
DROP TRIGGER teams_reference_changed ON teams;
CREATE TRIGGER teams_reference_changed
    AFTER INSERT OR DELETE OR TRUNCATE
    OR UPDATE OF id, organization_id, name, status, budget_mode, credits_per_usd, tokens_per_credit,
                 created_at, max_calls_per_job, charge_failed_jobs, version, rpm_limit, tpm_limit,
                 low_credit_threshold
    ON teams FOR EACH STATEMENT EXECUTE FUNCTION saasllm_reference_changed();
