-- Generation pipeline bookkeeping: when to poll Kie next for a submitted job (callbacks make
-- polls rare; without a public callback URL they are the only news), how often it was polled,
-- and when its progress message was last edited (edits are throttled per job).
ALTER TABLE jobs
    ADD COLUMN next_poll_at timestamptz,
    ADD COLUMN polls        integer NOT NULL DEFAULT 0,
    ADD COLUMN progress_at  timestamptz;

CREATE INDEX jobs_poll_due_idx ON jobs (next_poll_at) WHERE state = 'submitted';
