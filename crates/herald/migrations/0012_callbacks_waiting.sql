-- Only a message's oldest undelivered callback is `pending` (claimable); those queued behind it
-- are `waiting`, and the oldest of them becomes `pending` when the one ahead is delivered or
-- given up. Until now every undelivered callback was `pending`, and claims and the next-due read
-- skipped those behind an earlier one by looking each up: with a customer's receiver down for
-- hours, every message has a SENT callback backing off and its final one due behind it, and each
-- claim (on the writer thread, which every write waits for) walked all of them to find nothing.
--
-- A claimed callback's lease now also moves its `due_at` (it is due again when the lease runs
-- out), so the next due callback is the first entry of `callbacks_pending_by_due_at`.

UPDATE callbacks
   SET state = 'waiting'
 WHERE state = 'pending'
   AND EXISTS (SELECT 1 FROM callbacks e
                WHERE e.state = 'pending' AND e.message_id = callbacks.message_id
                  AND e.id < callbacks.id);

UPDATE callbacks
   SET due_at = lease_until
 WHERE state = 'pending' AND lease_until > due_at;

-- The ordering check at enqueue ("is any callback of this message not yet delivered?") and the
-- promotion of the next one.
DROP INDEX callbacks_pending_by_message;
CREATE INDEX callbacks_open_by_message ON callbacks (message_id, id)
    WHERE state = 'pending' OR state = 'waiting';
