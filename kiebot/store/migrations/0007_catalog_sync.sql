-- Live catalogue truth (issue 15, items 4–5): what the catalogue sync and the model health read
-- from Kie's free catalogue API keep between runs and show the admins.

-- Every sync's report (drift, new models, notes) as JSON; the admin panel shows the newest.
-- Pruned to the newest few by the writer (kiebot/store/catalog_sync.py).
CREATE TABLE IF NOT EXISTS catalog_sync_reports (
    id          bigserial   PRIMARY KEY,
    checked_at  timestamptz NOT NULL,
    drift_count integer     NOT NULL CHECK (drift_count >= 0),
    report      jsonb       NOT NULL
);

-- Each sold model's pricingDesc as last seen: a change is told to the admins (before and after).
CREATE TABLE IF NOT EXISTS catalog_price_texts (
    model_id     text        PRIMARY KEY,
    pricing_desc text        NOT NULL,
    seen_at      timestamptz NOT NULL,
    changed_at   timestamptz
);

-- The last hour at Kie per sold model, from /success-rate (every 15 minutes). success_rate is
-- 0..1, NULL without traffic; troubled = below 60 % with traffic.
CREATE TABLE IF NOT EXISTS model_health (
    model_id     text             PRIMARY KEY,
    success_rate double precision CHECK (success_rate IS NULL OR (success_rate >= 0 AND success_rate <= 1)),
    buckets      integer          NOT NULL CHECK (buckets >= 0),
    troubled     boolean          NOT NULL,
    checked_at   timestamptz      NOT NULL
);
