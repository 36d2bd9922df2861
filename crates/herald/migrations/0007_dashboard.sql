-- The dashboard's overview counts the messages accepted in a period: without this index every
-- overview would read the whole messages table.
CREATE INDEX messages_by_accepted_at ON messages (accepted_at);
