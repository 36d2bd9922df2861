-- `text-store`: what the customer lets Herald keep of a message's text. `messages.text` holds
-- the text (plaintext), its SHA-256 hex (sha256) or NULL (nostore). Beyond plaintext, the
-- encoded segments (which are the text too) are emptied as soon as the message is final:
-- nothing more will be submitted then.
ALTER TABLE messages ADD COLUMN text_store TEXT NOT NULL DEFAULT 'plaintext';

CREATE TRIGGER forget_segments_of_final_message
AFTER UPDATE OF status ON messages
WHEN NEW.text_store <> 'plaintext'
 AND NEW.status IN ('delivered', 'failed', 'rejected')
 AND OLD.status NOT IN ('delivered', 'failed', 'rejected')
BEGIN
    UPDATE segments SET payload = x'' WHERE message_id = NEW.id;
END;

-- A message rejected at acceptance is final from its first row: its segments are never sent.
CREATE TRIGGER forget_segments_of_rejected_message
AFTER INSERT ON segments
WHEN NEW.state = 'done'
 AND (SELECT text_store FROM messages WHERE id = NEW.message_id) <> 'plaintext'
BEGIN
    UPDATE segments SET payload = x'' WHERE message_id = NEW.message_id AND seq = NEW.seq;
END;
