"""The published Python client of the platform Herald's /v1 API follows (PyPI messente-api),
used unchanged against a running Herald: only the host is Herald's.

Usage: python3 messente_client.py BASE_URL USERNAME PASSWORD TO BLACKLIST_NUMBER [DLR_URL]

Sends an SMS omnimessage (its delivery reports to DLR_URL when given) and polls its delivery report until it is final, sends one in bulk,
schedules one and cancels it, adds a number to the blacklist, checks, lists and deletes it, and
asks for an unknown omnimessage and with a wrong password (the client parses the error bodies
with its own models). Prints what it observed as one JSON object on stdout and leaves the
judging to the Rust test. Exits non-zero if the client raises where it should not.
"""

import datetime
import json
import sys
import time

from messente_api import (
    ApiClient,
    BlacklistApi,
    BulkMessagingApi,
    BulkOmnimessage,
    Configuration,
    DeliveryReportApi,
    NumberToBlacklist,
    Omnimessage,
    OmnimessageApi,
    OmnimessageMessagesInner,
    SMS,
)
from messente_api.exceptions import ApiException

FINAL = {"DELIVRD", "UNDELIV", "FAILED", "REJECTD", "DELETED", "EXPIRED", "NACK"}
REPORT_WAIT_SECONDS = 20


def client(base_url, username, password):
    configuration = Configuration()
    configuration.host = base_url + "/v1"
    configuration.username = username
    configuration.password = password
    return ApiClient(configuration)


def sms_only(sms):
    """`messages` holds channel items wrapped in the client's oneOf type."""
    return [OmnimessageMessagesInner(sms)]


def error_of(exception):
    """What the client made of an error answer: its status and its parsed error items."""
    data = exception.data
    items = [
        {"title": e.title.value, "code": e.code.value, "source": e.source, "detail": e.detail}
        for e in (data.errors if data is not None else [])
    ]
    return {"status": exception.status, "parsed": data is not None, "errors": items}


def main():
    base_url, username, password, to, blacklisted = sys.argv[1:6]
    dlr_url = sys.argv[6] if len(sys.argv) > 6 else None
    seen = {}
    with client(base_url, username, password) as api:
        omnimessages = OmnimessageApi(api)
        reports = DeliveryReportApi(api)

        sms = SMS(text="Hello from messente-api", sender="Herald", validity=60)
        created = omnimessages.send_omnimessage(
            Omnimessage(to=to, messages=sms_only(sms), priority="high", dlr_url=dlr_url)
        )
        seen["created"] = {
            "omnimessage_id": created.omnimessage_id,
            "to": created.to,
            "messages": [
                {"channel": m.channel.value, "message_id": m.message_id, "sender": m.sender}
                for m in created.messages
            ],
        }

        statuses = []
        deadline = time.monotonic() + REPORT_WAIT_SECONDS
        while time.monotonic() < deadline:
            report = reports.retrieve_delivery_report(created.omnimessage_id)
            result = report.statuses[0]
            status = result.status.value if result.status is not None else None
            if not statuses or statuses[-1]["status"] != status:
                statuses.append(
                    {
                        "status": status,
                        "err": result.err.value if result.err is not None else None,
                        "channel": result.channel.value,
                        "message_id": result.message_id,
                        "timestamp": result.timestamp.isoformat() if result.timestamp else None,
                        "price_info": result.price_info.to_dict() if result.price_info else None,
                    }
                )
            if status in FINAL:
                break
            time.sleep(0.2)
        seen["statuses"] = statuses
        seen["report_to"] = report.to
        seen["report_omnimessage_id"] = report.omnimessage_id

        bulk = BulkMessagingApi(api).send_bulk_omnimessage(
            BulkOmnimessage(messages=[Omnimessage(to=to, messages=sms_only(SMS(text="bulk", sender="Herald")))])
        )
        seen["bulk"] = [item.actual_instance.omnimessage_id for item in bulk.messages]

        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        scheduled = omnimessages.send_omnimessage(
            Omnimessage(
                to=to, messages=sms_only(SMS(text="later", sender="Herald")), time_to_send=later
            )
        )
        omnimessages.cancel_scheduled_message(scheduled.omnimessage_id)
        cancelled = reports.retrieve_delivery_report(scheduled.omnimessage_id).statuses[0]
        seen["cancelled_status"] = cancelled.status.value if cancelled.status else None

        blacklist = BlacklistApi(api)
        blacklist.add_to_blacklist(NumberToBlacklist(phone_number=blacklisted))
        try:
            blacklist.add_to_blacklist(NumberToBlacklist(phone_number=blacklisted))
            seen["added_twice"] = {"status": None}
        except ApiException as e:
            seen["added_twice"] = {"status": e.status}
        blacklist.is_blacklisted(blacklisted)  # raises unless 204
        seen["listed"] = blacklist.fetch_blacklist().phone_numbers
        blacklist.delete_from_blacklist(blacklisted)
        seen["listed_after_delete"] = blacklist.fetch_blacklist().phone_numbers
        try:
            blacklist.is_blacklisted(blacklisted)
            seen["still_blacklisted"] = True
        except ApiException as e:
            seen["still_blacklisted"] = e.status != 404

        try:
            reports.retrieve_delivery_report("00000000-0000-0000-0000-000000000000")
            seen["unknown"] = None
        except ApiException as e:
            seen["unknown"] = error_of(e)

    with client(base_url, username, "wrong password") as api:
        try:
            OmnimessageApi(api).send_omnimessage(Omnimessage(to=to, messages=sms_only(SMS(text="x"))))
            seen["wrong_password"] = None
        except ApiException as e:
            seen["wrong_password"] = error_of(e)

    print(json.dumps(seen))


if __name__ == "__main__":
    main()
