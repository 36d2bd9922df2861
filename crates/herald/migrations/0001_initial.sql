-- Herald's schema. Every timestamp is milliseconds since the Unix epoch.
-- A report is stored as four columns (status, stat, dlr_mask, err); `stat` is NULL when there is
-- no report yet.

-- Customer accounts; the operator's config file is the source of truth, this is its copy.
CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    balance       TEXT    NOT NULL,
    senders       TEXT    NOT NULL,  -- JSON array of allowed sender names
    dlr_url       TEXT
) STRICT;

CREATE TABLE messages (
    id            TEXT    PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    destination   TEXT    NOT NULL,
    sender        TEXT    NOT NULL,
    text          TEXT,
    dlr_url       TEXT,
    carrier       TEXT,
    price         TEXT,
    status        TEXT    NOT NULL,  -- scheduled | queued | sent | delivered | failed | rejected
    stat          TEXT,
    dlr_mask      INTEGER,
    err           INTEGER,
    segment_count INTEGER NOT NULL,
    accepted_at   INTEGER NOT NULL,
    not_before    INTEGER NOT NULL,
    valid_until   INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- Expiry sweep and next_due: the messages that can still expire.
CREATE INDEX messages_open_by_valid_until ON messages (valid_until)
    WHERE status IN ('queued', 'sent');

CREATE TABLE segments (
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
    PRIMARY KEY (message_id, seq)
) STRICT, WITHOUT ROWID;

-- Submission claims: queued segments oldest first.
CREATE INDEX segments_queued_by_not_before ON segments (not_before)
    WHERE state = 'queued';
-- next_due: when leases of in-flight submissions run out.
CREATE INDEX segments_queued_by_lease ON segments (lease_until)
    WHERE state = 'queued' AND lease_until IS NOT NULL;
-- Receipt matching, one index per key.
CREATE INDEX segments_by_cid_exact ON segments (carrier, cid_exact)
    WHERE cid_exact IS NOT NULL;
CREATE INDEX segments_by_cid_dec ON segments (carrier, cid_dec)
    WHERE cid_dec IS NOT NULL;
CREATE INDEX segments_by_cid_hex ON segments (carrier, cid_hex)
    WHERE cid_hex IS NOT NULL;

-- A message's history: append-only.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT    NOT NULL REFERENCES messages (id),
    at         INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    segment    INTEGER,
    detail     TEXT    NOT NULL   -- JSON object
) STRICT;

CREATE INDEX events_by_message ON events (message_id, id);

-- Every receipt a carrier sent, matched or not: evidence first, interpretation second.
CREATE TABLE receipts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
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

-- Pending receipts waiting for their submit_sm_resp, one index per key.
CREATE INDEX receipts_pending_by_cid_exact ON receipts (carrier, cid_exact)
    WHERE message_id IS NULL;
CREATE INDEX receipts_pending_by_cid_dec ON receipts (carrier, cid_dec)
    WHERE message_id IS NULL AND cid_dec IS NOT NULL;
CREATE INDEX receipts_pending_by_cid_hex ON receipts (carrier, cid_hex)
    WHERE message_id IS NULL AND cid_hex IS NOT NULL;
CREATE INDEX receipts_by_message ON receipts (message_id)
    WHERE message_id IS NOT NULL;

-- The callback outbox: one row per status change to tell the customer.
CREATE TABLE callbacks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
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

-- Callback claims, and the per-message ordering check ("no earlier pending callback").
CREATE INDEX callbacks_pending_by_due_at ON callbacks (due_at)
    WHERE state = 'pending';
CREATE INDEX callbacks_pending_by_message ON callbacks (message_id, id)
    WHERE state = 'pending';
