-- The schema of the first release (created without a version); IF NOT EXISTS adopts a
-- database file written by it.
CREATE TABLE IF NOT EXISTS rooms (
    name TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    username TEXT NOT NULL,
    body TEXT NOT NULL,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;
