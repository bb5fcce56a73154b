-- 0004_server_kv.sql - server-level key/value rows that belong to no
-- account: HTTP API tokens (area 'api_token', key = the token's name,
-- value = its SHA-256 hash and allowed commands; see src/http/token.h).
--
-- Not a per-user table: account deletion never touches it.
CREATE TABLE server_kv (
    area  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (area, key)
) WITHOUT ROWID;
