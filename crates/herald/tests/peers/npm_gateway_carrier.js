// A carrier (SMSC) written with npm `smpp`, for a whole Herald gateway to use as its upstream.
// It behaves like the awkward real carriers Herald must cope with:
//   - the submit_sm_resp carries the message id in HEX, the receipt the same id in DECIMAL;
//   - receipts are TEXT ONLY (Appendix B short_message, no TLVs);
//   - destination ending in 01 -> UNDELIV receipt (err:001);
//   - destination ending in 03 -> submit_sm_resp with command_status 0x0B, no receipt;
//   - destination ending in 07 -> the DELIVRD receipt is sent twice;
//   - destination ending in 08 -> the DELIVRD receipt is sent BEFORE the submit_sm_resp;
//   - anything else            -> DELIVRD receipt shortly after the submit_sm_resp.
// A message in message_payload (sm_length 0) is read from there, as any SMSC would.
//
// Usage: node npm_gateway_carrier.js SYSTEM_ID PASSWORD
//
// Listens on 127.0.0.1 on a free port and prints {"port": N} as its first stdout line; then one
// JSON line per event, for the Rust test to judge. It runs until killed (at most 120 s).
'use strict';

const smpp = require('smpp');

const [systemId, password] = process.argv.slice(2);
let nextId = 0x1a2b3c;

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function receiptDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
}

// The message as the SMSC reads it: short_message, or message_payload when that is empty.
function messageText(submit) {
  const short = String((submit.short_message && submit.short_message.message) || '');
  const payload = submit.message_payload && String(submit.message_payload.message || '');
  return short || payload || '';
}

function sendReceipt(session, submit, decimalId, stat, err, how) {
  const now = receiptDate(new Date());
  const delivered = stat === 'DELIVRD' ? '001' : '000';
  const text = `id:${decimalId} sub:001 dlvrd:${delivered} submit date:${now} done date:${now} ` +
    `stat:${stat} err:${err} text:` + messageText(submit).slice(0, 20);
  emit({ event: 'receipt', id: decimalId, stat, how });
  session.deliver_sm({
    source_addr_ton: submit.dest_addr_ton,
    source_addr_npi: submit.dest_addr_npi,
    source_addr: String(submit.destination_addr),
    dest_addr_ton: submit.source_addr_ton,
    dest_addr_npi: submit.source_addr_npi,
    destination_addr: submit.source_addr,
    esm_class: 0x04,
    data_coding: 0,
    short_message: text,
  }, (resp) => emit({ event: 'deliver_sm_resp', id: decimalId, status: resp.command_status }));
}

const server = smpp.createServer((session) => {
  session.on('error', (e) => emit({ event: 'error', message: e.message }));
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      emit({ event: 'bind_refused' });
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    emit({ event: 'bind' });
    session.send(pdu.response({ system_id: 'NpmGateway' }));
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    emit({ event: 'unbind' });
    session.send(pdu.response(), () => session.close());
  });
  session.on('submit_sm', (pdu) => {
    const destination = String(pdu.destination_addr);
    if (destination.endsWith('03')) {
      emit({ event: 'submit_sm', destination, refused: true });
      session.send(pdu.response({ command_status: smpp.ESME_RINVDSTADR }));
      return;
    }
    const id = nextId++;
    const hexId = id.toString(16).toUpperCase();
    const decimalId = String(id);
    emit({
      event: 'submit_sm', destination, message_id: hexId,
      esm_class: pdu.esm_class, data_coding: pdu.data_coding,
      short_message: String((pdu.short_message && pdu.short_message.message) || ''),
      message_payload: pdu.message_payload ? String(pdu.message_payload.message || '') : null,
    });
    if (destination.endsWith('08')) {
      // Written to the socket before the response: the ESME reads the receipt first.
      sendReceipt(session, pdu, decimalId, 'DELIVRD', '000', 'early');
      session.send(pdu.response({ message_id: hexId }));
      return;
    }
    session.send(pdu.response({ message_id: hexId }));
    const [stat, err] = destination.endsWith('01') ? ['UNDELIV', '001'] : ['DELIVRD', '000'];
    setTimeout(() => {
      sendReceipt(session, pdu, decimalId, stat, err, 'after');
      if (destination.endsWith('07')) {
        setTimeout(() => sendReceipt(session, pdu, decimalId, stat, err, 'duplicate'), 50);
      }
    }, 100);
  });
});

server.listen(0, '127.0.0.1', () => emit({ port: server.address().port }));
// Never outlive a test that forgot us.
setTimeout(() => process.exit(2), 120000).unref();
