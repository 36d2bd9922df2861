-- The message rules (status-model §2): money, blacklists, duplicate limits.
-- Money is integer micro-units (millionths of the account currency), never floating point.

-- The live balance, and the configured balance it was last synchronised with: the config file
-- gives an account's opening balance, and raising it there later tops the account up by the
-- difference (see store::sqlite::accounts). The CHECK makes "never below zero" the database's
-- own invariant, whatever the code above it does.
ALTER TABLE accounts ADD COLUMN balance_micros INTEGER NOT NULL DEFAULT 0 CHECK (balance_micros >= 0);
ALTER TABLE accounts ADD COLUMN configured_micros INTEGER NOT NULL DEFAULT 0;

-- Price per segment when the message was routed; what was charged for it (NULL: not charged
-- yet; a message is charged for all its segments when it is first claimed for submission).
ALTER TABLE messages ADD COLUMN price_micros INTEGER;
ALTER TABLE messages ADD COLUMN charge_micros INTEGER;
-- A hash of the message's content, kept for messages that passed the rules at acceptance: what
-- "identical messages" (err 006) are counted by.
ALTER TABLE messages ADD COLUMN fingerprint INTEGER;

CREATE INDEX messages_by_fingerprint ON messages (account_id, destination, fingerprint, accepted_at)
    WHERE fingerprint IS NOT NULL;

-- Identical messages over the limit block that message to that number until `blocked_until`.
CREATE TABLE duplicate_blocks (
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    destination   TEXT    NOT NULL,
    fingerprint   INTEGER NOT NULL,
    blocked_until INTEGER NOT NULL,
    PRIMARY KEY (account_id, destination, fingerprint)
) STRICT, WITHOUT ROWID;

-- Blacklisted destinations (E.164 digits): an account's own (account_id set) or global (NULL).
CREATE TABLE blacklist (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER REFERENCES accounts (id),
    number     TEXT    NOT NULL,
    added_at   INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX blacklist_entries ON blacklist (number, coalesce(account_id, 0));

-- Rejected messages cost nothing: whatever path rejects a message after it was charged (a
-- carrier NACK, temporary errors outlasting the retries), the charge goes back to the account in
-- the same transaction, and the history says so. A final status is never left, so this runs at
-- most once per message.
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
