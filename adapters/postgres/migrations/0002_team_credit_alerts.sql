-- A team's "credits low" flag: raised (one row) when its available credits fall below the
-- threshold at a job completion or a credit adjustment, lowered when credits are topped up
-- again. Inserting the row is what decides that a team.credits_low event is sent, so
-- concurrent completions on several instances notify once per crossing. Kept out of
-- ``teams`` so the per-call balance updates never touch it.
CREATE TABLE team_credit_alerts (
    team_id    uuid PRIMARY KEY REFERENCES teams (id) ON DELETE CASCADE,
    low_since  timestamptz NOT NULL
);
