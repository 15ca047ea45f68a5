-- The admin panel finds a generation by its request id (the id in every log line of that job):
-- without an index that search scans the whole jobs table.
CREATE INDEX jobs_request_id_idx ON jobs (request_id) WHERE request_id <> '';
