-- apitoken schema version 1. Times are nanoseconds since the Unix epoch
-- (NULL for "never"), so records round-trip with Go's full precision.
-- No column holds a secret: tokens are stored by keyed hash only.

CREATE TABLE apitoken_users (
    id                   text     PRIMARY KEY,
    account              text     NOT NULL,
    name                 text     NOT NULL UNIQUE,
    role                 smallint NOT NULL CHECK (role BETWEEN 1 AND 3),
    disabled             boolean  NOT NULL,
    password_hash        text     NOT NULL,
    mfa_secret           bytea,
    mfa_last_step        bigint   NOT NULL,
    sessions_valid_after bigint,
    created              bigint   NOT NULL,
    version              bigint   NOT NULL CHECK (version > 0)
);
CREATE INDEX apitoken_users_by_account ON apitoken_users (account, created, id);

CREATE TABLE apitoken_tokens (
    id                text     PRIMARY KEY,
    hash              bytea    NOT NULL UNIQUE CHECK (length(hash) = 32),
    hint              text     NOT NULL,
    kind              smallint NOT NULL CHECK (kind IN (1, 2)),
    owner             smallint NOT NULL CHECK (owner IN (1, 2)),
    account           text     NOT NULL,
    user_id           text     NOT NULL,
    created_by        text     NOT NULL,
    parent            text     NOT NULL,
    lineage           text     NOT NULL,
    description       text     NOT NULL,
    type              text     NOT NULL,
    privilege         smallint NOT NULL CHECK (privilege BETWEEN 1 AND 3),
    default_app_state smallint NOT NULL CHECK (default_app_state BETWEEN 1 AND 3),
    apps              jsonb    NOT NULL,
    created           bigint   NOT NULL,
    last_used         bigint,
    expires           bigint,
    revoked           bigint,
    unlocked          boolean  NOT NULL,
    version           bigint   NOT NULL CHECK (version > 0)
);
CREATE INDEX apitoken_tokens_by_account ON apitoken_tokens (account, created, id);
CREATE INDEX apitoken_tokens_by_user ON apitoken_tokens (account, user_id, created, id);
