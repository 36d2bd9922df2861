"""A customer's webhook endpoint that trusts nothing it cannot verify.

Usage: webhook_receiver.py PORT SECRET

Verifies every POST twice, with code Herald did not write: the Standard Webhooks headers with
PyPI `standardwebhooks`, and X-Messente-Signature with Python's own hmac. Each request also has
its body tampered with (one byte changed) and verified again, which must fail both ways.
Answers 200 when both signatures verify, 401 otherwise. Prints one JSON line per request:
{"standard": bool, "messente": bool, "tampered_rejected": bool, "webhook_id", "body"}, and
{"port": PORT} once listening.
"""

import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT = int(sys.argv[1])
SECRET = sys.argv[2]
WEBHOOK = Webhook(SECRET)


def standard_ok(body, headers):
    try:
        WEBHOOK.verify(body, headers)
        return True
    except WebhookVerificationError:
        return False


def messente_ok(body, signature):
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature or "")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        signature = headers.get("x-messente-signature")
        standard = standard_ok(body, headers)
        messente = messente_ok(body, signature)
        # The same request with its first digit changed (a price, an err, a date).
        index = next((i for i, b in enumerate(body) if chr(b).isdigit()), 0)
        tampered = bytearray(body)
        tampered[index] = ord("1") if tampered[index] != ord("1") else ord("2")
        tampered = bytes(tampered)
        tampered_rejected = not standard_ok(tampered, headers) and not messente_ok(
            tampered, signature
        )
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        ok = standard and messente
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()
        print(
            json.dumps(
                {
                    "standard": standard,
                    "messente": messente,
                    "tampered_rejected": tampered_rejected,
                    "webhook_id": headers.get("webhook-id"),
                    "content_type": headers.get("content-type"),
                    "body": parsed,
                }
            ),
            flush=True,
        )

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", PORT), Handler)
print(json.dumps({"port": server.server_address[1]}), flush=True)
server.serve_forever()
