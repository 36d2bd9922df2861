-- Receipts of messages whose text is not kept (`text-store` sha256 or nostore) are kept without
-- the text they repeat: store::sqlite::redaction removes it from every receipt as it is linked
-- to its message. This removes it from the receipts linked before that existed, and from their
-- lines in the message history: the value of the Appendix B `text:` field (which runs to the
-- end of the receipt text) and the `message_payload` TLV's value. `text:` is found in the form
-- carriers write it (any case, at the start or after a space, no space before the colon).

UPDATE receipts
   SET raw_text = substr(raw_text, 1, instr(lower(' ' || raw_text), ' text:') + 4)
 WHERE instr(lower(' ' || raw_text), ' text:') > 0
   AND message_id IN (SELECT id FROM messages WHERE text_store <> 'plaintext');

UPDATE receipts
   SET tlvs = (SELECT json_group_array(
                          CASE WHEN json_extract(t.value, '$.tag') = 1060
                               THEN json_object('tag', 1060, 'value', '', 'redacted', json('true'))
                               ELSE json(t.value) END)
                 FROM json_each(receipts.tlvs) AS t)
 WHERE message_id IN (SELECT id FROM messages WHERE text_store <> 'plaintext')
   AND EXISTS (SELECT 1 FROM json_each(receipts.tlvs) AS t
                WHERE json_extract(t.value, '$.tag') = 1060);

-- A history line of a receipt repeats the receipt's raw text and TLVs: now the redacted ones.
UPDATE events
   SET detail = (SELECT json_set(events.detail, '$.raw_text', r.raw_text, '$.tlvs', json(r.tlvs))
                   FROM receipts r
                  WHERE r.id = json_extract(events.detail, '$.receipt_id'))
 WHERE kind = 'receipt'
   AND message_id IN (SELECT id FROM messages WHERE text_store <> 'plaintext')
   AND json_extract(detail, '$.receipt_id') IN (SELECT id FROM receipts);
