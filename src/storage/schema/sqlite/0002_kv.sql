-- 0002_kv.sql - per-user key/value documents for modules (XEP-0049 private
-- XML storage, XEP-0054 vCard, ...).
--
-- 'area' names the module's store, 'key' the item.  Every per-user table
-- carries (host, user) as the leading columns of its primary key so that
-- account deletion (store_account_delete) can remove a user's rows with an
-- indexed DELETE; a migration that adds such a table must also add it to
-- the per-user table list in src/storage/sqlite/sqlite.c.
CREATE TABLE kv (
    host  TEXT NOT NULL,
    user  TEXT NOT NULL,
    area  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (host, user, area, key)
) WITHOUT ROWID;
