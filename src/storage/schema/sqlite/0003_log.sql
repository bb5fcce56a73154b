-- 0003_log.sql - per-user append-only logs: offline messages (XEP-0160,
-- area 'offline'), the message archive (XEP-0313, area 'mam') and MUC room
-- archives (user = room localpart, host = the MUC service).
--
-- 'seq' orders rows and is what consumers remember (XEP-0198 acks, "delete
-- up to what I delivered"), so it must never go backwards: AUTOINCREMENT
-- makes SQLite take max(seq ever used) + 1 (kept in sqlite_sequence) rather
-- than max(seq present) + 1, which would hand the seq of a deleted newest
-- row to the next append.  'id' is the caller's XEP-0359 stanza id, unique
-- per (host, user, area): it is the RSM/MAM UID clients page with.  'peer'
-- is the bare JID of the other party ('with' is an SQL keyword); 'stamp'
-- microseconds since the epoch; 'value' the serialized stanza.
--
-- Indexes.  SQLite appends the rowid (here 'seq') to every index entry, so
-- an index on (host, user, area) is ordered by seq within an area, and one
-- on (host, user, area, peer) by seq within a conversation: the MAM page
-- queries walk them in either direction and stop at the limit.  The unique
-- constraint's index serves lookups by id (after-id, before-id, ids,
-- deletes by id) and, with its (host, user) prefix, account deletion
-- (sqlite.c per_user_tables).  (host, area, stamp) serves retention
-- (store_log_expire), which spans every user of a host.
CREATE TABLE log (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    host  TEXT NOT NULL,
    user  TEXT NOT NULL,
    area  TEXT NOT NULL,
    id    TEXT NOT NULL,
    peer  TEXT,
    stamp INTEGER NOT NULL,
    value BLOB NOT NULL,
    UNIQUE (host, user, area, id)
);
CREATE INDEX log_by_seq ON log (host, user, area);
CREATE INDEX log_by_peer ON log (host, user, area, peer);
CREATE INDEX log_by_stamp ON log (host, area, stamp);
