-- Per-team rate limits (issue 12): requests and tokens per minute; NULL is unlimited.
ALTER TABLE teams
    ADD COLUMN rpm_limit integer CHECK (rpm_limit > 0),
    ADD COLUMN tpm_limit bigint CHECK (tpm_limit > 0);
