-- A room: its history epoch (made once, shared by every node) and its latest seq, which
-- the append's transaction increments (the row lock orders the nodes' appends).
CREATE TABLE rooms (
    name TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seq BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE messages (
    room TEXT NOT NULL REFERENCES rooms (name),
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    username TEXT NOT NULL,
    body TEXT NOT NULL,
    ts BIGINT NOT NULL,
    kind TEXT NOT NULL,
    -- The sender's name key and its client-generated id: a repeat is answered, not stored.
    user_key TEXT,
    client_id TEXT,
    PRIMARY KEY (room, seq),
    UNIQUE (user_key, client_id)
);
-- Private messages are not stored; their client ids are, with the original answer.
CREATE TABLE private_sends (
    user_key TEXT NOT NULL,
    client_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_key, client_id)
);
CREATE INDEX private_sends_created_at ON private_sends (created_at);
