-- The /v1 JSON API: message priority and the message listing.

-- Priority (0 low, 1 regular, 2 high): every due segment of a higher priority is claimed before
-- any of a lower one. Kept on the message for display and on its segments for the claim query.
ALTER TABLE messages ADD COLUMN priority INTEGER NOT NULL DEFAULT 1 CHECK (priority IN (0, 1, 2));
ALTER TABLE segments ADD COLUMN priority INTEGER NOT NULL DEFAULT 1 CHECK (priority IN (0, 1, 2));

CREATE INDEX segments_queued_by_priority ON segments (priority DESC, not_before)
    WHERE state = 'queued';

-- The listing pages by rowid (acceptance order, newest first); each index below ends in the
-- rowid implicitly, so a filtered page is a range scan. No index on status: it changes several
-- times per message, and every change would rewrite the index entry on the writer's path.
CREATE INDEX messages_by_account ON messages (account_id);
CREATE INDEX messages_by_destination ON messages (destination);
