-- 0005_favourites: «⭐ Мои модели» (issue 16 item 5) and the search's Back button (item 4).
--
-- favourite_models  the models a user starred on a model card; one row per (user, model), so a
--                   repeated ⭐ adds nothing, and ☆ deletes the row
-- model_searches    the last text a user searched the catalogue with, so Back from a model card
--                   opened from the results shows the same results again (callback data cannot
--                   carry the text: 64 bytes, ASCII only)
--
-- The last models a user used are read from jobs (jobs_user_idx); nothing is copied.
-- Additive only: two new tables, nothing existing changes.

CREATE TABLE IF NOT EXISTS favourite_models (
    user_id   bigint      NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    model_id  text        NOT NULL CHECK (length(model_id) BETWEEN 1 AND 200),
    added_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, model_id)
);

CREATE TABLE IF NOT EXISTS model_searches (
    user_id      bigint      PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    query        text        NOT NULL CHECK (length(query) BETWEEN 1 AND 200),
    searched_at  timestamptz NOT NULL DEFAULT now()
);
