-- A room's latest seq lives in its row and is taken by the append's transaction.
ALTER TABLE rooms ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
UPDATE rooms SET last_seq = coalesce((SELECT max(seq) FROM messages WHERE messages.room = rooms.name), 0);
-- Rooms that have messages but no row (none are written so, but be safe).
INSERT OR IGNORE INTO rooms (name, epoch, created_at, last_seq)
    SELECT room, lower(hex(randomblob(16))), 0, max(seq) FROM messages GROUP BY room;
-- The sender's name key and its client-generated id: a repeat is answered, not stored.
ALTER TABLE messages ADD COLUMN user_key TEXT;
ALTER TABLE messages ADD COLUMN client_id TEXT;
CREATE UNIQUE INDEX messages_client_id ON messages (user_key, client_id);
-- Private messages are not stored; their client ids are, with the original answer.
CREATE TABLE private_sends (
    user_key TEXT NOT NULL,
    client_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_key, client_id)
) WITHOUT ROWID;
CREATE INDEX private_sends_created_at ON private_sends (created_at);
