-- Issue 18: the inbox claim walks pending updates in id order and stops after a few (its cost
-- follows its LIMIT, not the backlog). Additive; the claim works without it, only slower.
CREATE INDEX IF NOT EXISTS updates_pending_by_id ON updates (update_id) WHERE status = 'pending';
