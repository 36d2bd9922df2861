-- A message's history without AUTOINCREMENT. An AUTOINCREMENT table reads and rewrites its row
-- of `sqlite_sequence` on every insert, and a message gets about eight history lines on its way
-- (accepted, charge, submit, status, receipt, status, two callbacks), each paying that in the
-- writer's transaction. Without it an event's id is one more than the largest: the same order,
-- since history lines are never deleted.
--
-- The table is rebuilt (SQLite cannot drop AUTOINCREMENT in place). `legacy_alter_table` keeps
-- the rename from re-checking the triggers that write history lines (`refund_rejected_message`):
-- between the DROP and the RENAME their `events` does not exist, and they need no rewriting,
-- since the new table takes the old one's name.
PRAGMA legacy_alter_table = ON;

CREATE TABLE events_rowid (
    id         INTEGER PRIMARY KEY,
    message_id TEXT    NOT NULL REFERENCES messages (id),
    at         INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    segment    INTEGER,
    detail     TEXT    NOT NULL   -- JSON object
) STRICT;

INSERT INTO events_rowid (id, message_id, at, kind, segment, detail)
SELECT id, message_id, at, kind, segment, detail FROM events;

DROP TABLE events;
ALTER TABLE events_rowid RENAME TO events;
CREATE INDEX events_by_message ON events (message_id, id);

PRAGMA legacy_alter_table = OFF;
