-- The job-types report at scale (issue 15): exact nearest-rank percentiles without sorting
-- every job of the window.
--
-- saasllm_bucket(n) maps a value to a log-spaced bucket, monotone (a larger value never
-- lands in a smaller bucket): below 1000 the bucket is the integer itself (exact), above
-- it three significant digits (900 buckets per decade, each under 1 % wide). Money is
-- bucketed in nano-USD (value · 10⁹). domain/economics.py `value_bucket` is the same
-- function (tests/integration/postgres/test_job_type_rollup.py compares them).
CREATE FUNCTION saasllm_bucket(n numeric) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE
        WHEN n < 1000 THEN floor(n)::integer
        ELSE 1000 + (length(trunc(n)::text) - 4) * 900
             + (div(trunc(n), 10::numeric ^ (length(trunc(n)::text) - 3)) - 100)::integer
    END;

-- Per organization, measure, completion day, job type and bucket: how many finished jobs
-- (and by status) and the exact sum of the measure. Measures: 1 calls per job, 2 tokens
-- per job (input + output, as the report), 3 provider cost, 4 customer price. Written by
-- the job completion statement (usage.py _RECORD_JOB) and moved by a call added to an
-- already finished job (jobs.py _ADD_CALL_TOTALS); nothing on the per-call path.
-- A report adds up the window's rows per (type, measure, bucket), finds the bucket that
-- holds each requested rank and reads only that bucket's jobs, through the indexes below.
CREATE TABLE job_type_rollups (
    organization_id uuid NOT NULL,
    measure         smallint NOT NULL CHECK (measure BETWEEN 1 AND 4),
    day             date NOT NULL,
    job_type        text NOT NULL,
    bucket          integer NOT NULL,
    jobs            integer NOT NULL,
    completed       integer NOT NULL,
    failed          integer NOT NULL,
    cancelled       integer NOT NULL,
    expired         integer NOT NULL,
    total           numeric NOT NULL,
    -- a window of an organization is one range of it, read index-only
    PRIMARY KEY (organization_id, measure, day, job_type, bucket)
        INCLUDE (jobs, completed, failed, cancelled, expired, total)
);

INSERT INTO job_type_rollups (organization_id, measure, day, job_type, bucket, jobs, completed, failed, cancelled,
                              expired, total)
SELECT s.organization_id, m.measure, s.day, s.job_type, m.bucket, count(*),
       count(*) FILTER (WHERE s.status = 'completed'), count(*) FILTER (WHERE s.status = 'failed'),
       count(*) FILTER (WHERE s.status = 'cancelled'), count(*) FILTER (WHERE s.status = 'expired'),
       sum(m.value)
FROM job_cost_summaries s
CROSS JOIN LATERAL (VALUES
    (1::smallint, saasllm_bucket(s.total_calls), s.total_calls::numeric),
    (2::smallint, saasllm_bucket(s.input_tokens + s.output_tokens), (s.input_tokens + s.output_tokens)::numeric),
    (3::smallint, saasllm_bucket(s.provider_cost_usd * 1000000000), s.provider_cost_usd),
    (4::smallint, saasllm_bucket(s.customer_cost_usd * 1000000000), s.customer_cost_usd)
) AS m (measure, bucket, value)
GROUP BY 1, 2, 3, 4, 5;

-- One bucket's jobs of an organization's window and type, in value order (index-only).
-- Calls per job are exact below 1000 and need no read; above, the report reads the
-- window through job_cost_summaries_org_day_idx.
CREATE INDEX job_cost_summaries_tokens_bucket_idx
    ON job_cost_summaries (organization_id, job_type, saasllm_bucket(input_tokens + output_tokens), day)
    INCLUDE (input_tokens, output_tokens);
CREATE INDEX job_cost_summaries_cost_bucket_idx
    ON job_cost_summaries (organization_id, job_type, saasllm_bucket(provider_cost_usd * 1000000000), day)
    INCLUDE (provider_cost_usd);
CREATE INDEX job_cost_summaries_price_bucket_idx
    ON job_cost_summaries (organization_id, job_type, saasllm_bucket(customer_cost_usd * 1000000000), day)
    INCLUDE (customer_cost_usd);
