#!/usr/bin/env node
// An SMSC built on an independent SMPP implementation (the npm "smpp" package), for todoke's
// interoperability tests (tests/integration/test_smpp_interop_node.py).
//
//   node smsc.js [--id-format hex|dec] [--throttle-every N] [--receipt-tlv] [--resp-delay MS]
//
// It listens on 127.0.0.1 on a free port and prints "listening <port>". It accepts
// bind_transceiver from system_id "todoke" / password "secret", answers submit_sm with message
// ids in upper-case hex or decimal, answers every Nth submit_sm ESME_RTHROTTLED, and sends one
// delivery receipt per accepted submit_sm. When the ids are hex, the receipt text quotes them
// in zero-padded DECIMAL (as some real SMSCs do), so the client must correlate across forms;
// --receipt-tlv adds receipted_message_id with the id as given. A receipt stays queued until
// a deliver_sm_resp with ESME_ROK; one sent on a link that dies is sent again after the next
// bind, as a real SMSC redelivers.
//
// stdin commands, one a line: "disconnect" destroys every client socket, "mo" sends a two-part
// UCS-2 MO with a concatenation UDH, "stats" prints "stats <json>", "quit" exits.
'use strict';

const readline = require('readline');
const smpp = require('smpp');

const args = process.argv.slice(2);
function option(name, fallback) {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : fallback;
}
const idFormat = option('--id-format', 'hex');
const throttleEvery = parseInt(option('--throttle-every', '0'), 10);
const respDelay = parseInt(option('--resp-delay', '0'), 10);
const receiptTlv = args.includes('--receipt-tlv');

const stats = {
	binds: 0,
	submits: 0,
	accepted: 0,
	throttled: 0,
	invalid: 0,
	udh_parts: 0,
	outstanding: 0,
	max_outstanding: 0,
	receipts_sent: 0,
	receipts_acked: 0,
	receipts_nacked: 0,
	enquire_links: 0,
	unbinds: 0,
	mo_acked: 0,
};
let nextId = idFormat === 'hex' ? 0x3e8a0000 : 1000000000;
const receipts = new Map(); // message id -> {options, session (null while queued)}
const bound = new Set();

function pad(n) {
	return String(n).padStart(2, '0');
}

function smppDate(d) {
	return pad(d.getUTCFullYear() % 100) + pad(d.getUTCMonth() + 1) + pad(d.getUTCDate()) +
		pad(d.getUTCHours()) + pad(d.getUTCMinutes());
}

function receiptOptions(pdu, messageId) {
	const quoted = idFormat === 'hex' ? String(parseInt(messageId, 16)).padStart(10, '0') : messageId;
	const now = smppDate(new Date());
	const text = `id:${quoted} sub:001 dlvrd:001 submit date:${now} done date:${now}` +
		' stat:DELIVRD err:000 text:';
	const options = {
		source_addr_ton: pdu.dest_addr_ton,
		source_addr_npi: pdu.dest_addr_npi,
		source_addr: pdu.destination_addr,
		dest_addr_ton: pdu.source_addr_ton,
		dest_addr_npi: pdu.source_addr_npi,
		destination_addr: pdu.source_addr,
		esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
		data_coding: 0,
		short_message: Buffer.from(text, 'latin1'),
	};
	if (receiptTlv) {
		options.receipted_message_id = messageId;
		options.message_state = smpp.MESSAGE_STATE.DELIVERED;
	}
	return options;
}

function flushReceipts() {
	const sessions = [...bound];
	if (!sessions.length) {
		return;
	}
	let i = 0;
	for (const [id, receipt] of receipts) {
		if (receipt.session) {
			continue;
		}
		const session = sessions[i++ % sessions.length];
		receipt.session = session;
		stats.receipts_sent++;
		session.deliver_sm(Object.assign({}, receipt.options), (resp) => {
			if (resp.command_status === 0) {
				stats.receipts_acked++;
				receipts.delete(id);
			} else {
				stats.receipts_nacked++;
				receipt.session = null;
				setTimeout(flushReceipts, 50);
			}
		});
	}
}

function valid(pdu) {
	// What todoke promises to send: international destination without '+', TON/NPI 1/1,
	// a receipt requested, and a UDH on concatenated parts.
	if (!/^[0-9]{8,15}$/.test(pdu.destination_addr)) return false;
	if (pdu.dest_addr_ton !== 1 || pdu.dest_addr_npi !== 1) return false;
	if (pdu.registered_delivery !== 1) return false;
	if (pdu.esm_class & 0x40) {
		const udh = pdu.short_message && pdu.short_message.udh;
		if (!udh || !udh.length) return false;
		stats.udh_parts++;
	}
	return true;
}

function onSubmit(session, pdu) {
	stats.submits++;
	stats.outstanding++;
	stats.max_outstanding = Math.max(stats.max_outstanding, stats.outstanding);
	const answer = () => {
		stats.outstanding--;
		if (session.socket.destroyed) {
			return;
		}
		if (throttleEvery > 0 && stats.submits % throttleEvery === 0) {
			stats.throttled++;
			session.send(pdu.response({command_status: smpp.ESME_RTHROTTLED}));
			return;
		}
		if (!valid(pdu)) {
			stats.invalid++;
			session.send(pdu.response({command_status: smpp.ESME_RINVDSTADR}));
			return;
		}
		const id = nextId++;
		const messageId = idFormat === 'hex' ? id.toString(16).toUpperCase() : String(id);
		stats.accepted++;
		session.send(pdu.response({message_id: messageId}));
		receipts.set(messageId, {options: receiptOptions(pdu, messageId), session: null});
		setImmediate(flushReceipts);
	};
	if (respDelay > 0) {
		setTimeout(answer, respDelay);
	} else {
		answer();
	}
}

function utf16be(text) {
	return Buffer.from(text, 'utf16le').swap16();
}

function sendMo() {
	const [session] = bound;
	if (!session) {
		return;
	}
	const halves = ['インターオペラ', 'ビリティ確認'];
	halves.forEach((half, i) => {
		const udh = Buffer.from([0x05, 0x00, 0x03, 0x7b, 0x02, i + 1]);
		session.deliver_sm({
			source_addr_ton: 1,
			source_addr_npi: 1,
			source_addr: '819011112222',
			destination_addr: '12345',
			esm_class: 0x40,
			data_coding: 0x08,
			short_message: Buffer.concat([udh, utf16be(half)]),
		}, (resp) => {
			if (resp.command_status === 0) stats.mo_acked++;
		});
	});
}

const server = smpp.createServer((session) => {
	session.on('error', () => {});
	session.on('close', () => {
		bound.delete(session);
		for (const receipt of receipts.values()) {
			if (receipt.session === session) {
				receipt.session = null; // unacknowledged: send again after the next bind
			}
		}
	});
	session.on('bind_transceiver', (pdu) => {
		stats.binds++;
		if (pdu.system_id !== 'todoke' || pdu.password !== 'secret') {
			session.send(pdu.response({command_status: smpp.ESME_RINVPASWD}));
			return;
		}
		session.send(pdu.response({system_id: 'node-smsc'}));
		bound.add(session);
		setImmediate(flushReceipts);
	});
	session.on('submit_sm', (pdu) => onSubmit(session, pdu));
	session.on('enquire_link', (pdu) => {
		stats.enquire_links++;
		session.send(pdu.response());
	});
	session.on('unbind', (pdu) => {
		stats.unbinds++;
		bound.delete(session);
		session.send(pdu.response());
		session.close();
	});
	session.on('unknown', (pdu) => session.send(pdu.response()));
});

server.listen(0, '127.0.0.1', () => {
	console.log(`listening ${server.address().port}`);
});

readline.createInterface({input: process.stdin}).on('line', (line) => {
	const command = line.trim();
	if (command === 'disconnect') {
		for (const session of [...server.sessions]) {
			session.destroy();
		}
	} else if (command === 'mo') {
		sendMo();
	} else if (command === 'stats') {
		console.log(`stats ${JSON.stringify(Object.assign({pending_receipts: receipts.size}, stats))}`);
	} else if (command === 'quit') {
		process.exit(0);
	}
}).on('close', () => process.exit(0));
