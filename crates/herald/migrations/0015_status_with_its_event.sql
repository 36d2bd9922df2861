-- A status change is written on the history line of the event that brought it (a submission
-- the carrier took, a receipt, a rule, the expiry), not on a line of its own: the writer
-- inserted a second row, with its entry in `events_by_message`, for most steps of every message.
-- The history read shows it as before, a `status` line right after its event, at the same time.
-- JSON object, the `status` line's detail; NULL on lines that changed no status.
ALTER TABLE events ADD COLUMN status_detail TEXT;
