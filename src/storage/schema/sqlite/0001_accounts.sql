-- 0001_accounts.sql - registered accounts (RFC 6120 section 6, SASL SCRAM).
--
-- One row per (host, user): the prepared domainpart and localpart of the
-- bare JID.  'creds' is sasl_creds_encode() output: only SCRAM salts,
-- iteration counts and derived keys, never a password.  'created' is the
-- Unix time of registration.  WITHOUT ROWID because every lookup is by the
-- primary key, and the clustered table saves a separate index.
CREATE TABLE accounts (
    host    TEXT NOT NULL,
    user    TEXT NOT NULL,
    creds   TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (host, user)
) WITHOUT ROWID;
