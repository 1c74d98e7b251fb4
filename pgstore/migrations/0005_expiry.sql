-- apitoken schema version 5: when a token was reported as about to
-- expire (Token.ExpiryWarned, NULL: not yet; every earlier token is taken
-- to be unreported), and an index that finds the live API tokens not yet
-- reported by expiry, across accounts, without reading the reported ones.

ALTER TABLE apitoken_tokens ADD COLUMN expiry_warned bigint;
CREATE INDEX apitoken_tokens_to_warn ON apitoken_tokens (expires)
	WHERE kind = 2 AND revoked IS NULL AND expiry_warned IS NULL;
