#!/usr/bin/env node
// Interop driver for the message layers (docs/PEER-LAYERS.md): sender keys in a mixed
// 3-member group, sealed sender v1 and v2 both ways, certificates, fingerprints.
//
//   node driver_layers.js --sotto "<cmd>" --libsignal "<cmd>" [--case a,b] [--members sls]
//                         [--messages 1000] [--seed N]
//
// --sotto and --libsignal are peer commands (run by /bin/sh -c); the libsignal one is
// tests/interop/peer_layers.js. Either may be given twice the same program to pair a
// library with itself. Prints one line per case, then "N passed, M failed"; exit 1 on failure.
'use strict';
const { spawn } = require('child_process');
const crypto = require('crypto');

const REPLY_TIMEOUT_MS = 120000;
class CheckError extends Error {}
const check = (c, m) => { if (!c) throw new CheckError(m); };
const b64 = (u8) => Buffer.from(u8).toString('base64');
const unb64 = (s) => new Uint8Array(Buffer.from(s, 'base64'));
const eq = (a, b) => Buffer.from(a).equals(Buffer.from(b));
// --tamper (self-check of the driver): flip one bit of every ciphertext and envelope in
// transit; every case must then fail.
let TAMPER = false;
const transit = (u8) => { const c = Uint8Array.from(u8); if (TAMPER) c[c.length >> 1] ^= 0x08; return b64(c); };

class Rng {
  constructor(seed) { this.s = seed >>> 0; }
  u32() {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  int(n) { return n <= 1 ? 0 : this.u32() % n; }
  bytes(n) { const o = new Uint8Array(n); for (let i = 0; i < n; i++) o[i] = this.u32() & 0xff; return o; }
  uuid() {
    const h = Buffer.from(this.bytes(16)).toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
  shuffle(a) { for (let i = a.length - 1; i > 0; i--) { const j = this.int(i + 1); [a[i], a[j]] = [a[j], a[i]]; } return a; }
}

class Peer {
  constructor(cmd, label) {
    this.label = label;
    this.proc = spawn('/bin/sh', ['-c', cmd], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.buf = '';
    this.waiting = [];
    this.nextId = 1;
    this.proc.stdout.on('data', (d) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const w = this.waiting.shift();
        if (w) { clearTimeout(w.t); w.resolve(JSON.parse(line)); }
      }
    });
    this.proc.on('exit', () => { for (const w of this.waiting.splice(0)) w.reject(new Error(`${label} exited`)); });
  }
  call(req) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.label}: no reply to ${req.cmd}`)), REPLY_TIMEOUT_MS);
      this.waiting.push({ resolve, reject, t });
      this.proc.stdin.write(JSON.stringify({ id, ...req }) + '\n');
    });
  }
  async ok(req) {
    const r = await this.call(req);
    check(r.ok, `${this.label}: ${req.cmd} failed: ${r.error}`);
    return r;
  }
  close() { this.proc.stdin.end(); }
}

// ---------------------------------------------------------------------------
// Cases. Each gets a fresh set of peers: mk(kind) spawns 's' (sotto) or 'l' (libsignal).

const CASES = {};

// A 3-member group: every member sends `messages` messages, rotating its sender key
// halfway; each receiver gets every other member's messages shuffled (the rotation's
// distribution message arrives before the first message of the new chain, messages of
// the old chain may come after it). Then replays, a forged message and an unknown
// sender are refused.
CASES.group3 = async (mk, rng, opt) => {
  const kinds = opt.members.split('');
  const members = await Promise.all(kinds.map(async (k, i) => {
    const peer = mk(k);
    const name = rng.uuid();
    await peer.ok({ cmd: 'init', name, device: 1 });
    return { peer, name, kind: k, i };
  }));
  const dist = rng.uuid();
  const N = opt.messages, ROT = Math.floor(N / 2);
  // per receiver: the events to deliver, from every other member
  const inbox = members.map(() => []);
  for (const s of members) {
    const skdm1 = (await s.peer.ok({ cmd: 'group_create', distributionId: dist })).skdm;
    const pts = [], cts = [];
    for (let k = 0; k < N; k++) pts.push(rng.bytes(1 + rng.int(200)));
    let skdm2 = null;
    const enc = (k) => s.peer.call({ cmd: 'group_encrypt', distributionId: dist, plaintext: b64(pts[k]) });
    const first = await Promise.all(pts.slice(0, ROT).map((_, k) => enc(k)));
    skdm2 = (await s.peer.ok({ cmd: 'group_create', distributionId: dist, rotate: true })).skdm;
    check(skdm2 !== skdm1, `${s.peer.label}: rotation gave the same distribution message`);
    const second = await Promise.all(pts.slice(ROT).map((_, k) => enc(ROT + k)));
    for (const r of [...first, ...second]) { check(r.ok, `${s.peer.label}: group_encrypt: ${r.error}`); cts.push(unb64(r.ciphertext)); }
    for (const r of members) {
      if (r === s) continue;
      await r.peer.ok({ cmd: 'group_process', peer: s.name, device: 1, skdm: skdm1 });
      const msgs = cts.map((ct, k) => ({ s, k, ct, pt: pts[k], chain: k < ROT ? 1 : 2, skdm2 }));
      inbox[r.i].push(...msgs);
    }
  }
  for (const r of members) {
    const events = rng.shuffle(inbox[r.i]);
    const rotated = new Set();
    const pending = [];
    for (const m of events) {
      if (m.chain === 2 && !rotated.has(m.s.name)) {
        rotated.add(m.s.name);
        pending.push({ m: null, p: r.peer.call({ cmd: 'group_process', peer: m.s.name, device: 1, skdm: m.skdm2 }) });
      }
      pending.push({ m, p: r.peer.call({ cmd: 'group_decrypt', peer: m.s.name, device: 1, ciphertext: transit(m.ct) }) });
    }
    for (const { m, p } of pending) {
      const q = await p;
      check(q.ok, `${r.peer.label} (member ${r.i}) ${m ? `decrypt of ${m.s.peer.label} #${m.k}` : 'rotation'} failed: ${q.error}`);
      if (m) check(eq(unb64(q.plaintext), m.pt), `${r.peer.label}: wrong plaintext for ${m.s.peer.label} #${m.k}`);
    }
    // replays of both chains, a forged message, an unknown sender
    const some = events.filter((_, k) => k % 97 === 0);
    for (const m of some) {
      const q = await r.peer.call({ cmd: 'group_decrypt', peer: m.s.name, device: 1, ciphertext: b64(m.ct) });
      check(!q.ok, `${r.peer.label} accepted a replayed group message`);
    }
    const f = Uint8Array.from(events[0].ct);
    f[f.length - 70] ^= 1;
    check(!(await r.peer.call({ cmd: 'group_decrypt', peer: events[0].s.name, device: 1, ciphertext: b64(f) })).ok,
      `${r.peer.label} accepted a forged group message`);
    check(!(await r.peer.call({ cmd: 'group_decrypt', peer: rng.uuid(), device: 1, ciphertext: b64(events[0].ct) })).ok,
      `${r.peer.label} accepted a group message from an unknown sender`);
  }
  // A second distribution id per sender, used at the same time as the first: 50 more
  // messages on each, all delivered shuffled together.
  const dist2 = rng.uuid();
  const mixed = members.map(() => []);
  for (const s of members) {
    const skdm = (await s.peer.ok({ cmd: 'group_create', distributionId: dist2 })).skdm;
    for (const r of members) if (r !== s) await r.peer.ok({ cmd: 'group_process', peer: s.name, device: 1, skdm });
    for (let k = 0; k < 100; k++) {
      const d = k % 2 ? dist2 : dist;
      const pt = rng.bytes(1 + rng.int(64));
      const ct = unb64((await s.peer.ok({ cmd: 'group_encrypt', distributionId: d, plaintext: b64(pt) })).ciphertext);
      for (const r of members) if (r !== s) mixed[r.i].push({ s, pt, ct });
    }
  }
  for (const r of members) {
    const ps = rng.shuffle(mixed[r.i]).map((m) => ({ m, p: r.peer.call({ cmd: 'group_decrypt', peer: m.s.name, device: 1, ciphertext: transit(m.ct) }) }));
    for (const { m, p } of ps) {
      const q = await p;
      check(q.ok && eq(unb64(q.plaintext), m.pt), `${r.peer.label}: two distributions at once: ${q.error ?? 'wrong plaintext'}`);
    }
  }
  return `${kinds.join('')}: ${members.length} x ${N} messages, rotation at ${ROT}; a second distribution id alongside`;
};

// sotto-peer's init replies a bundle; peer_layers.js replies identityKey.
const identityOf = (r) => (r.bundle ? r.bundle.identityKey : r.identityKey);

async function pki(rng, issuer, subjectKey, { expires = Date.now() + 86400000, signerPrivate } = {}) {
  const root = crypto.generateKeyPairSync('x25519');
  const raw = (k) => k.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
  const server = crypto.generateKeyPairSync('x25519');
  const req = {
    cmd: 'certificate', trustRootPrivate: b64(raw(root.privateKey)), serverPrivate: b64(raw(server.privateKey)),
    serverKeyId: 1 + rng.int(1000), senderUuid: rng.uuid(), senderE164: '+14155550123', senderDevice: 1 + rng.int(127),
    expires, senderKey: subjectKey,
  };
  if (signerPrivate) req.signerPrivate = signerPrivate;
  return { req, ...(await issuer.ok(req)) };
}

const randomPrivate = () => b64(crypto.generateKeyPairSync('x25519').privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32));

async function checkUnsealed(q, want, label) {
  check(q.ok, `${label}: unseal failed: ${q.error}`);
  check(eq(unb64(q.content), want.content), `${label}: wrong content`);
  check(q.msgType === want.msgType, `${label}: msgType ${q.msgType} != ${want.msgType}`);
  check((q.contentHint ?? 0) === (want.contentHint ?? 0), `${label}: contentHint`);
  check((q.groupId ?? null) === (want.groupId ?? null), `${label}: groupId`);
  check(q.senderUuid === want.cert.req.senderUuid && q.senderDevice === want.cert.req.senderDevice &&
        q.senderE164 === want.cert.req.senderE164 && q.senderKey === want.senderKey, `${label}: sender fields`);
}

// v1 both ways; certificates made by either library; refusals on both sides.
CASES.seal1 = async (mk, rng) => {
  const [s, l] = [mk('s'), mk('l')];
  const ids = {};
  ids.s = identityOf(await s.ok({ cmd: 'init', name: rng.uuid() }));
  ids.l = identityOf(await l.ok({ cmd: 'init', name: rng.uuid() }));
  const now = Date.now();
  let n = 0;
  for (const [X, Y, kx, ky] of [[s, l, 's', 'l'], [l, s, 'l', 's']]) {
    for (const issuer of [s, l]) {
      const cert = await pki(rng, issuer, ids[kx]);
      for (const [msgType, hint, groupId] of [[2, 0, null], [3, 1, null], [7, 2, b64(rng.bytes(32))], [8, 0, null]]) {
        const content = rng.bytes(1 + rng.int(300));
        const req = { cmd: 'seal', version: 1, senderCert: cert.senderCert, msgType, content: b64(content), contentHint: hint, recipientKey: ids[ky] };
        if (groupId) req.groupId = groupId;
        const sealed = (await X.ok(req)).sealed;
        check(unb64(sealed)[0] === 0x11, 'v1 envelope does not start with 0x11');
        const q = await Y.call({ cmd: 'unseal', sealed: transit(unb64(sealed)), trustRoot: cert.trustRoot, timestamp: now });
        await checkUnsealed(q, { content, msgType, contentHint: hint, groupId, cert, senderKey: ids[kx] }, `${Y.label} opening ${X.label}'s v1`);
        n++;
      }
      // expired, another trust root, a forged sender certificate, a key that is not the sender's
      const sealWith = async (c) => (await X.ok({ cmd: 'seal', version: 1, senderCert: c.senderCert, msgType: 2, content: b64(rng.bytes(20)), recipientKey: ids[ky] })).sealed;
      const expired = await sealWith(cert);
      check(!(await Y.call({ cmd: 'unseal', sealed: expired, trustRoot: cert.trustRoot, timestamp: cert.req.expires + 1 })).ok,
        `${Y.label} accepted an expired certificate`);
      const other = await pki(rng, issuer, ids[kx]);
      check(!(await Y.call({ cmd: 'unseal', sealed: expired, trustRoot: other.trustRoot, timestamp: now })).ok,
        `${Y.label} accepted a certificate under another trust root`);
      const forged = await pki(rng, issuer, ids[kx], { signerPrivate: randomPrivate() });
      check(!(await Y.call({ cmd: 'unseal', sealed: await sealWith(forged), trustRoot: forged.trustRoot, timestamp: now })).ok,
        `${Y.label} accepted a sender certificate not signed by the server`);
      const liar = await pki(rng, issuer, ids[ky]);
      check(!(await Y.call({ cmd: 'unseal', sealed: await sealWith(liar), trustRoot: liar.trustRoot, timestamp: now })).ok,
        `${Y.label} accepted a certificate whose key is not the sender's`);
      const t = unb64(expired);
      t[t.length - 3] ^= 1;
      check(!(await Y.call({ cmd: 'unseal', sealed: b64(t), trustRoot: cert.trustRoot, timestamp: now })).ok,
        `${Y.label} accepted a tampered v1 envelope`);
    }
  }
  return `${n} envelopes both ways, refusals on both sides`;
};

// v2: sealed by one library for N recipients of the other, fanned out by both libraries
// (byte-identical copies), each recipient opens its own copy and not another's.
CASES.seal2 = async (mk, rng, opt) => {
  const results = [];
  for (const [sk, rk] of [['l', 's'], ['s', 'l']]) {
    for (const N of opt.recipients) {
      const sender = mk(sk);
      const fan = { s: mk('s'), l: mk('l') };
      await fan.s.ok({ cmd: 'init' });
      await fan.l.ok({ cmd: 'init' });
      const sid = (await sender.ok({ cmd: 'init', name: rng.uuid() }));
      const senderKey = identityOf(sid);
      const rcpt = [];
      for (let i = 0; i < N; i++) {
        const peer = mk(rk);
        const serviceId = i % 4 === 3 ? `PNI:${rng.uuid()}` : rng.uuid();
        const r = await peer.ok({ cmd: 'init', name: serviceId, device: 1 + (i % 3) });
        rcpt.push({ peer, serviceId, device: 1 + (i % 3), registrationId: r.bundle ? r.bundle.registrationId : r.registrationId,
          identityKey: identityOf(r), bundle: r.bundle ?? null });
      }
      if (sk === 'l') {
        // libsignal takes each recipient's registration id from a session
        for (const r of rcpt) {
          if (!r.bundle) { const b = (await r.peer.ok({ cmd: 'bundle' })).bundle; r.bundle = b; }
          await sender.ok({ cmd: 'process_bundle', peer: r.serviceId, device: r.device, bundle: r.bundle });
        }
      }
      const cert = await pki(rng, sender, senderKey);
      const content = rng.bytes(50 + rng.int(500));
      const sealed = (await sender.ok({ cmd: 'seal', version: 2, senderCert: cert.senderCert, msgType: 7, content: b64(content),
        contentHint: 1, groupId: b64(rng.bytes(16)),
        recipients: rcpt.map((r) => ({ serviceId: r.serviceId, device: r.device, registrationId: r.registrationId, identityKey: r.identityKey })) })).sealed;
      check(unb64(sealed)[0] === 0x23, 'v2 sent form does not start with 0x23');
      const fs = (await fan.s.ok({ cmd: 'fanout', sealed })).messages;
      const fl = (await fan.l.ok({ cmd: 'fanout', sealed })).messages;
      check(fs.length === N && fl.length === N, `fan-out count: sotto ${fs.length}, libsignal ${fl.length}, want ${N}`);
      const bySid = new Map(fl.map((m) => [m.serviceId.toLowerCase(), m]));
      for (const [i, r] of rcpt.entries()) {
        const a = fs.find((m) => m.serviceId.toLowerCase() === r.serviceId.toLowerCase());
        const b = bySid.get(r.serviceId.toLowerCase());
        check(a && b, `recipient ${r.serviceId} missing from a fan-out`);
        check(a.message === b.message, `sotto and libsignal fan out different copies for ${r.serviceId}`);
        check(a.devices.length === 1 && a.devices[0] === r.device && a.registrationIds[0] === b.registrationIds[0],
          `device list differs for ${r.serviceId}`);
        const q = await r.peer.call({ cmd: 'unseal', sealed: transit(unb64(a.message)), trustRoot: cert.trustRoot, timestamp: Date.now() });
        await checkUnsealed(q, { content, msgType: 7, contentHint: 1, groupId: q.groupId, cert, senderKey }, `${r.peer.label} opening ${sender.label}'s v2 (${N})`);
        if (N > 1) {
          const other = rcpt[(i + 1) % N];
          check(!(await other.peer.call({ cmd: 'unseal', sealed: a.message, trustRoot: cert.trustRoot, timestamp: Date.now() })).ok,
            `${other.peer.label} opened another recipient's copy`);
        }
        check(!(await r.peer.call({ cmd: 'unseal', sealed: a.message, trustRoot: cert.trustRoot, timestamp: cert.req.expires + 1 })).ok,
          `${r.peer.label} accepted an expired certificate (v2)`);
      }
      for (const r of rcpt) r.peer.close();
      fan.s.close(); fan.l.close(); sender.close();
      results.push(`${sk}->${rk} x${N}`);
    }
  }
  return results.join(', ');
};

// Safety numbers: equal digits and scannable bytes from both libraries; each compares
// the other's scannable form: match, mismatch (another key), version mismatch.
CASES.fingerprint = async (mk, rng) => {
  const [s, l] = [mk('s'), mk('l')];
  const ks = identityOf(await s.ok({ cmd: 'init' }));
  const kl = identityOf(await l.ok({ cmd: 'init' }));
  const idS = b64(rng.bytes(17)), idL = b64(rng.bytes(17));
  const fs = await s.ok({ cmd: 'fingerprint', localId: idS, remoteId: idL, remoteKey: TAMPER ? transit(unb64(kl)) : kl });
  const fl = await l.ok({ cmd: 'fingerprint', localId: idL, remoteId: idS, remoteKey: ks });
  check(fs.displayable === fl.displayable && /^\d{60}$/.test(fs.displayable), 'displayable fingerprints differ');
  for (const [X, mine, theirsKey, lid, rid, other] of [[s, fs, kl, idS, idL, fl], [l, fl, ks, idL, idS, fs]]) {
    const cmp = (theirs, extra = {}) => X.ok({ cmd: 'fingerprint_compare', localId: lid, remoteId: rid, remoteKey: theirsKey, theirs, ...extra });
    check((await cmp(other.scannable)).result === 'match', `${X.label}: no match with the other library's scannable form`);
    check((await cmp(mine.scannable)).result === 'mismatch', `${X.label}: its own scannable form matched`);
    check((await cmp(other.scannable, { version: 1 })).result === 'version mismatch', `${X.label}: no version mismatch`);
  }
  // same keys and identifiers in libsignal's fingerprint vs sotto's: byte-identical mirror
  const again = await l.ok({ cmd: 'fingerprint', localId: idS, remoteId: idL, remoteKey: kl, iterations: 1024 });
  check(/^\d{60}$/.test(again.displayable), 'iterations field');
  return 'displayable equal, scannable compared both ways';
};

// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { case: null, members: 'sls', messages: 1000, seed: (Date.now() ^ process.pid) >>> 0, recipients: [1, 2, 10], tamper: false };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--sotto') { o.sotto = v; i++; } else if (a === '--libsignal') { o.libsignal = v; i++; }
    else if (a === '--case') { o.case = v.split(','); i++; } else if (a === '--members') { o.members = v; i++; }
    else if (a === '--messages') { o.messages = Number(v); i++; } else if (a === '--seed') { o.seed = Number(v) >>> 0; i++; }
    else if (a === '--recipients') { o.recipients = v.split(',').map(Number); i++; }
    else if (a === '--tamper') { o.tamper = true; TAMPER = true; }
    else { console.error(`unknown argument ${a}`); process.exit(2); }
  }
  if (!o.sotto || !o.libsignal) { console.error('need --sotto and --libsignal'); process.exit(2); }
  return o;
}

async function main() {
  const opt = parseArgs(process.argv);
  console.log(`seed ${opt.seed}`);
  let pass = 0, failed = 0;
  for (const name of opt.case ?? Object.keys(CASES)) {
    if (!CASES[name]) { console.log(`FAIL ${name}: no such case`); failed++; continue; }
    const peers = [];
    let count = { s: 0, l: 0 };
    const mk = (k) => {
      const p = new Peer(k === 's' ? opt.sotto : opt.libsignal, `${k === 's' ? 'sotto' : 'libsignal'}#${++count[k]}`);
      peers.push(p);
      return p;
    };
    const t0 = Date.now();
    try {
      const what = await CASES[name](mk, new Rng(opt.seed), opt);
      console.log(`PASS ${name} (${what}) ${((Date.now() - t0) / 1000).toFixed(2)}s`);
      pass++;
    } catch (e) {
      console.log(`FAIL ${name}: ${e.message}`);
      failed++;
    } finally {
      for (const p of peers) p.close();
    }
  }
  console.log(`${pass} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main();
