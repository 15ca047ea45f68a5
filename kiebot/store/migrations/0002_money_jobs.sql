-- 0002: the money and jobs half of the storage domain (users, accounts + ledger, payments, free
-- tier, referrals, jobs, admin tables). Applied once, in one transaction, by the migrations runner.
--
-- Money is integer kopecks (bigint). Telegram user and chat ids are bigint. Every CHECK here is the
-- last line of defence: the Python modules check first and raise typed errors, so a constraint
-- violation means a bug, never a user-facing condition.

-- ---- users -------------------------------------------------------------------------------------

CREATE TABLE users (
    user_id          bigint PRIMARY KEY,
    first_name       text NOT NULL DEFAULT '',
    last_name        text,
    username         text,
    language         text NOT NULL DEFAULT 'ru' CHECK (language IN ('ru', 'en')),
    referrer_id      bigint REFERENCES users (user_id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    blocked_bot      boolean NOT NULL DEFAULT false,
    banned           boolean NOT NULL DEFAULT false,
    free_bonus_uses  integer NOT NULL DEFAULT 0 CHECK (free_bonus_uses >= 0),
    CHECK (referrer_id IS DISTINCT FROM user_id)
);
CREATE INDEX users_username_idx ON users (lower(username)) WHERE username IS NOT NULL;
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_last_seen_at_idx ON users (last_seen_at);

-- ---- money: accounts and the append-only ledger --------------------------------------------------
-- Invariant at every commit, per user: balance + held = sum(ledger.amount) and
-- held = sum(ledger.held_delta). money.py keeps it (one row lock per account, one ledger row per
-- change); money.check_invariants() verifies it.

CREATE TABLE accounts (
    user_id     bigint PRIMARY KEY REFERENCES users (user_id),
    balance     bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    held        bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger (
    id               bigserial PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES accounts (user_id),
    kind             text NOT NULL CHECK (kind IN (
                         'welcome', 'topup_stars', 'topup_manual', 'referral_bonus', 'admin_adjust',
                         'stars_refund', 'hold', 'capture', 'release')),
    amount           bigint NOT NULL,           -- signed effect on balance + held
    held_delta       bigint NOT NULL DEFAULT 0, -- signed effect on held
    idempotency_key  text NOT NULL UNIQUE,
    hold_ref         text,                      -- links hold, capture and release of one hold
    job_id           bigint,
    payment          text,                      -- Stars charge id or manual top-up id
    admin_id         bigint,
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- The shape of each kind (see money.py): a hold moves money into held, a capture takes it out
    -- of held and of the total, a release moves it back; credits and debits touch balance only.
    CONSTRAINT ledger_kind_shape CHECK (
        CASE kind
            WHEN 'hold'         THEN amount = 0 AND held_delta > 0
            WHEN 'capture'      THEN amount < 0 AND held_delta = amount
            WHEN 'release'      THEN amount = 0 AND held_delta < 0
            WHEN 'stars_refund' THEN amount < 0 AND held_delta = 0
            WHEN 'admin_adjust' THEN amount <> 0 AND held_delta = 0
            ELSE amount > 0 AND held_delta = 0
        END),
    CONSTRAINT ledger_hold_ref_shape CHECK ((hold_ref IS NOT NULL) = (kind IN ('hold', 'capture', 'release')))
);
CREATE INDEX ledger_user_idx ON ledger (user_id, id DESC);
-- One hold per ref, and at most one settlement (capture OR release, never both) per ref.
CREATE UNIQUE INDEX ledger_one_hold_per_ref ON ledger (hold_ref) WHERE kind = 'hold';
CREATE UNIQUE INDEX ledger_one_settlement_per_ref ON ledger (hold_ref) WHERE kind IN ('capture', 'release');

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

-- ---- payments ------------------------------------------------------------------------------------

CREATE TABLE invoice_orders (
    payload     text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (user_id),
    stars       integer NOT NULL CHECK (stars > 0),
    kopecks     bigint NOT NULL CHECK (kopecks > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'expired'))
);
CREATE INDEX invoice_orders_open_idx ON invoice_orders (expires_at) WHERE status = 'open';

CREATE TABLE stars_payments (
    telegram_payment_charge_id  text PRIMARY KEY,
    user_id                     bigint NOT NULL REFERENCES users (user_id),
    payload                     text NOT NULL,
    stars                       integer NOT NULL CHECK (stars > 0),
    kopecks                     bigint NOT NULL CHECK (kopecks > 0),
    status                      text NOT NULL DEFAULT 'paid' CHECK (status IN ('paid', 'refunded')),
    paid_at                     timestamptz NOT NULL DEFAULT now(),
    refunded_at                 timestamptz,
    CHECK ((status = 'refunded') = (refunded_at IS NOT NULL))
);
CREATE INDEX stars_payments_user_idx ON stars_payments (user_id, paid_at DESC);
CREATE INDEX stars_payments_paid_at_idx ON stars_payments (paid_at);

CREATE TABLE manual_topups (
    id               bigserial PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (user_id),
    amount_kopecks   bigint NOT NULL CHECK (amount_kopecks > 0),
    receipt_file_id  text,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by       bigint,
    decided_at       timestamptz,
    reason           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'pending') = (decided_by IS NULL AND decided_at IS NULL))
);
CREATE INDEX manual_topups_pending_idx ON manual_topups (created_at) WHERE status = 'pending';

-- ---- jobs ----------------------------------------------------------------------------------------

CREATE TABLE jobs (
    id                   bigserial PRIMARY KEY,
    user_id              bigint NOT NULL REFERENCES users (user_id),
    chat_id              bigint NOT NULL,
    model_id             text NOT NULL,
    kind                 text NOT NULL DEFAULT '',
    params               jsonb NOT NULL DEFAULT '{}'::jsonb,
    quote_kopecks        bigint NOT NULL CHECK (quote_kopecks >= 0),
    credits              double precision NOT NULL DEFAULT 0,
    fx_rate              double precision NOT NULL DEFAULT 0,
    markup               double precision NOT NULL DEFAULT 0,
    free                 boolean NOT NULL DEFAULT false,
    dry_run              boolean NOT NULL DEFAULT false,
    request_id           text NOT NULL DEFAULT '',
    idempotency_key      text NOT NULL UNIQUE,
    callback_token       text NOT NULL UNIQUE,
    kie_task_id          text UNIQUE,
    state                text NOT NULL DEFAULT 'queued' CHECK (state IN (
                             'queued', 'submitting', 'submitted', 'succeeded', 'delivered',
                             'failed', 'cancelled', 'timed_out')),
    attempts             integer NOT NULL DEFAULT 0,
    lease_owner          text,
    lease_expires_at     timestamptz,
    deadline_at          timestamptz NOT NULL,
    progress_message_id  bigint,
    result               jsonb,
    error_code           text,
    error_message        text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    finished_at          timestamptz,
    delivered_at         timestamptz
);
CREATE INDEX jobs_user_idx ON jobs (user_id, id DESC);
CREATE INDEX jobs_active_idx ON jobs (state, id)
    WHERE state IN ('queued', 'submitting', 'submitted', 'succeeded');
CREATE INDEX jobs_created_at_idx ON jobs (created_at);

CREATE TABLE job_transitions (
    id          bigserial PRIMARY KEY,
    job_id      bigint NOT NULL REFERENCES jobs (id),
    from_state  text,          -- NULL for the creation of the job
    to_state    text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    note        text
);
CREATE INDEX job_transitions_job_idx ON job_transitions (job_id, id);

-- ---- free tier and referrals ---------------------------------------------------------------------

CREATE TABLE free_usage (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (user_id),
    model_id     text NOT NULL,
    job_id       bigint NOT NULL UNIQUE REFERENCES jobs (id),
    used_at      timestamptz NOT NULL,
    bonus        boolean NOT NULL DEFAULT false,
    returned_at  timestamptz
);
CREATE INDEX free_usage_user_idx ON free_usage (user_id, used_at) WHERE returned_at IS NULL;

CREATE TABLE referrals (
    referrer_id  bigint NOT NULL REFERENCES users (user_id),
    referred_id  bigint PRIMARY KEY REFERENCES users (user_id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    bonus_uses   integer NOT NULL CHECK (bonus_uses >= 0),
    CHECK (referrer_id <> referred_id)
);
CREATE INDEX referrals_referrer_idx ON referrals (referrer_id);

-- ---- admin and operations ------------------------------------------------------------------------

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    admin_id  bigint NOT NULL,
    action    text NOT NULL,
    target    text NOT NULL DEFAULT '',
    before    jsonb,
    after     jsonb,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);

CREATE TABLE model_overrides (
    model_id    text PRIMARY KEY,
    enabled     boolean NOT NULL,
    updated_by  bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE circuit_breakers (
    model_id   text PRIMARY KEY,
    state      text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open')),
    failures   integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    opened_at  timestamptz,
    reopen_at  timestamptz,
    CHECK ((state = 'open') = (opened_at IS NOT NULL AND reopen_at IS NOT NULL))
);

CREATE TABLE broadcasts (
    id           bigserial PRIMARY KEY,
    admin_id     bigint NOT NULL,
    text         text NOT NULL,
    status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'sending', 'done', 'cancelled')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    total        integer NOT NULL DEFAULT 0,
    sent         integer NOT NULL DEFAULT 0,
    failed       integer NOT NULL DEFAULT 0,
    blocked      integer NOT NULL DEFAULT 0
);

CREATE TABLE broadcast_recipients (
    broadcast_id  bigint NOT NULL REFERENCES broadcasts (id),
    user_id       bigint NOT NULL REFERENCES users (user_id),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'blocked')),
    at            timestamptz,
    PRIMARY KEY (broadcast_id, user_id)
);
CREATE INDEX broadcast_recipients_pending_idx ON broadcast_recipients (broadcast_id, user_id) WHERE status = 'pending';
