-- JSON delivery-report webhooks (the `/v1` API): how a message's callbacks are delivered is
-- decided when it is accepted and kept with it; `query` is the plain-text API's GET with the
-- report in the query string, `json` a signed POST of a JSON report.
ALTER TABLE messages ADD COLUMN callback_format TEXT NOT NULL DEFAULT 'query'
    CHECK (callback_format IN ('query', 'json'));
-- The omnimessage a message was sent in (`/v1`), reported in its webhooks.
ALTER TABLE messages ADD COLUMN omnimessage_id TEXT;

-- The secret an account's webhooks are signed with (`whsec_` + base64). The operator's
-- `webhook_secret` when configured; otherwise generated once and kept here, so a restart does
-- not change what customers verify with.
ALTER TABLE accounts ADD COLUMN webhook_secret TEXT;
