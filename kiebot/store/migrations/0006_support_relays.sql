-- Issue 13 item 5: every /paysupport question relayed to the admins, so relays can be capped per
-- user (3 per 10 minutes; a banned user 1 per day) across restarts and instances. Rows older than
-- the longest window are deleted as the user's next relay is counted.
CREATE TABLE IF NOT EXISTS support_relays (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL,
    relayed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS support_relays_user_idx ON support_relays (user_id, relayed_at);
