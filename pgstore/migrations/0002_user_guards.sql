-- apitoken schema version 2: a pending MFA secret awaiting its first code,
-- and failure counters shared by every instance (MFA guessing budget and
-- the per-name login ceiling). Existing users start with no failures.

ALTER TABLE apitoken_users
    ADD COLUMN mfa_pending           bytea,
    ADD COLUMN mfa_failures          integer NOT NULL DEFAULT 0 CHECK (mfa_failures >= 0),
    ADD COLUMN mfa_window_start      bigint,
    ADD COLUMN mfa_window_failures   integer NOT NULL DEFAULT 0 CHECK (mfa_window_failures >= 0),
    ADD COLUMN login_window_start    bigint,
    ADD COLUMN login_window_failures integer NOT NULL DEFAULT 0 CHECK (login_window_failures >= 0);
