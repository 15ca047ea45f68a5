-- Billed credits (issue 15 items 1–3): what Kie actually charged for each job, the variant the
-- job was quoted for, variants paused for sale because Kie bills them at or above what users
-- pay, and the once-a-day drift alarm per variant. Additive: old jobs keep billed_credits NULL
-- ("not reported") and sku_key '' (their variant is worked out from their params if needed).

ALTER TABLE jobs
    ADD COLUMN IF NOT EXISTS billed_credits double precision
        CHECK (billed_credits IS NULL OR billed_credits >= 0),
    ADD COLUMN IF NOT EXISTS billed_at      timestamptz,
    ADD COLUMN IF NOT EXISTS sku_key        text NOT NULL DEFAULT '';

-- The margin report reads the finished jobs of the last days by model.
CREATE INDEX IF NOT EXISTS jobs_finished_model_idx ON jobs (finished_at, model_id)
    WHERE finished_at IS NOT NULL;

-- A variant (model + SKU key, e.g. "duration=10,sound=true") no longer sold: confirm refuses it
-- in the same transaction as the hold. Deleted when an admin resumes it (audit-logged).
CREATE TABLE IF NOT EXISTS variant_pauses (
    model_id        text NOT NULL,
    sku_key         text NOT NULL,
    reason          text NOT NULL DEFAULT 'billed_over_price',
    job_id          bigint REFERENCES jobs (id),
    quoted_credits  double precision NOT NULL DEFAULT 0,
    billed_credits  double precision NOT NULL DEFAULT 0,
    paused_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, sku_key)
);

-- One drift message per variant per UTC day: the row is claimed before the message is sent.
CREATE TABLE IF NOT EXISTS drift_alerts (
    model_id        text NOT NULL,
    sku_key         text NOT NULL,
    day             date NOT NULL,
    job_id          bigint REFERENCES jobs (id),
    quoted_credits  double precision NOT NULL,
    billed_credits  double precision NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, sku_key, day)
);
