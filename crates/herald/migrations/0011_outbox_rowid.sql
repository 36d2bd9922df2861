-- The callback outbox and the receipts without AUTOINCREMENT, as 0008 did for the history. An
-- AUTOINCREMENT table reads and rewrites its row of `sqlite_sequence` on every insert, and each
-- message inserts three such rows in the writer's transaction: a receipt and two callbacks
-- (SENT and final). Neither table ever has a row deleted (a callback that is sent or given up
-- keeps its row, with its state), so without AUTOINCREMENT a new id is still one more than the
-- largest ever given: the same ids, the same order.
--
-- Both tables are rebuilt (SQLite cannot drop AUTOINCREMENT in place) with the same columns, the
-- same rowids and the same indexes. No table refers to them, and what they refer to (messages)
-- is not touched, so foreign keys stay on and the migrator's transaction is enough.
PRAGMA legacy_alter_table = ON;

CREATE TABLE receipts_rowid (
    id                 INTEGER PRIMARY KEY,
    carrier            TEXT    NOT NULL,
    carrier_message_id TEXT    NOT NULL,
    cid_exact          TEXT    NOT NULL,
    cid_dec            TEXT,
    cid_hex            TEXT,
    outcome            TEXT    NOT NULL,
    stat_word          TEXT,
    carrier_err        TEXT,
    raw_text           TEXT    NOT NULL,
    tlvs               TEXT    NOT NULL,  -- JSON array of {"tag", "value"}
    received_at        INTEGER NOT NULL,
    message_id         TEXT    REFERENCES messages (id),  -- NULL while pending
    segment            INTEGER
) STRICT;

INSERT INTO receipts_rowid (id, carrier, carrier_message_id, cid_exact, cid_dec, cid_hex, outcome,
                            stat_word, carrier_err, raw_text, tlvs, received_at, message_id,
                            segment)
SELECT id, carrier, carrier_message_id, cid_exact, cid_dec, cid_hex, outcome,
       stat_word, carrier_err, raw_text, tlvs, received_at, message_id, segment
  FROM receipts;

DROP TABLE receipts;
ALTER TABLE receipts_rowid RENAME TO receipts;

-- Pending receipts waiting for their submit_sm_resp, one index per key (0001).
CREATE INDEX receipts_pending_by_cid_exact ON receipts (carrier, cid_exact)
    WHERE message_id IS NULL;
CREATE INDEX receipts_pending_by_cid_dec ON receipts (carrier, cid_dec)
    WHERE message_id IS NULL AND cid_dec IS NOT NULL;
CREATE INDEX receipts_pending_by_cid_hex ON receipts (carrier, cid_hex)
    WHERE message_id IS NULL AND cid_hex IS NOT NULL;
CREATE INDEX receipts_by_message ON receipts (message_id)
    WHERE message_id IS NOT NULL;

CREATE TABLE callbacks_rowid (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT    NOT NULL REFERENCES messages (id),
    url         TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    stat        TEXT    NOT NULL,
    dlr_mask    INTEGER NOT NULL,
    err         INTEGER NOT NULL,
    state       TEXT    NOT NULL,  -- pending | done | exhausted
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER NOT NULL,
    lease_until INTEGER,
    created_at  INTEGER NOT NULL
) STRICT;

INSERT INTO callbacks_rowid (id, message_id, url, status, stat, dlr_mask, err, state, attempts,
                             due_at, lease_until, created_at)
SELECT id, message_id, url, status, stat, dlr_mask, err, state, attempts,
       due_at, lease_until, created_at
  FROM callbacks;

DROP TABLE callbacks;
ALTER TABLE callbacks_rowid RENAME TO callbacks;

-- Callback claims, and the per-message ordering check ("no earlier pending callback") (0001).
CREATE INDEX callbacks_pending_by_due_at ON callbacks (due_at)
    WHERE state = 'pending';
CREATE INDEX callbacks_pending_by_message ON callbacks (message_id, id)
    WHERE state = 'pending';

PRAGMA legacy_alter_table = OFF;
