-- apitoken schema version 7: the ID of the hash key a token's hash was
-- made under (Token.HashKeyID), for key rotation; 0 is the key of every
-- earlier record.

ALTER TABLE apitoken_tokens ADD COLUMN hash_key bigint NOT NULL DEFAULT 0
	CHECK (hash_key BETWEEN 0 AND 4294967295);
