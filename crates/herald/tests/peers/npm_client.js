// An ESME written with npm `smpp`, run against Herald's simulated carrier.
//
// Usage: node npm_client.js HOST PORT SYSTEM_ID PASSWORD DESTINATION...
//
// Binds as a transceiver, submits one message to each destination asking for a receipt, collects
// every receipt, sends an enquire_link, unbinds. Prints what it observed as one JSON object on
// stdout and leaves the judging to the Rust test.
'use strict';

const smpp = require('smpp');

const RECEIPT_WAIT_MS = 10000;
const [host, port, systemId, password, ...destinations] = process.argv.slice(2);
const out = { peer: 'npm-smpp', submits: [], receipts: [] };

function fail(message) {
  process.stderr.write(`npm_client: ${message}\n`);
  process.exit(1);
}

function text(value) {
  if (value === undefined || value === null) return null;
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (typeof value === 'object' && 'message' in value) return text(value.message);
  return String(value);
}

const session = smpp.connect({ host, port: Number(port) });
session.on('error', (e) => fail(`socket error: ${e.message}`));
session.on('enquire_link', (pdu) => session.send(pdu.response()));
session.on('deliver_sm', (pdu) => {
  out.receipts.push({
    esm_class: pdu.esm_class,
    source_addr: text(pdu.source_addr),
    destination_addr: text(pdu.destination_addr),
    short_message: text(pdu.short_message),
    receipted_message_id: text(pdu.receipted_message_id),
    message_state: pdu.message_state === undefined ? null : pdu.message_state,
  });
  session.send(pdu.response());
});

const call = (command, options) =>
  new Promise((resolve) => session[command](options || {}, resolve));

async function main() {
  const bind = await call('bind_transceiver', { system_id: systemId, password });
  out.bind_status = bind.command_status;
  for (const destination of destinations) {
    const resp = await call('submit_sm', {
      source_addr_ton: 5,
      source_addr: 'Herald',
      dest_addr_ton: 1,
      dest_addr_npi: 1,
      destination_addr: destination,
      esm_class: 0,
      data_coding: 0,
      registered_delivery: 1,
      short_message: 'hello from npm smpp',
    });
    out.submits.push({
      destination,
      status: resp.command_status,
      message_id: resp.command_status === 0 ? text(resp.message_id) : null,
    });
  }
  const accepted = out.submits.filter((s) => s.status === 0).length;
  const deadline = Date.now() + RECEIPT_WAIT_MS;
  while (out.receipts.length < accepted && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  out.enquire_link_status = (await call('enquire_link')).command_status;
  out.unbind_status = (await call('unbind')).command_status;
  session.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => fail(e.stack || String(e)));
setTimeout(() => fail('timed out'), 30000).unref();
