-- apitoken schema version 4: a token's issuance family (Token.Origin),
-- the lineage of the API token at the root of the chain that issued it;
-- empty for tokens a session or the host issued, as every earlier token is
-- taken to be.

ALTER TABLE apitoken_tokens ADD COLUMN origin text NOT NULL DEFAULT '';
