-- The carrier a segment is routed to (its message's `carrier`, fixed at acceptance), on the
-- segment itself, so a carrier's claim reads its own due segments straight from an index.
--
-- Until now a claim walked every queued segment in priority order and looked up each one's
-- message for its carrier and its time: with another carrier down (its segments waiting) or a
-- campaign scheduled for later, each claim, on the writer thread that every write waits for,
-- stepped over all of them to find its few (100,000 waiting: ~60–100 ms per claim).
--
-- Only segments that can still be sent need it: a `done` segment never goes back to the queue.
ALTER TABLE segments ADD COLUMN route TEXT;

UPDATE segments
   SET route = (SELECT carrier FROM messages WHERE messages.id = segments.message_id)
 WHERE state <> 'done';

-- A claim runs once per priority (highest first): carrier and priority equal, due segments a
-- range of `not_before`, in the order the claim hands them out (the index ends with the
-- table's key, message_id and seq).
DROP INDEX segments_queued_by_priority;
CREATE INDEX segments_queued_by_route ON segments (route, priority, not_before)
    WHERE state = 'queued';
