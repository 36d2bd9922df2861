-- The three triggers of the status rules (0002's refund, 0003's forgetting of segments, as 0009
-- rebuilt them) become statements of the store's writer, which moves every message's status
-- in one place (`state::change_status`) and inserts every message (`messages::accept`).
--
-- Why: a trigger makes SQLite treat the statement that fires it as one that writes several
-- rows, and such a statement opens a statement journal: each page it touches is first copied
-- into memory so the statement alone can be undone. That ran for every status change and every
-- segment inserted, though its WHEN is almost never true, and the writer never needs it (a
-- failing operation is rolled back with its whole batch, see `writer.rs`). Measured with
-- callgrind on the end-to-end benchmark: the writer ~575k -> ~526k instructions per message
-- with the triggers dropped.
--
-- The rules are the same: a message that becomes Rejected after it was charged is refunded,
-- with a `refund` line in its history; a message whose text is not kept forgets its segments'
-- payloads once final, including one rejected at acceptance.
DROP TRIGGER refund_rejected_message;
DROP TRIGGER forget_segments_of_final_message;
DROP TRIGGER forget_segments_of_rejected_message;
