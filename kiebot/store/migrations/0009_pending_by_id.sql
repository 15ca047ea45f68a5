-- The claim walks pending updates oldest first and stops once it has locked its batch (issue 18:
-- the earlier claim worked out every chat's head over the whole backlog on every call, so a burst
-- of N updates cost O(N) per claim and O(N^2) to drain; 1,000 queued /starts kept PostgreSQL at
-- 90% for 20 s). Small: only pending rows are in it.
CREATE INDEX IF NOT EXISTS updates_pending_by_id ON updates (update_id) WHERE status = 'pending';
