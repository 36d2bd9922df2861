-- Two indexes of queued segments that no query needs any more, and that every message paid for
-- on the writer thread (an entry added when it is accepted or claimed, removed when submitted):
-- the claims read `segments_queued_by_route` (0013), and the next-due read, which used both
-- (the earliest queued segment and the earliest lease to run out), now covers the callback
-- queue alone, the only one whose worker sleeps until the next due time (the submitters poll).
DROP INDEX segments_queued_by_not_before;
DROP INDEX segments_queued_by_lease;
