-- apitoken schema version 3: listings of one kind read only that kind,
-- and purges find ended records through indexes instead of a scan.
-- A record's end is its revocation if that came first, else its expiry
-- (least() skips a NULL revoked); a session's activity is its last use,
-- or its creation if it was never used after it.

DROP INDEX apitoken_tokens_by_account;
DROP INDEX apitoken_tokens_by_user;
CREATE INDEX apitoken_tokens_by_account ON apitoken_tokens (account, kind, created, id);
CREATE INDEX apitoken_tokens_by_user ON apitoken_tokens (account, user_id, kind, created, id);
CREATE INDEX apitoken_tokens_by_end ON apitoken_tokens (kind, (least(revoked, expires)));
CREATE INDEX apitoken_sessions_by_activity ON apitoken_tokens ((greatest(created, last_used))) WHERE kind = 1;
