-- no-transaction
-- The schema's rules without lists of three or more constants. SQLite codes `x IN (a, b, c)` as
-- a lookup in an ephemeral b-tree that it builds (opens, allocates and zeroes a page for, fills)
-- each time the statement runs; with two constants or fewer it compares directly. Such lists
-- ran on every message: the `priority` CHECKs on each INSERT into messages and into segments,
-- and the WHEN of `forget_segments_of_final_message` on each status change. The rules are the
-- same, written as a range (`priority` is a STRICT INTEGER: BETWEEN 0 AND 2 admits 0, 1 and 2,
-- as before) and as comparisons (`status` is NOT NULL).
--
-- A CHECK cannot be changed in place, so messages and segments are rebuilt as 0008 rebuilt
-- events: the same columns in the same order, the same rowids (the listing pages by rowid),
-- and every index and trigger of the two tables, as migrations 0001-0007 left them.
--
-- Dropping messages while foreign keys are enforced would first delete its rows one by one,
-- looking up every segment, history line, receipt and callback that refers to each (callbacks
-- have no index on message_id); and `PRAGMA foreign_keys` can only be switched outside a
-- transaction. So this migration runs outside sqlx's transaction (`-- no-transaction` above)
-- and opens its own, with foreign keys off; before committing it checks that every reference
-- in the database still finds its row, and fails (rolling back) otherwise. Should the process
-- stop between this COMMIT and the migrator recording version 9, the next start runs it again:
-- rebuilding already rebuilt tables changes nothing.
PRAGMA foreign_keys = OFF;

BEGIN;

-- As in 0008: each RENAME rewrites the renamed table's own statement and nothing else.
PRAGMA legacy_alter_table = ON;

CREATE TABLE messages_rebuilt (
    id              TEXT    PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES accounts (id),
    destination     TEXT    NOT NULL,
    sender          TEXT    NOT NULL,
    text            TEXT,
    dlr_url         TEXT,
    carrier         TEXT,
    price           TEXT,
    status          TEXT    NOT NULL,  -- scheduled | queued | sent | delivered | failed | rejected
    stat            TEXT,
    dlr_mask        INTEGER,
    err             INTEGER,
    segment_count   INTEGER NOT NULL,
    accepted_at     INTEGER NOT NULL,
    not_before      INTEGER NOT NULL,
    valid_until     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    price_micros    INTEGER,
    charge_micros   INTEGER,
    fingerprint     INTEGER,
    text_store      TEXT    NOT NULL DEFAULT 'plaintext',
    priority        INTEGER NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2),
    callback_format TEXT    NOT NULL DEFAULT 'query' CHECK (callback_format IN ('query', 'json')),
    omnimessage_id  TEXT
) STRICT;

INSERT INTO messages_rebuilt (rowid, id, account_id, destination, sender, text, dlr_url, carrier,
                              price, status, stat, dlr_mask, err, segment_count, accepted_at,
                              not_before, valid_until, updated_at, price_micros, charge_micros,
                              fingerprint, text_store, priority, callback_format, omnimessage_id)
SELECT rowid, id, account_id, destination, sender, text, dlr_url, carrier,
       price, status, stat, dlr_mask, err, segment_count, accepted_at,
       not_before, valid_until, updated_at, price_micros, charge_micros,
       fingerprint, text_store, priority, callback_format, omnimessage_id
  FROM messages;

CREATE TABLE segments_rebuilt (
    message_id         TEXT    NOT NULL REFERENCES messages (id),
    seq                INTEGER NOT NULL,
    data_coding        INTEGER NOT NULL,
    esm_class          INTEGER NOT NULL,
    payload            BLOB    NOT NULL,
    -- queued: waiting for (re)submission; sent: the carrier has it; unknown: submitted without
    -- an answer; done: its report is final, nothing more will be sent.
    state              TEXT    NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    not_before         INTEGER NOT NULL,
    lease_until        INTEGER,
    carrier            TEXT,              -- the carrier that acknowledged it
    carrier_message_id TEXT,              -- the id as that carrier wrote it
    cid_exact          TEXT,              -- the three keys of herald_smpp::ids::IdKeys
    cid_dec            TEXT,
    cid_hex            TEXT,
    submitted_at       INTEGER,
    status             TEXT,
    stat               TEXT,
    dlr_mask           INTEGER,
    err                INTEGER,
    updated_at         INTEGER NOT NULL,
    priority           INTEGER NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2),
    PRIMARY KEY (message_id, seq)
) STRICT, WITHOUT ROWID;

INSERT INTO segments_rebuilt (message_id, seq, data_coding, esm_class, payload, state, attempts,
                              not_before, lease_until, carrier, carrier_message_id, cid_exact,
                              cid_dec, cid_hex, submitted_at, status, stat, dlr_mask, err,
                              updated_at, priority)
SELECT message_id, seq, data_coding, esm_class, payload, state, attempts,
       not_before, lease_until, carrier, carrier_message_id, cid_exact,
       cid_dec, cid_hex, submitted_at, status, stat, dlr_mask, err,
       updated_at, priority
  FROM segments;

-- With their indexes and triggers.
DROP TABLE segments;
DROP TABLE messages;
ALTER TABLE messages_rebuilt RENAME TO messages;
ALTER TABLE segments_rebuilt RENAME TO segments;

-- messages' indexes (0001, 0002, 0005, 0007).
CREATE INDEX messages_open_by_valid_until ON messages (valid_until)
    WHERE status IN ('queued', 'sent');
CREATE INDEX messages_by_fingerprint ON messages (account_id, destination, fingerprint, accepted_at)
    WHERE fingerprint IS NOT NULL;
CREATE INDEX messages_by_account ON messages (account_id);
CREATE INDEX messages_by_destination ON messages (destination);
CREATE INDEX messages_by_accepted_at ON messages (accepted_at);

-- segments' indexes (0001, 0005).
CREATE INDEX segments_queued_by_not_before ON segments (not_before)
    WHERE state = 'queued';
CREATE INDEX segments_queued_by_lease ON segments (lease_until)
    WHERE state = 'queued' AND lease_until IS NOT NULL;
CREATE INDEX segments_by_cid_exact ON segments (carrier, cid_exact)
    WHERE cid_exact IS NOT NULL;
CREATE INDEX segments_by_cid_dec ON segments (carrier, cid_dec)
    WHERE cid_dec IS NOT NULL;
CREATE INDEX segments_by_cid_hex ON segments (carrier, cid_hex)
    WHERE cid_hex IS NOT NULL;
CREATE INDEX segments_queued_by_priority ON segments (priority DESC, not_before)
    WHERE state = 'queued';

-- The triggers (0002, 0003): as they were, but for the status lists of the second.
CREATE TRIGGER refund_rejected_message
AFTER UPDATE OF status ON messages
WHEN NEW.status = 'rejected' AND OLD.status <> 'rejected' AND NEW.charge_micros > 0
BEGIN
    UPDATE accounts SET balance_micros = balance_micros + NEW.charge_micros
     WHERE id = NEW.account_id;
    INSERT INTO events (message_id, at, kind, segment, detail)
    VALUES (NEW.id, NEW.updated_at, 'refund', NULL,
            json_object('amount_micros', NEW.charge_micros));
END;

CREATE TRIGGER forget_segments_of_final_message
AFTER UPDATE OF status ON messages
WHEN NEW.text_store <> 'plaintext'
 AND (NEW.status = 'delivered' OR NEW.status = 'failed' OR NEW.status = 'rejected')
 AND OLD.status <> 'delivered' AND OLD.status <> 'failed' AND OLD.status <> 'rejected'
BEGIN
    UPDATE segments SET payload = x'' WHERE message_id = NEW.id;
END;

CREATE TRIGGER forget_segments_of_rejected_message
AFTER INSERT ON segments
WHEN NEW.state = 'done'
 AND (SELECT text_store FROM messages WHERE id = NEW.message_id) <> 'plaintext'
BEGIN
    UPDATE segments SET payload = x'' WHERE message_id = NEW.message_id AND seq = NEW.seq;
END;

PRAGMA legacy_alter_table = OFF;

-- Every reference still finds its row: otherwise the INSERT fails its CHECK and rolls the
-- transaction back, so the migration fails and nothing of it is committed.
CREATE TEMP TABLE foreign_key_violations (n INTEGER NOT NULL CHECK (n = 0)) STRICT;
INSERT OR ROLLBACK INTO foreign_key_violations SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE foreign_key_violations;

COMMIT;

PRAGMA foreign_keys = ON;
