-- Billing integrity: every call in flight has a lease, and a job closes only once its
-- calls have settled.
--
-- A lease row exists from the moment a call's credits are held until its outcome is
-- recorded (or, if that never happens, until the sweeper captures it once the lease has
-- expired). Completion and expiry never touch a hold whose lease is live.
CREATE TABLE call_leases (
    call_id     uuid PRIMARY KEY,
    job_id      uuid NOT NULL,
    team_id     uuid NOT NULL,
    held        numeric NOT NULL CHECK (held >= 0),
    alias       text NOT NULL,
    provider    text NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    FOREIGN KEY (job_id, team_id) REFERENCES jobs (id, team_id)
);
CREATE INDEX call_leases_job_idx ON call_leases (job_id);
CREATE INDEX call_leases_expires_idx ON call_leases (expires_at);

-- Expiry counts from a job's last activity (a call started, renewed or recorded), not
-- from its creation; ``calls_started`` bounds what one job may consume;
-- ``closing_status`` is set when a completion is asked for while calls are in flight:
-- from then on the job accepts no new call.
ALTER TABLE jobs
    ADD COLUMN last_activity_at timestamptz,
    ADD COLUMN calls_started integer NOT NULL DEFAULT 0 CHECK (calls_started >= 0),
    ADD COLUMN closing_status text CHECK (closing_status IN ('completed', 'failed', 'cancelled'));
UPDATE jobs SET last_activity_at = created_at;
ALTER TABLE jobs ALTER COLUMN last_activity_at SET NOT NULL;
UPDATE jobs SET calls_started = total_calls;
DROP INDEX jobs_active_created_idx;
CREATE INDEX jobs_active_activity_idx ON jobs (last_activity_at) WHERE status IN ('pending', 'in_progress');
CREATE INDEX jobs_closing_idx ON jobs (id) WHERE closing_status IS NOT NULL AND status IN ('pending', 'in_progress');

-- A call whose outcome could not be recorded is captured at its held amount and flagged.
ALTER TABLE llm_calls ADD COLUMN unsettled boolean NOT NULL DEFAULT false;

-- job_based teams: a bound on the calls of one job, and whether a failed job that made a
-- successful call is charged.
ALTER TABLE teams
    ADD COLUMN max_calls_per_job integer NOT NULL DEFAULT 100 CHECK (max_calls_per_job > 0),
    ADD COLUMN charge_failed_jobs boolean NOT NULL DEFAULT false;
