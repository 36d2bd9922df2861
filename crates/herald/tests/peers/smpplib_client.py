"""An ESME written with PyPI smpplib, run against Herald's simulated carrier.

Usage: python3 smpplib_client.py HOST PORT SYSTEM_ID PASSWORD DESTINATION...

Binds as a transceiver, submits one message to each destination asking for a receipt, collects
every receipt, sends an enquire_link, unbinds. It prints what it observed as one JSON object on
stdout and leaves the judging to the Rust test. Exits non-zero if the exchange cannot complete.
"""

import json
import socket
import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.smpp

RECEIPT_WAIT_SECONDS = 10


def text(value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def main():
    host, port, system_id, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    destinations = sys.argv[5:]
    out = {"peer": "smpplib", "submits": [], "receipts": []}

    client = smpplib.client.Client(host, port, timeout=5)
    client.connect()
    bind = client.bind_transceiver(system_id=system_id, password=password)
    out["bind_status"] = int(bind.status)

    def read():
        pdu = client.read_pdu()
        if pdu.command == "deliver_sm":
            out["receipts"].append({
                "esm_class": int(pdu.esm_class),
                "source_addr": text(pdu.source_addr),
                "destination_addr": text(pdu.destination_addr),
                "short_message": text(pdu.short_message),
                "receipted_message_id": text(pdu.receipted_message_id),
                "message_state": pdu.message_state,
            })
            resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
        elif pdu.command == "enquire_link":
            resp = smpplib.smpp.make_pdu("enquire_link_resp", client=client)
            resp.sequence = pdu.sequence
            client.send_pdu(resp)
        return pdu

    def wait_for(command, sequence):
        while True:
            pdu = read()
            if pdu.command == command and pdu.sequence == sequence:
                return pdu

    for destination in destinations:
        submit = smpplib.smpp.make_pdu(
            "submit_sm",
            client=client,
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
            source_addr="Herald",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr=destination,
            esm_class=0,
            data_coding=0,
            registered_delivery=1,
            short_message=b"hello from smpplib",
        )
        client.send_pdu(submit)
        resp = wait_for("submit_sm_resp", submit.sequence)
        out["submits"].append({
            "destination": destination,
            "status": int(resp.status),
            "message_id": text(getattr(resp, "message_id", None)),
        })

    accepted = sum(1 for s in out["submits"] if s["status"] == 0)
    deadline = time.monotonic() + RECEIPT_WAIT_SECONDS
    client._socket.settimeout(0.5)
    while len(out["receipts"]) < accepted and time.monotonic() < deadline:
        try:
            read()
        except socket.timeout:
            pass
    client._socket.settimeout(5)

    link = smpplib.smpp.make_pdu("enquire_link", client=client)
    client.send_pdu(link)
    out["enquire_link_status"] = int(wait_for("enquire_link_resp", link.sequence).status)

    unbind = smpplib.smpp.make_pdu("unbind", client=client)
    client.send_pdu(unbind)
    out["unbind_status"] = int(wait_for("unbind_resp", unbind.sequence).status)
    client.disconnect()

    print(json.dumps(out))


if __name__ == "__main__":
    main()
