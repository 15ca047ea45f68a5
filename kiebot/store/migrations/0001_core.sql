-- 0001_core: the infrastructure tables (storage engineer S1).
--
-- updates             the inbox: every Telegram update is stored here before Telegram gets its 200
-- conversation_state  one wizard state per user, with a TTL and an optimistic version counter
-- events              generation and operational events, kept 30 days
-- kv                  small cached facts (FX rate, Kie credits left, webhook status)
-- leadership          who holds the leader advisory lock, for /readyz and the admin dashboard
--
-- The runner (kiebot/store/migrations.py) applies this file in one transaction and records it in
-- schema_migrations. Never edit it once released: add a new numbered file instead (the runner
-- refuses to start when an applied file's checksum changed).

-- ---------------------------------------------------------------------------------------------
-- updates: the inbox. Status moves pending -> claimed -> done, or -> failed (parked) after the
-- retry limit. A claimed row carries a lease; an expired lease makes the row claimable again.
-- raw is json, not jsonb: it keeps the body byte for byte and accepts every valid JSON text (jsonb
-- refuses \u0000 and lone surrogates, which would make Telegram retry one update forever).
CREATE TABLE updates (
    update_id        bigint      PRIMARY KEY,
    chat_key         bigint      NOT NULL,
    kind             text        NOT NULL,
    raw              json        NOT NULL,
    source           text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'claimed', 'done', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claim_token      uuid,
    claimed_by       text,
    lease_expires_at timestamptz,
    not_before       timestamptz,
    last_error       text,
    received_at      timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CONSTRAINT updates_claim_fields CHECK (
        (status = 'claimed') = (claim_token IS NOT NULL AND lease_expires_at IS NOT NULL)
    ),
    CONSTRAINT updates_finished_fields CHECK (
        (status IN ('done', 'failed')) = (finished_at IS NOT NULL)
    )
);

-- The hard guarantee behind per-chat ordering: at most one update of a chat is claimed at a time,
-- whatever the number of workers and instances.
CREATE UNIQUE INDEX updates_one_claim_per_chat ON updates (chat_key) WHERE status = 'claimed';
-- Finding each chat's next update (DISTINCT ON chat_key ORDER BY chat_key, update_id).
CREATE INDEX updates_open_by_chat ON updates (chat_key, update_id) WHERE status IN ('pending', 'claimed');
-- Retaking claims whose lease expired.
CREATE INDEX updates_claim_expiry ON updates (lease_expires_at) WHERE status = 'claimed';
-- The 7-day clean-up and the parked (failed) count.
CREATE INDEX updates_done_at ON updates (finished_at) WHERE status = 'done';
CREATE INDEX updates_failed_at ON updates (finished_at) WHERE status = 'failed';

-- Wake idle dispatchers at once: one notification per inserting statement (delivered on commit;
-- PostgreSQL folds identical notifications of one transaction into one).
CREATE FUNCTION kiebot_notify_updates() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify('kiebot_updates', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER updates_notify
    AFTER INSERT ON updates
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION kiebot_notify_updates();

-- ---------------------------------------------------------------------------------------------
-- conversation_state: the row is kept when a state is cleared (state NULL), so the version only
-- ever grows and a stale writer cannot mistake a new state for the one it read (no ABA).
CREATE TABLE conversation_state (
    user_id    bigint      PRIMARY KEY,
    state      text,
    data       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    version    bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX conversation_state_expires_at ON conversation_state (expires_at);

-- ---------------------------------------------------------------------------------------------
-- events: job_id refers to jobs.id (0002) without a foreign key: events outlive their jobs' rows
-- and operational events have no job at all.
CREATE TABLE events (
    id      bigserial   PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    kind    text        NOT NULL CHECK (kind <> ''),
    user_id bigint,
    job_id  bigint,
    payload jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX events_at ON events (at);
CREATE INDEX events_kind_at ON events (kind, at);
CREATE INDEX events_user_at ON events (user_id, at) WHERE user_id IS NOT NULL;
CREATE INDEX events_job ON events (job_id, at) WHERE job_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
CREATE TABLE kv (
    key        text        PRIMARY KEY,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- leadership: informational; the truth is the advisory lock held on the leader's dedicated
-- connection. A crashed leader leaves its row behind with a stale heartbeat_at.
CREATE TABLE leadership (
    name         text        PRIMARY KEY,
    instance     text        NOT NULL,
    since        timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);
