-- A message's charge is written on its row, not on a history line of its own: the writer
-- inserted an `events` row, with its entry in `events_by_message`, for every message charged.
-- The history read shows the `charge` line as before, at `charged_at`, ahead of every line
-- written after the charge: `charge_mark` is the highest `events.id` when it was charged (0 when
-- there was none), and the lines written later have higher ids.
-- Both NULL on a message never charged, and on one charged before this migration, whose
-- `charge` line is stored.
ALTER TABLE messages ADD COLUMN charged_at INTEGER;
ALTER TABLE messages ADD COLUMN charge_mark INTEGER;
