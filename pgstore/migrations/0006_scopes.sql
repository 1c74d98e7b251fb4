-- apitoken schema version 6: a token's scopes (Token.Scopes), the address
-- ranges it may be used from (Token.AllowedCIDRs, as CIDR text) and the
-- address of its last use (Token.LastUsedIP, empty when unknown). Every
-- earlier token is unscoped, usable from anywhere, last used from an
-- unknown address.

ALTER TABLE apitoken_tokens ADD COLUMN scopes text[] NOT NULL DEFAULT '{}';
ALTER TABLE apitoken_tokens ADD COLUMN allowed_cidrs text[] NOT NULL DEFAULT '{}';
ALTER TABLE apitoken_tokens ADD COLUMN last_used_ip text NOT NULL DEFAULT '';
