// A carrier (SMSC) written with npm `smpp`, for Herald's session engine to bind to as an ESME.
//
// Usage: node npm_carrier.js SYSTEM_ID PASSWORD
//
// Listens on 127.0.0.1 on a free port and prints {"port": N} as its first stdout line. Then every
// event is one JSON line on stdout, for the Rust test to judge. Scripted by destination:
//   ends in 03  -> submit_sm_resp with command_status 0x0B (ESME_RINVDSTADR), no body
//   ends in 99  -> generic_nack (as if it could not read the submit)
//   otherwise   -> submit_sm_resp with a HEX message id, then a text-only receipt deliver_sm
//                  (esm_class 0x04, no TLVs) carrying that id in DECIMAL, as some carriers do.
// Right after the bind it sends its own enquire_link. It exits when the ESME unbinds.
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

const server = smpp.createServer((session) => {
  session.on('error', (e) => emit({ event: 'error', message: e.message }));
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      emit({ event: 'bind_refused' });
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    emit({ event: 'bind', interface_version: pdu.interface_version });
    session.send(pdu.response({ system_id: 'NpmCarrier' }));
    session.enquire_link({}, (resp) => {
      emit({ event: 'enquire_link_resp', status: resp.command_status });
    });
  });
  session.on('enquire_link', (pdu) => {
    emit({ event: 'enquire_link' });
    session.send(pdu.response());
  });
  session.on('submit_sm', (pdu) => {
    const destination = String(pdu.destination_addr);
    emit({
      event: 'submit_sm',
      destination,
      esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery,
    });
    if (destination.endsWith('03')) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVDSTADR }));
      return;
    }
    if (destination.endsWith('99')) {
      session.send(new smpp.PDU('generic_nack', {
        sequence_number: pdu.sequence_number,
        command_status: smpp.ESME_RINVCMDLEN,
      }));
      return;
    }
    const id = nextId++;
    session.send(pdu.response({ message_id: id.toString(16).toUpperCase() }));
    const now = receiptDate(new Date());
    const text = `id:${id} sub:001 dlvrd:001 submit date:${now} done date:${now} ` +
      'stat:DELIVRD err:000 text:' + String(pdu.short_message.message || '').slice(0, 20);
    setTimeout(() => {
      session.deliver_sm({
        source_addr_ton: pdu.dest_addr_ton,
        source_addr_npi: pdu.dest_addr_npi,
        source_addr: destination,
        dest_addr_ton: pdu.source_addr_ton,
        dest_addr_npi: pdu.source_addr_npi,
        destination_addr: pdu.source_addr,
        esm_class: 0x04,
        data_coding: 0,
        short_message: text,
      }, (resp) => emit({ event: 'deliver_sm_resp', status: resp.command_status }));
    }, 50);
  });
  session.on('unbind', (pdu) => {
    emit({ event: 'unbind' });
    session.send(pdu.response(), () => {
      session.close();
      server.close();
      setTimeout(() => process.exit(0), 50);
    });
  });
});

server.listen(0, '127.0.0.1', () => emit({ port: server.address().port }));
// Never outlive a test that forgot us.
setTimeout(() => process.exit(2), 60000).unref();
