-- Failed calls per team, day and model, so error rates can be read per provider and model
-- from the rollups (the dashboard's "calls and error rate by provider"). Existing rows are
-- filled from the calls of the jobs they summarise.
ALTER TABLE team_model_usage_summaries
    ADD COLUMN failed_calls integer NOT NULL DEFAULT 0 CHECK (failed_calls >= 0);

UPDATE team_model_usage_summaries m
SET failed_calls = f.failed
FROM (
    SELECT s.team_id, s.day, c.alias, count(*) AS failed
    FROM llm_calls c JOIN job_cost_summaries s ON s.job_id = c.job_id
    WHERE c.status = 'failed'
    GROUP BY s.team_id, s.day, c.alias
) f
WHERE m.team_id = f.team_id AND m.day = f.day AND m.model = f.alias;

ALTER TABLE team_model_usage_summaries
    ADD CONSTRAINT team_model_usage_summaries_failed_within CHECK (failed_calls <= calls);
