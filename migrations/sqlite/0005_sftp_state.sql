-- SFTP state that `pasarela status` shows and that outlives a restart.
-- Open sessions (removed at close; cleared when the SFTP server starts, as one
-- daemon owns a SQLite store) and banned addresses (times in unix ms).
CREATE TABLE sftp_sessions (
    id         TEXT    PRIMARY KEY,
    daemon     TEXT    NOT NULL,
    account    TEXT    NOT NULL,
    peer       TEXT    NOT NULL,
    started_at INTEGER NOT NULL
);

CREATE TABLE sftp_bans (
    addr       TEXT    PRIMARY KEY,
    until_at   INTEGER NOT NULL,
    bans       INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
