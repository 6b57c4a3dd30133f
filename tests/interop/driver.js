#!/usr/bin/env node
// Conformance driver: pairs two peers speaking the peer protocol
// (/work/shared/docs/peer-protocol.md) and runs every case with each side as initiator.
//
//   node driver.js --a "<cmd for peer A>" --b "<cmd for peer B>" [--case NAME[,NAME...]]
//                  [--seed N] [--strict] [--extended] [--quick] [--require-spqr] [--list]
//
// Prints one line per case and role, then "N passed, M failed"; exits 1 on any failure.
// A case needing an optional command (fingerprint, group_*) that a peer answers with
// "unsupported command" is reported SKIP, or FAIL with --strict.
// Requests are pipelined (the protocol is strictly ordered per peer), so a fast peer makes
// a fast run.
'use strict';

const { spawn } = require('child_process');

const REPLY_TIMEOUT_MS = 60000;
// Message counts of the long cases; --quick divides them by 5 (every case still runs).
const SIZES = { pingpong: 1000, oneWay: 5000 };
const QUICK_DIVISOR = 5;
const EXIT_TIMEOUT_MS = 30000;
const DEVICE = 1;

// ---------------------------------------------------------------------------
// Small utilities

class CheckError extends Error {}
// A peer answered "unsupported command" to one of the optional commands: the case is
// reported as SKIP (a failure with --strict).
class SkipError extends Error {}
const OPTIONAL_CMDS = new Set(['fingerprint', 'group_create', 'group_process', 'group_encrypt', 'group_decrypt']);
const UNSUPPORTED_RE = /unsupported command|unknown command/i;

function check(cond, msg) {
  if (!cond) throw new CheckError(msg);
}

const b64 = (u8) => Buffer.from(u8).toString('base64');
const unb64 = (s) => new Uint8Array(Buffer.from(s, 'base64'));
const eqBytes = (a, b) => Buffer.from(a).equals(Buffer.from(b));
const short = (s, n = 160) => (s.length > n ? s.slice(0, n) + '...' : s);

// Deterministic PRNG (mulberry32): the whole message schedule derives from the seed.
class Rng {
  constructor(seed) {
    this.s = seed >>> 0;
  }
  u32() {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  int(n) {
    return n <= 1 ? 0 : this.u32() % n;
  }
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }
  chance(p) {
    return this.u32() / 4294967296 < p;
  }
  bytes(n) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
  shuffle(arr) {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [arr[i], arr[j]] = [arr[j], arr[i]];
    }
    return arr;
  }
  uuid() {
    const h = Buffer.from(this.bytes(16));
    h[6] = (h[6] & 0x0f) | 0x40;
    h[8] = (h[8] & 0x3f) | 0x80;
    const s = h.toString('hex');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  }
  // Plaintext sizes: mostly short, some at the AES block edges, a few large, some empty.
  plaintext() {
    const r = this.int(100);
    let n;
    if (r < 5) n = 0;
    else if (r < 15) n = [15, 16, 17, 31, 32, 33][this.int(6)];
    else if (r < 97) n = this.range(1, 160);
    else n = this.range(1000, 8192);
    return this.bytes(n);
  }
}

// Minimal protobuf walker: top-level fields of buf[start, end).
function protoFields(buf, start, end) {
  const fields = [];
  let i = start;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (i >= end) throw new Error('truncated varint');
      const b = buf[i++];
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
      mul *= 128;
    }
    throw new Error('varint too long');
  };
  while (i < end) {
    const tagStart = i;
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    const valStart = i;
    if (wt === 0) varint();
    else if (wt === 2) {
      const len = varint();
      const dataStart = i;
      i += len;
      if (i > end) throw new Error('truncated field');
      fields.push({ field, wt, tagStart, valStart: dataStart, valEnd: i });
      continue;
    } else if (wt === 1) i += 8;
    else if (wt === 5) i += 4;
    else throw new Error(`wire type ${wt}`);
    fields.push({ field, wt, tagStart, valStart, valEnd: i });
  }
  return fields;
}

const MAC_LEN = 8;
const SIG_LEN = 64;

// Parse a ciphertext into named regions for targeted tampering.
function layout(type, ct) {
  if (type === 2) {
    return { version: 0, fields: protoFields(ct, 1, ct.length - MAC_LEN), macStart: ct.length - MAC_LEN };
  }
  if (type === 3) {
    const fields = protoFields(ct, 1, ct.length);
    const inner = fields.find((f) => f.field === 4);
    check(inner, 'PreKeySignalMessage without a message field');
    return {
      version: 0,
      fields,
      inner: {
        offset: inner.valStart,
        fields: protoFields(ct, inner.valStart + 1, inner.valEnd - MAC_LEN),
        macStart: inner.valEnd - MAC_LEN,
      },
    };
  }
  throw new Error(`type ${type}`);
}

function flipped(ct, pos, mask) {
  const out = Uint8Array.from(ct);
  out[pos] ^= mask;
  return out;
}

// Every tampering we expect any conforming peer to refuse, for a Whisper (2) or a
// PreKey (3) message. PreKey wrapper fields are only authenticated while the receiver
// has no session for that base key yet, so type-3 variants are used on first messages.
// registration_id (PreKey field 5) is not authenticated by the protocol and is skipped.
function tamperings(type, ct) {
  const out = [];
  const add = (what, bytes) => out.push({ what, bytes });
  const L = layout(type, ct);
  const whisperVariants = (prefix, fields, macStart, versionPos, end) => {
    add(`${prefix}version byte ^0x10`, flipped(ct, versionPos, 0x10));
    add(`${prefix}version byte ^0x01`, flipped(ct, versionPos, 0x01));
    add(`${prefix}version byte ^0xf0`, flipped(ct, versionPos, 0xf0));
    for (const f of fields) {
      add(`${prefix}field ${f.field} tag`, flipped(ct, f.tagStart, 0x08));
      const mid = f.valStart + ((f.valEnd - f.valStart) >> 1);
      if (f.wt === 0) add(`${prefix}field ${f.field} varint`, flipped(ct, f.valStart, 0x01));
      else if (f.valEnd > f.valStart) {
        add(`${prefix}field ${f.field} first byte`, flipped(ct, f.valStart, 0x01));
        add(`${prefix}field ${f.field} middle byte`, flipped(ct, mid, 0x80));
        add(`${prefix}field ${f.field} last byte`, flipped(ct, f.valEnd - 1, 0x04));
      }
    }
    add(`${prefix}MAC first byte`, flipped(ct, macStart, 0x01));
    add(`${prefix}MAC last byte`, flipped(ct, end - 1, 0x80));
  };
  if (type === 2) {
    whisperVariants('', L.fields, L.macStart, 0, ct.length);
    add('truncated by one byte', ct.slice(0, ct.length - 1));
    add('MAC removed', ct.slice(0, ct.length - MAC_LEN));
    add('one byte appended', Uint8Array.from([...ct, 0]));
  } else {
    add('prekey version byte ^0x10', flipped(ct, 0, 0x10));
    add('prekey version byte ^0xf0', flipped(ct, 0, 0xf0));
    for (const f of L.fields) {
      if (f.field === 5 || f.field === 4) continue;
      if (f.wt === 0) add(`prekey field ${f.field} varint`, flipped(ct, f.valStart, 0x01));
      else {
        add(`prekey field ${f.field} first byte`, flipped(ct, f.valStart, 0x01));
        add(`prekey field ${f.field} middle byte`, flipped(ct, f.valStart + ((f.valEnd - f.valStart) >> 1), 0x80));
        add(`prekey field ${f.field} last byte`, flipped(ct, f.valEnd - 1, 0x04));
      }
    }
    const inner = L.fields.find((f) => f.field === 4);
    whisperVariants('inner ', L.inner.fields, L.inner.macStart, L.inner.offset, inner.valEnd);
    add('truncated by one byte', ct.slice(0, ct.length - 1));
  }
  return out;
}

// ---------------------------------------------------------------------------
// A peer process

class Peer {
  constructor(label, cmd) {
    this.label = label;
    this.cmd = cmd;
    this.proc = null;
    this.nextId = 1;
  }

  start() {
    this.pending = [];
    this.buf = '';
    this.dead = null;
    const proc = spawn('/bin/sh', ['-c', `exec ${this.cmd}`], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc = proc;
    // Events from a process we already replaced are ignored.
    const mine = (fn) => (...args) => {
      if (this.proc === proc) fn(...args);
    };
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', mine((d) => this.onData(d)));
    proc.stdin.on('error', () => {});
    proc.on('exit', mine((code, sig) => this.onDead(`peer ${this.label} exited (${sig ?? code})`)));
    proc.on('error', mine((e) => this.onDead(`peer ${this.label}: ${e.message}`)));
    this.watch = setInterval(() => {
      if (this.pending.length && Date.now() - this.pending[0].t > REPLY_TIMEOUT_MS) {
        this.onDead(`peer ${this.label}: no reply within ${REPLY_TIMEOUT_MS / 1000}s`);
        proc.kill('SIGKILL');
      }
    }, 1000);
    this.watch.unref();
  }

  onDead(why) {
    if (!this.dead) this.dead = why;
    clearInterval(this.watch);
    for (const p of this.pending.splice(0)) p.reject(new CheckError(this.dead));
  }

  onData(d) {
    const lines = (this.buf + d).split('\n');
    this.buf = lines.pop();
    for (const line of lines) {
      if (this.dead) return;
      const p = this.pending.shift();
      if (!p) {
        this.onDead(`peer ${this.label}: unsolicited output: ${short(line)}`);
        this.proc.kill('SIGKILL');
        return;
      }
      let reply;
      try {
        reply = JSON.parse(line);
      } catch {
        p.reject(new CheckError(`peer ${this.label}: reply is not JSON: ${short(line)}`));
        continue;
      }
      if (typeof reply !== 'object' || reply === null || typeof reply.ok !== 'boolean') {
        p.reject(new CheckError(`peer ${this.label}: reply without boolean "ok": ${short(line)}`));
      } else if (p.id !== undefined && reply.id !== p.id) {
        p.reject(new CheckError(`peer ${this.label}: reply id ${reply.id} for request ${p.id}`));
      } else if (!reply.ok && typeof reply.error !== 'string') {
        p.reject(new CheckError(`peer ${this.label}: failure without an error message`));
      } else if (!reply.ok && p.skippable && UNSUPPORTED_RE.test(reply.error)) {
        p.reject(new SkipError(`peer ${this.label} does not support ${p.cmd}`));
      } else p.resolve(reply);
    }
  }

  // Sends a raw line; the reply is the next line out.
  raw(line, id, cmd = null, skippable = false) {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(new CheckError(this.dead));
      this.pending.push({ resolve, reject, id, cmd, skippable, t: Date.now() });
      this.proc.stdin.write(line + '\n');
    });
  }

  // With noSkip, an "unsupported command" reply is just a refusal.
  call(req, { noSkip = false } = {}) {
    const id = this.nextId++;
    return this.raw(JSON.stringify({ id, ...req }), id, req.cmd, !noSkip && OPTIONAL_CMDS.has(req.cmd));
  }

  async ok(req, what) {
    const r = await this.call(req);
    check(r.ok, `${this.label}: ${what ?? req.cmd} failed: ${r.error}`);
    return r;
  }

  // Closes stdin and waits for the exit. Returns null, or why the exit was not clean
  // (a sanitizer or valgrind report at exit shows up here).
  async stop() {
    if (!this.proc) return null;
    const proc = this.proc;
    this.proc = null;
    clearInterval(this.watch);
    if (this.dead || proc.exitCode !== null || proc.signalCode !== null) return null;
    let timedOut = false;
    const [code, sig] = await new Promise((resolve) => {
      const t = setTimeout(() => {
        timedOut = true;
        proc.kill('SIGKILL');
      }, EXIT_TIMEOUT_MS);
      proc.on('exit', (c, g) => {
        clearTimeout(t);
        resolve([c, g]);
      });
      proc.stdin.end();
    });
    if (timedOut) return `peer ${this.label} did not exit within ${EXIT_TIMEOUT_MS / 1000}s of the end of its input`;
    if (code !== 0) return `peer ${this.label} exited with ${sig ?? `status ${code}`} at the end of its input`;
    return null;
  }
}

// ---------------------------------------------------------------------------
// Conversation helpers. A side is { peer, name } (peer: a Peer).

async function initSide(peer, name, device = DEVICE, registrationId = undefined) {
  const r = await peer.ok({ cmd: 'init', name, device, registrationId }, 'init');
  checkBundle(r.bundle, `${peer.label} init`, true);
  check(r.bundle.deviceId === device, `${peer.label}: bundle deviceId ${r.bundle.deviceId}, init said ${device}`);
  check(registrationId === undefined || r.bundle.registrationId === registrationId,
    `${peer.label}: bundle registrationId ${r.bundle.registrationId}, init said ${registrationId}`);
  return { peer, name, device, bundle: r.bundle, identityKey: r.bundle.identityKey };
}

function checkBundle(b, what, withPreKey) {
  check(b && typeof b === 'object', `${what}: no bundle`);
  for (const f of ['registrationId', 'deviceId', 'signedPreKeyId', 'kyberPreKeyId']) {
    check(Number.isInteger(b[f]), `${what}: bundle.${f} missing`);
  }
  for (const [f, n] of [['identityKey', 33], ['signedPreKey', 33], ['signedPreKeySignature', 64], ['kyberPreKey', 1569], ['kyberPreKeySignature', 64]]) {
    check(typeof b[f] === 'string' && unb64(b[f]).length === n, `${what}: bundle.${f} is not ${n} bytes`);
  }
  check(unb64(b.identityKey)[0] === 0x05 && unb64(b.signedPreKey)[0] === 0x05, `${what}: EC keys must start 0x05`);
  check(unb64(b.kyberPreKey)[0] === 0x08, `${what}: Kyber key must start 0x08`);
  if (withPreKey) {
    check(Number.isInteger(b.preKeyId) && typeof b.preKey === 'string' && unb64(b.preKey).length === 33,
      `${what}: bundle has no one-time prekey`);
  } else {
    check(b.preKeyId === undefined && b.preKey === undefined, `${what}: bundle has a one-time prekey`);
  }
}

// SPQR epoch carried by a message (pq_ratchet: 0x01 || varint epoch || ...), or -1.
function spqrEpoch(type, ct) {
  try {
    let fields = null;
    let buf = ct;
    if (type === 3) {
      const inner = protoFields(ct, 1, ct.length).find((f) => f.field === 4);
      buf = ct.slice(inner.valStart, inner.valEnd);
    }
    fields = protoFields(buf, 1, buf.length - MAC_LEN);
    const pq = fields.find((f) => f.field === 5);
    if (!pq || pq.valEnd - pq.valStart < 2 || buf[pq.valStart] !== 1) return -1;
    let v = 0;
    let mul = 1;
    for (let i = pq.valStart + 1; i < pq.valEnd; i++) {
      v += (buf[i] & 0x7f) * mul;
      if (!(buf[i] & 0x80)) return v;
      mul *= 128;
    }
  } catch {
    // not parseable: no epoch to report
  }
  return -1;
}

// Highest SPQR epoch seen per sender in the current case (reported, not judged: a peer
// that only sends SPQR "None" payloads interoperates without advancing epochs).
let epochs = {};
// --require-spqr: the pingpong case fails unless both sides' SPQR epochs advance (libsignal
// reaches about epoch 12 in 1,000 messages; a None-only peer stays at 1).
let REQUIRE_SPQR = false;
const MIN_SPQR_EPOCH = 2;

// Encrypts plaintexts on `from` for `to`, pipelined.
async function encryptMany(from, to, pts) {
  const replies = await Promise.all(
    pts.map((pt) => from.peer.call({ cmd: 'encrypt', peer: to.name, device: to.device, plaintext: b64(pt) })),
  );
  return replies.map((r, i) => {
    check(r.ok, `${from.peer.label}: encrypt failed: ${r.error}`);
    check(r.type === 2 || r.type === 3, `${from.peer.label}: encrypt returned type ${r.type}`);
    const ct = unb64(r.ciphertext);
    const e = spqrEpoch(r.type, ct);
    if (e > (epochs[from.peer.label] ?? -1)) epochs[from.peer.label] = e;
    return { type: r.type, ct, pt: pts[i], from, to };
  });
}

// Delivers messages (in the given order) and checks every plaintext, pipelined.
async function deliverMany(msgs) {
  const replies = await Promise.all(
    msgs.map((m) => m.to.peer.call({ cmd: 'decrypt', peer: m.from.name, device: m.from.device, type: m.type, ciphertext: b64(m.ct) })),
  );
  replies.forEach((r, i) => {
    const m = msgs[i];
    if (m.expectFail) {
      check(!r.ok, `${m.to.peer.label} accepted ${m.expectFail}`);
      return;
    }
    check(r.ok, `${m.to.peer.label}: decrypt of a genuine type-${m.type} message failed: ${r.error}`);
    check(eqBytes(unb64(r.plaintext), m.pt), `${m.to.peer.label}: wrong plaintext`);
  });
}

async function refuse(to, from, type, bytes, what) {
  const r = await to.peer.call({ cmd: 'decrypt', peer: from.name, device: from.device, type, ciphertext: b64(bytes) });
  check(!r.ok, `${to.peer.label} accepted ${what}`);
  return r;
}

async function establish(x, y, { noPreKey = false } = {}) {
  let bundle = y.bundle;
  if (noPreKey) {
    bundle = (await y.peer.ok({ cmd: 'bundle', noPreKey: true })).bundle;
    checkBundle(bundle, `${y.peer.label} bundle noPreKey`, false);
  } else {
    bundle = (await y.peer.ok({ cmd: 'bundle' })).bundle;
    checkBundle(bundle, `${y.peer.label} bundle`, true);
  }
  await x.peer.ok({ cmd: 'process_bundle', peer: y.name, device: y.device, bundle }, 'process_bundle');
  return bundle;
}

// Strict alternation, one message per turn: the receiver's decrypt and its next encrypt
// go out in one write, so each turn costs one round trip.
async function pingPong(x, y, rng, n) {
  let cur = (await encryptMany(x, y, [rng.plaintext()]))[0];
  for (let i = 0; i < n; i++) {
    const to = cur.to;
    const back = cur.from;
    const last = i === n - 1;
    const pt = last ? null : rng.plaintext();
    const [, enc] = await Promise.all([deliverMany([cur]), last ? null : encryptMany(to, back, [pt])]);
    if (enc) {
      cur = enc[0];
      if (i >= 1) check(cur.type === 2, `${to.peer.label}: type ${cur.type} after the session was confirmed`);
    }
  }
}

function names(rng, uuids) {
  if (uuids) return [rng.uuid(), rng.uuid()];
  return ['alice', 'bob'];
}

// ---------------------------------------------------------------------------
// Cases. Each takes (X, Y, rng): X initiates; both are Peers (already running).

const CASES = {};

CASES.pingpong = async (X, Y, rng) => {
  const [xn, yn] = names(rng);
  const x = await initSide(X, xn);
  const y = await initSide(Y, yn);
  await establish(x, y);
  await pingPong(x, y, rng, SIZES.pingpong);
  if (REQUIRE_SPQR) {
    for (const p of [X, Y]) {
      check((epochs[p.label] ?? -1) >= MIN_SPQR_EPOCH, `${p.label}: SPQR epoch never passed ${epochs[p.label] ?? 'none'} (--require-spqr)`);
    }
  }
};

CASES['one-way'] = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  await establish(x, y);
  const TOTAL = SIZES.oneWay;
  const CHUNK = 250;
  let inflight = null;
  for (let sent = 0; sent < TOTAL; sent += CHUNK) {
    const pts = Array.from({ length: CHUNK }, () => rng.plaintext());
    const msgs = await encryptMany(x, y, pts);
    check(msgs.every((m) => m.type === 3), `${X.label}: unconfirmed session must send PreKey messages`);
    if (inflight) await inflight;
    inflight = deliverMany(msgs);
  }
  await inflight;
  const back = await encryptMany(y, x, [rng.plaintext(), rng.plaintext()]);
  check(back.every((m) => m.type === 2), `${Y.label}: responder must send Whisper messages`);
  await deliverMany(back);
  const fwd = await encryptMany(x, y, [rng.plaintext()]);
  check(fwd[0].type === 2, `${X.label}: type ${fwd[0].type} after the session was confirmed`);
  await deliverMany(fwd);
};

// Both sides send in bursts at the same time; deliveries are shuffled, some messages are
// held back a round or two, some are dropped for good. Mixed in: Whisper messages with a
// random byte changed, replays of earlier rounds, and session save/reload between rounds.
CASES.shuffle = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  await establish(x, y);
  const ROUNDS = 30;
  let held = { [X.label]: [], [Y.label]: [] };
  let yStarted = false;
  let delivered = 0;
  let dropped = 0;
  let past = [];
  let injected = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const fromX = await encryptMany(x, y, Array.from({ length: rng.range(1, 25) }, () => rng.plaintext()));
    const fromY = yStarted ? await encryptMany(y, x, Array.from({ length: rng.range(1, 25) }, () => rng.plaintext())) : [];
    const toY = [];
    const toX = [];
    const sort = (msgs, now) => {
      msgs.forEach((m, i) => {
        const mustDeliver = !yStarted && m.to === y && i === 0;
        if (!mustDeliver && rng.chance(0.08)) dropped++;
        else if (!mustDeliver && round < ROUNDS - 2 && rng.chance(0.1)) held[m.to.peer.label].push({ m, until: round + rng.range(1, 2) });
        else now.push(m);
      });
    };
    sort(fromX, toY);
    sort(fromY, toX);
    for (const [lbl, list] of [[Y.label, toY], [X.label, toX]]) {
      held[lbl] = held[lbl].filter((h) => (h.until <= round ? (list.push(h.m), false) : true));
    }
    const genuine = [...toY, ...toX];
    for (const [list, side] of [[toY, y], [toX, x]]) {
      for (const m of list.slice()) {
        if (m.type === 2 && rng.chance(0.05)) {
          const pos = rng.int(m.ct.length);
          list.push({ ...m, ct: flipped(m.ct, pos, 1 + rng.int(255)), expectFail: `a Whisper message with byte ${pos} changed` });
          injected++;
        }
      }
      for (const m of past) {
        if (m.to === side && rng.chance(0.02)) {
          list.push({ ...m, expectFail: `a replayed type-${m.type} message` });
          injected++;
        }
      }
    }
    rng.shuffle(toY);
    rng.shuffle(toX);
    await Promise.all([deliverMany(toY), deliverMany(toX)]);
    delivered += genuine.length;
    past = past.concat(genuine).slice(-200);
    if (toY.length) yStarted = true;
    if (rng.chance(0.25)) await saveLoad(x, y, `shuffle round ${round}`);
    if (yStarted && rng.chance(0.25)) await saveLoad(y, x, `shuffle round ${round}`);
  }
  check(held[X.label].length === 0 && held[Y.label].length === 0, 'driver: messages left held back');
  check(delivered > 0 && dropped > 0 && injected > 0, 'driver: schedule delivered, dropped or injected nothing');
  // The session still works both ways after all that.
  await pingPong(x, y, rng, 4);
};

async function tamperAll(to, from, msg, label) {
  const variants = tamperings(msg.type, msg.ct);
  // Wrong message type for the same bytes.
  variants.push({ what: 'wrong type', bytes: msg.ct, type: msg.type === 2 ? 3 : 2 });
  variants.push({ what: 'empty ciphertext', bytes: new Uint8Array(0) });
  const replies = await Promise.all(
    variants.map((v) =>
      to.peer.call({ cmd: 'decrypt', peer: from.name, device: from.device, type: v.type ?? msg.type, ciphertext: b64(v.bytes) }),
    ),
  );
  replies.forEach((r, i) => {
    check(!r.ok, `${to.peer.label} accepted a tampered ${label} (${variants[i].what})`);
    if (process.env.INTEROP_DEBUG) process.stderr.write(`  ${to.peer.label} refused ${label} (${variants[i].what}): ${r.error}\n`);
  });
  return variants.length;
}

CASES.tamper = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  await establish(x, y);
  // First PreKey message: every authenticated part of the wrapper matters.
  const [first, second] = await encryptMany(x, y, [rng.plaintext(), rng.plaintext()]);
  check(first.type === 3, 'first message must be a PreKey message');
  await tamperAll(y, x, first, 'first PreKey message');
  await deliverMany([first]);
  await refuse(y, x, 3, first.ct, 'a replayed PreKey message');
  await deliverMany([second]);
  // Whisper messages, both directions, at several points in the conversation.
  for (let round = 0; round < 3; round++) {
    for (const [from, to] of [[y, x], [x, y]]) {
      const [m, n] = await encryptMany(from, to, [rng.plaintext(), rng.plaintext()]);
      check(m.type === 2, `${from.peer.label}: expected a Whisper message`);
      await tamperAll(to, from, m, 'Whisper message');
      await deliverMany([n, m]);
      await refuse(to, from, 2, m.ct, 'a replayed Whisper message');
      await refuse(to, from, 2, n.ct, 'a replayed Whisper message');
    }
    await pingPong(x, y, rng, rng.range(1, 4));
  }
  await pingPong(x, y, rng, 6);
};

CASES['no-prekey'] = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  // Every bundle carries fresh one-time keys.
  const b1 = (await Y.ok({ cmd: 'bundle' })).bundle;
  const b2 = (await Y.ok({ cmd: 'bundle' })).bundle;
  for (const b of [y.bundle, b1]) {
    check(b.preKeyId !== b2.preKeyId && b.preKey !== b2.preKey, `${Y.label}: bundle reused a one-time EC prekey`);
    check(b.kyberPreKeyId !== b2.kyberPreKeyId && b.kyberPreKey !== b2.kyberPreKey, `${Y.label}: bundle reused a one-time Kyber prekey`);
  }
  const nb = await establish(x, y, { noPreKey: true });
  const msgs = await encryptMany(x, y, [rng.plaintext(), rng.plaintext(), rng.plaintext()]);
  const f = protoFields(msgs[0].ct, 1, msgs[0].ct.length);
  check(msgs[0].type === 3 && !f.some((q) => q.field === 1), 'PreKey message without a one-time prekey carries pre_key_id');
  // The wrapper names the sender's registration id and the bundle's signed and Kyber prekeys.
  const varint = (n) => {
    const q = f.find((g) => g.field === n && g.wt === 0);
    check(q, `PreKey message without field ${n}`);
    let v = 0;
    for (let i = q.valEnd - 1; i >= q.valStart; i--) v = v * 128 + (msgs[0].ct[i] & 0x7f);
    return v;
  };
  check(varint(5) === x.bundle.registrationId, `${X.label}: PreKey message registration_id ${varint(5)}, bundle says ${x.bundle.registrationId}`);
  check(varint(6) === nb.signedPreKeyId && varint(7) === nb.kyberPreKeyId, `${X.label}: PreKey message names the wrong prekeys`);
  await tamperAll(y, x, msgs[0], 'first PreKey message (no one-time prekey)');
  await deliverMany(rng.shuffle(msgs));
  await pingPong(x, y, rng, 20);
};

async function saveLoad(side, other, what) {
  const s = await side.peer.ok({ cmd: 'save_session', peer: other.name, device: other.device }, `save_session (${what})`);
  check(typeof s.session === 'string' && s.session.length > 0, `${side.peer.label}: save_session returned nothing`);
  await side.peer.ok({ cmd: 'load_session', peer: other.name, device: other.device, session: s.session }, `load_session (${what})`);
  return s.session;
}

CASES['save-load'] = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  const r0 = await X.call({ cmd: 'save_session', peer: y.name, device: y.device });
  check(!r0.ok, `${X.label}: save_session without a session succeeded`);
  await establish(x, y);
  // Initiator with a pending (unconfirmed) PreKey state.
  const early = await encryptMany(x, y, [rng.plaintext(), rng.plaintext(), rng.plaintext()]);
  await saveLoad(x, y, 'pending prekey state');
  const early2 = await encryptMany(x, y, [rng.plaintext()]);
  check(early2[0].type === 3, `${X.label}: reloaded session lost its pending prekey`);
  await deliverMany([early[1]]);
  await saveLoad(y, x, 'responder with skipped keys');
  await deliverMany([early2[0], early[0], early[2]]);
  // Mid-conversation, with skipped message keys held on both sides.
  for (let round = 0; round < 6; round++) {
    const a = await encryptMany(x, y, Array.from({ length: 5 }, () => rng.plaintext()));
    const b = await encryptMany(y, x, Array.from({ length: 5 }, () => rng.plaintext()));
    await deliverMany([a[4], a[1]]);
    await deliverMany([b[3], b[0]]);
    await saveLoad(x, y, 'mid-conversation');
    await saveLoad(y, x, 'mid-conversation');
    await deliverMany([a[0], a[2], a[3]]);
    await deliverMany([b[4], b[2], b[1]]);
    await pingPong(x, y, rng, rng.range(1, 3));
  }
  // A bad record is refused and leaves the session as it was.
  const good = await X.ok({ cmd: 'save_session', peer: y.name, device: y.device });
  const junk = unb64(good.session).slice(0, 7);
  for (const bad of [b64(junk), b64(new Uint8Array([1, 2, 3])), 'not base64!']) {
    const r = await X.call({ cmd: 'load_session', peer: y.name, device: y.device, session: bad });
    check(!r.ok, `${X.label}: load_session accepted a bad record`);
  }
  await pingPong(x, y, rng, 10);
};

CASES.signatures = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  for (const [s, v] of [[x, y], [y, x]]) {
    for (const len of [0, 1, 32, 33, 100, 1569, 10000]) {
      const msg = rng.bytes(len);
      const sig = unb64((await s.peer.ok({ cmd: 'sign', message: b64(msg) })).signature);
      check(sig.length === SIG_LEN, `${s.peer.label}: signature is ${sig.length} bytes`);
      const verify = (key, m, g) => v.peer.call({ cmd: 'verify', key, message: b64(m), signature: b64(g) });
      const good = await verify(s.identityKey, msg, sig);
      check(good.ok && good.valid === true, `${v.peer.label} rejected a good signature from ${s.peer.label} (len ${len})`);
      const self = await s.peer.ok({ cmd: 'verify', key: s.identityKey, message: b64(msg), signature: b64(sig) });
      check(self.valid === true, `${s.peer.label} rejected its own signature`);
      const bad = [];
      for (const [pos, mask] of [[0, 1], [31, 0x80], [32, 1], [62, 1], [63, 0x80], [63, 0x40]]) bad.push(['sig', flipped(sig, pos, mask)]);
      if (len > 0) bad.push(['msg', flipped(msg, len - 1, 1)]);
      bad.push(['msg', Uint8Array.from([...msg, 0])]);
      for (const [kind, val] of bad) {
        const r = await (kind === 'sig' ? verify(s.identityKey, msg, val) : verify(s.identityKey, val, sig));
        check(r.ok && r.valid === false, `${v.peer.label} accepted a bad signature (${kind} tampered, len ${len})`);
      }
      const wrongKey = await verify(v.identityKey, msg, sig);
      check(wrongKey.ok && wrongKey.valid === false, `${v.peer.label} accepted a signature under the wrong key`);
      const shortSig = await verify(s.identityKey, msg, sig.slice(0, 63));
      check(!shortSig.ok || shortSig.valid === false, `${v.peer.label} accepted a 63-byte signature`);
    }
  }
};

// Both process each other's bundle and send first; the conversation must converge.
CASES.simultaneous = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  await establish(x, y);
  await establish(y, x);
  const fromX = await encryptMany(x, y, [rng.plaintext(), rng.plaintext()]);
  const fromY = await encryptMany(y, x, [rng.plaintext(), rng.plaintext()]);
  check([...fromX, ...fromY].every((m) => m.type === 3), 'simultaneous: first messages must be PreKey messages');
  await Promise.all([deliverMany(fromX), deliverMany(fromY)]);
  // Both keep talking, sometimes at the same time, until each uses the other's session.
  for (let round = 0; round < 8; round++) {
    const a = await encryptMany(x, y, [rng.plaintext()]);
    const b = rng.chance(0.5) ? await encryptMany(y, x, [rng.plaintext()]) : [];
    await deliverMany(a);
    await deliverMany(b);
  }
  await pingPong(x, y, rng, 10);
  const tail = [...(await encryptMany(x, y, [rng.plaintext()])), ...(await encryptMany(y, x, [rng.plaintext()]))];
  check(tail.every((m) => m.type === 2), 'simultaneous: conversation did not converge on one session');
  await deliverMany(tail);
};

function mentionsIdentity(r) {
  return !r.ok && /identity/i.test(r.error);
}

CASES['identity-change'] = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  let y = await initSide(Y, 'bob');
  await establish(x, y);
  await pingPong(x, y, rng, 4);
  // Y comes back under the same name with a new identity.
  const oldKey = y.identityKey;
  y = await initSide(Y, 'bob');
  check(y.identityKey !== oldKey, `${Y.label}: init did not make a new identity`);
  const nb = (await Y.ok({ cmd: 'bundle' })).bundle;
  const r1 = await X.call({ cmd: 'process_bundle', peer: y.name, device: y.device, bundle: nb });
  check(mentionsIdentity(r1), `${X.label}: process_bundle with a changed identity: ${r1.ok ? 'accepted' : r1.error}`);
  // The new Y starts a session itself; X must refuse its first message the same way.
  const xb = (await X.ok({ cmd: 'bundle' })).bundle;
  await Y.ok({ cmd: 'process_bundle', peer: x.name, device: x.device, bundle: xb });
  const [m] = await encryptMany(y, x, [rng.plaintext()]);
  const r2 = await refuse(x, y, m.type, m.ct, 'a message from a changed identity');
  check(mentionsIdentity(r2), `${X.label}: decrypt from a changed identity: ${r2.error}`);
  // The refusal changed nothing: the old session still encrypts.
  await X.ok({ cmd: 'encrypt', peer: y.name, device: y.device, plaintext: b64(rng.plaintext()) });
};

CASES.group = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  for (const [s, r] of [[x, y], [y, x]]) {
    const dist = rng.uuid();
    const skdm = (await s.peer.ok({ cmd: 'group_create', distributionId: dist })).skdm;
    await r.peer.ok({ cmd: 'group_process', peer: s.name, device: s.device, skdm }, 'group_process');
    const pts = Array.from({ length: 200 }, () => rng.plaintext());
    const replies = await Promise.all(pts.map((pt) => s.peer.call({ cmd: 'group_encrypt', distributionId: dist, plaintext: b64(pt) })));
    const msgs = replies.map((q, i) => {
      check(q.ok, `${s.peer.label}: group_encrypt failed: ${q.error}`);
      return { ct: unb64(q.ciphertext), pt: pts[i] };
    });
    check(msgs[0].ct[0] === 0x33, `${s.peer.label}: SenderKeyMessage version byte ${msgs[0].ct[0]}`);
    // Tampering: version, each protobuf field, the signature.
    const ct = msgs[0].ct;
    const bad = [flipped(ct, 0, 0x10), flipped(ct, 0, 0x01), flipped(ct, ct.length - 1, 0x01), flipped(ct, ct.length - SIG_LEN, 0x01), ct.slice(0, ct.length - 1)];
    for (const f of protoFields(ct, 1, ct.length - SIG_LEN)) {
      bad.push(flipped(ct, f.tagStart, 0x08));
      bad.push(flipped(ct, f.wt === 0 ? f.valStart : f.valStart + ((f.valEnd - f.valStart) >> 1), 0x01));
    }
    const dec = (c) => r.peer.call({ cmd: 'group_decrypt', peer: s.name, device: s.device, ciphertext: b64(c) });
    for (const [i, q] of (await Promise.all(bad.map(dec))).entries()) check(!q.ok, `${r.peer.label} accepted tampered SenderKeyMessage #${i}`);
    // Shuffled delivery with drops; replays refused.
    const order = rng.shuffle(msgs.map((_, i) => i)).filter(() => !rng.chance(0.05));
    const out = await Promise.all(order.map((i) => dec(msgs[i].ct)));
    out.forEach((q, k) => {
      check(q.ok, `${r.peer.label}: group_decrypt failed: ${q.error}`);
      check(eqBytes(unb64(q.plaintext), msgs[order[k]].pt), `${r.peer.label}: wrong group plaintext`);
    });
    const replay = await dec(msgs[order[0]].ct);
    check(!replay.ok, `${r.peer.label} accepted a replayed SenderKeyMessage`);
    // Unknown sender.
    const unknown = await r.peer.call({ cmd: 'group_decrypt', peer: 'nobody', device: DEVICE, ciphertext: b64(ct) });
    check(!unknown.ok, `${r.peer.label} decrypted a group message from an unknown sender`);
  }
};

CASES.fingerprint = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  const xid = rng.bytes(16);
  const yid = new TextEncoder().encode('+14155550123');
  for (const extra of [{}, { iterations: 1024 }, { version: 1 }]) {
    const fx = await X.ok({ cmd: 'fingerprint', localId: b64(xid), remoteId: b64(yid), remoteKey: y.identityKey, ...extra });
    const fy = await Y.ok({ cmd: 'fingerprint', localId: b64(yid), remoteId: b64(xid), remoteKey: x.identityKey, ...extra });
    check(/^[0-9]{60}$/.test(fx.displayable), `${X.label}: displayable is not 60 digits`);
    check(fx.displayable === fy.displayable, `safety numbers differ: ${fx.displayable} vs ${fy.displayable}`);
    const parse = (s) => {
      const buf = unb64(s);
      const top = protoFields(buf, 0, buf.length);
      const sub = (n) => {
        const f = top.find((q) => q.field === n);
        check(f, `scannable fingerprint without field ${n}`);
        const inner = protoFields(buf, f.valStart, f.valEnd).find((q) => q.field === 1);
        check(inner, `scannable fingerprint field ${n} without content`);
        return b64(buf.slice(inner.valStart, inner.valEnd));
      };
      const v = top.find((q) => q.field === 1 && q.wt === 0);
      check(v && buf[v.valStart] === (extra.version ?? 2), `scannable fingerprint version is not ${extra.version ?? 2}`);
      return { local: sub(2), remote: sub(3) };
    };
    const sx = parse(fx.scannable);
    const sy = parse(fy.scannable);
    check(sx.local === sy.remote && sx.remote === sy.local, 'scannable fingerprints do not mirror each other');
    const other = await Y.ok({ cmd: 'fingerprint', localId: b64(yid), remoteId: b64(xid), remoteKey: y.identityKey, ...extra });
    check(other.displayable !== fx.displayable, 'safety number ignores the remote key');
  }
};

// The Double Ratchet's limits, at their exact edges (libsignal 0.103 behaviour):
// 2,000 stored skipped keys (the oldest go first) and 5 receiver chains.
const MAX_SKIPPED_KEYS = 2000;
const MAX_RECEIVER_CHAINS = 5;
const MAX_FORWARD_JUMP = 25000;

async function decryptResults(to, from, msgs) {
  return Promise.all(msgs.map((m) => to.peer.call({ cmd: 'decrypt', peer: from.name, device: from.device, type: m.type, ciphertext: b64(m.ct) })));
}

CASES.limits = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  await establish(x, y);
  await pingPong(x, y, rng, 2);
  // Skipped keys: deliver the last of 2,002 first; exactly the oldest one is gone.
  // (A sample of the others is delivered: each decrypt carries 2,000 stored keys.)
  const N = MAX_SKIPPED_KEYS + 2;
  const msgs = await encryptMany(x, y, Array.from({ length: N }, () => rng.bytes(rng.range(0, 20))));
  await deliverMany([msgs[N - 1]]);
  const [evicted] = await decryptResults(y, x, [msgs[0]]);
  check(!evicted.ok, `${Y.label} kept more than ${MAX_SKIPPED_KEYS} skipped message keys`);
  const sample = [1, 2, N - 2, N - 3, ...Array.from({ length: 40 }, () => rng.range(3, N - 4))];
  await deliverMany(rng.shuffle([...new Set(sample)].map((i) => msgs[i])));
  // Receiver chains: a message from the 5th newest chain decrypts, from the 6th not.
  for (const turns of [MAX_RECEIVER_CHAINS - 1, MAX_RECEIVER_CHAINS]) {
    const [old, cur] = await encryptMany(x, y, [rng.plaintext(), rng.plaintext()]);
    await deliverMany([cur]);
    for (let i = 0; i < turns; i++) {
      await deliverMany(await encryptMany(y, x, [rng.plaintext()]));
      await deliverMany(await encryptMany(x, y, [rng.plaintext()]));
    }
    if (turns < MAX_RECEIVER_CHAINS) await deliverMany([old]);
    else {
      const [r] = await decryptResults(y, x, [old]);
      check(!r.ok, `${Y.label} kept more than ${MAX_RECEIVER_CHAINS} receiver chains`);
    }
  }
  await pingPong(x, y, rng, 4);
};

// Forward jumps: skipping 24,999 messages is fine, skipping 25,000 is refused (and
// changes nothing: the refused message decrypts once it is no longer that far ahead).
CASES['far-jump'] = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  await establish(x, y);
  await pingPong(x, y, rng, 2);
  const CHUNK = 1000;
  const tail = [];
  for (let sent = 0; sent <= MAX_FORWARD_JUMP; sent += CHUNK) {
    const n = Math.min(CHUNK, MAX_FORWARD_JUMP + 1 - sent);
    const ms = await encryptMany(x, y, Array.from({ length: n }, () => rng.bytes(1)));
    if (sent + n > MAX_FORWARD_JUMP - 2) tail.push(...ms);
  }
  const tooFar = tail[tail.length - 1]; // counter 25000 on a chain at 0
  const [r] = await decryptResults(y, x, [tooFar]);
  check(!r.ok, `${Y.label} accepted a jump of ${MAX_FORWARD_JUMP} messages`);
  await deliverMany([tail[tail.length - 2], tooFar]);
  await pingPong(x, y, rng, 3);
};

// X holds sessions with two peers at once (a second instance of Y's command) and with
// two devices of one of them; traffic to all interleaves and nothing crosses over.
CASES['multi-session'] = async (X, Y, rng) => {
  const Y2 = new Peer(`${Y.label}'`, Y.cmd);
  const Y3 = new Peer(`${Y.label}"`, Y.cmd);
  Y2.start();
  Y3.start();
  try {
    const x = await initSide(X, 'alice');
    const ys = [await initSide(Y, 'bob', 1), await initSide(Y2, 'carol', 1), await initSide(Y3, 'bob', 2)];
    for (const y of ys) await establish(x, y);
    for (let round = 0; round < 6; round++) {
      const out = [];
      for (const y of ys) out.push(...(await encryptMany(x, y, Array.from({ length: rng.range(1, 6) }, () => rng.plaintext()))));
      const back = [];
      for (const y of ys) if (round > 0) back.push(...(await encryptMany(y, x, Array.from({ length: rng.range(1, 6) }, () => rng.plaintext()))));
      await Promise.all([deliverMany(rng.shuffle(out)), deliverMany(rng.shuffle(back))]);
      // A message for one session never decrypts in another.
      const [m] = await encryptMany(x, ys[0], [rng.plaintext()]);
      const wrong = await ys[1].peer.call({ cmd: 'decrypt', peer: x.name, device: x.device, type: m.type, ciphertext: b64(m.ct) });
      check(!wrong.ok, `${ys[1].peer.label} decrypted a message meant for ${ys[0].peer.label}`);
      const wrongDev = await ys[2].peer.call({ cmd: 'decrypt', peer: x.name, device: x.device, type: m.type, ciphertext: b64(m.ct) });
      check(!wrongDev.ok, `${ys[2].peer.label} (device 2) decrypted a message meant for device 1`);
      await deliverMany([m]);
    }
  } finally {
    const ends = (await Promise.all([Y2.stop(), Y3.stop()])).filter(Boolean);
    check(ends.length === 0, ends.join('; '));
  }
};

// X starts a new session over an existing one (fresh bundle, same identities) while
// messages of the old session are still in flight both ways: those still decrypt (from
// the archived state), and the conversation moves to the new session.
CASES['session-reset'] = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  await establish(x, y);
  await pingPong(x, y, rng, 3);
  for (let reset = 0; reset < 4; reset++) {
    const oldFromX = await encryptMany(x, y, [rng.plaintext(), rng.plaintext()]);
    const oldFromY = await encryptMany(y, x, [rng.plaintext(), rng.plaintext()]);
    await establish(x, y);
    const fresh = await encryptMany(x, y, [rng.plaintext(), rng.plaintext()]);
    check(fresh.every((m) => m.type === 3), `${X.label}: a new session must start with PreKey messages`);
    await deliverMany([fresh[0], oldFromX[1]]);
    await deliverMany([oldFromY[0]]);
    await deliverMany([oldFromX[0], fresh[1]]);
    await deliverMany([oldFromY[1]]);
    const reply = await encryptMany(y, x, [rng.plaintext()]);
    await deliverMany(reply);
    await pingPong(x, y, rng, rng.range(2, 5));
  }
};

// One-time prekeys (EC and Kyber) serve one session: a second initiator with the same
// bundle is refused, and the refusal leaves the first session working.
CASES['prekey-reuse'] = async (X, Y, rng) => {
  const X2 = new Peer(`${X.label}'`, X.cmd);
  X2.start();
  try {
    const y = await initSide(Y, 'bob');
    const withEc = (await Y.ok({ cmd: 'bundle' })).bundle;
    const kyberOnly = (await Y.ok({ cmd: 'bundle', noPreKey: true })).bundle;
    for (const [what, b, n1, n2] of [['one-time EC and Kyber prekeys', withEc, 'alice', 'carol'],
      ['a one-time Kyber prekey', kyberOnly, 'dave', 'erin']]) {
      const first = await initSide(X, n1);
      await X.ok({ cmd: 'process_bundle', peer: y.name, device: y.device, bundle: b }, 'process_bundle');
      const m1 = await encryptMany(first, y, [rng.plaintext(), rng.plaintext()]);
      await deliverMany([m1[0]]);
      const again = await initSide(X2, n2);
      await X2.ok({ cmd: 'process_bundle', peer: y.name, device: y.device, bundle: b }, 'process_bundle');
      const [m2] = await encryptMany(again, y, [rng.plaintext()]);
      await refuse(y, again, m2.type, m2.ct, `a second session on ${what}`);
      await deliverMany([m1[1]]);
      await pingPong(first, y, rng, 3);
    }
  } finally {
    const end = await X2.stop();
    check(!end, end);
  }
};

// A last-resort Kyber prekey serves several sessions.
CASES['last-resort-kyber'] = async (X, Y, rng) => {
  const y = await initSide(Y, 'bob');
  const b1 = (await Y.ok({ cmd: 'bundle', lastResortKyber: true })).bundle;
  const b2 = (await Y.ok({ cmd: 'bundle', lastResortKyber: true, noPreKey: true })).bundle;
  checkBundle(b1, `${Y.label} bundle lastResortKyber`, true);
  checkBundle(b2, `${Y.label} bundle lastResortKyber noPreKey`, false);
  check(b1.kyberPreKeyId === b2.kyberPreKeyId && b1.kyberPreKey === b2.kyberPreKey,
    `${Y.label}: the last-resort Kyber prekey changed between bundles`);
  const b3 = (await Y.ok({ cmd: 'bundle', lastResortKyber: true })).bundle;
  check(b3.kyberPreKey === b1.kyberPreKey && b3.preKeyId !== b1.preKeyId, `${Y.label}: third last-resort bundle`);
  for (const [name, b] of [['alice', b1], ['carol', b2], ['dave', b3]]) {
    const x = await initSide(X, name);
    await X.ok({ cmd: 'process_bundle', peer: y.name, device: y.device, bundle: b }, 'process_bundle');
    const msgs = await encryptMany(x, y, [rng.plaintext(), rng.plaintext()]);
    await deliverMany(rng.shuffle(msgs));
    await pingPong(x, y, rng, 3);
  }
};

// UUID names: libsignal then carries sender and recipient addresses (with device ids)
// inside the first messages. Devices other than 1, too.
CASES['service-ids'] = async (X, Y, rng) => {
  const [xn, yn] = names(rng, true);
  const x = await initSide(X, xn, 2, 16380);
  const y = await initSide(Y, yn, 127, 1);
  await establish(x, y);
  await pingPong(x, y, rng, 20);
};

CASES.robustness = async (X, Y, rng) => {
  const x = await initSide(X, 'alice');
  const y = await initSide(Y, 'bob');
  for (const p of [X, Y]) {
    for (const line of ['garbage', '{"id":', '[]', '"str"', '42', '{}', '{"cmd":null}']) {
      const r = await p.raw(line);
      check(!r.ok, `${p.label} accepted ${JSON.stringify(line)}`);
    }
    const id = 424242;
    const r = await p.raw(JSON.stringify({ id, cmd: 'no_such_command' }), id);
    check(!r.ok, `${p.label} accepted an unknown command`);
  }
  const bad = [
    // Signed by someone else: refused, and that identity must not be trusted on first use
    // (first of the bundles, before any carries Y's own identity).
    { cmd: 'process_bundle', peer: y.name, device: y.device, bundle: { ...y.bundle, identityKey: x.identityKey } },
    { cmd: 'encrypt', peer: y.name, device: y.device, plaintext: b64(rng.plaintext()) }, // no session yet
    { cmd: 'encrypt', peer: y.name, device: y.device },
    { cmd: 'process_bundle', peer: y.name, device: y.device },
    { cmd: 'process_bundle', peer: y.name, device: y.device, bundle: { ...y.bundle, signedPreKeySignature: b64(rng.bytes(64)) } },
    { cmd: 'process_bundle', peer: y.name, device: y.device, bundle: { ...y.bundle, kyberPreKeySignature: b64(rng.bytes(64)) } },
    { cmd: 'process_bundle', peer: y.name, device: y.device, bundle: { ...y.bundle, identityKey: 'AAAA' } },
    { cmd: 'process_bundle', peer: y.name, device: y.device, bundle: { ...y.bundle, kyberPreKey: b64(rng.bytes(1569)) } },
    { cmd: 'decrypt', peer: y.name, device: y.device, type: 2, ciphertext: b64(rng.bytes(100)) },
    { cmd: 'decrypt', peer: y.name, device: y.device, type: 3, ciphertext: b64(rng.bytes(100)) },
    { cmd: 'decrypt', peer: y.name, device: y.device, type: 2, ciphertext: '!!!' },
    { cmd: 'verify', key: 'AAAA', message: '', signature: b64(rng.bytes(64)) },
    { cmd: 'group_process', peer: y.name, device: y.device, skdm: b64(rng.bytes(80)) },
    { cmd: 'group_encrypt', distributionId: 'not-a-uuid', plaintext: '' },
    { cmd: 'group_decrypt', peer: y.name, device: y.device, ciphertext: b64(rng.bytes(120)) },
    { cmd: 'fingerprint', localId: '', remoteId: '', remoteKey: 'AAAA' },
  ];
  const replies = await Promise.all(bad.map((q) => X.call(q, { noSkip: true })));
  replies.forEach((r, i) => check(!r.ok, `${X.label} accepted a bad request: ${short(JSON.stringify(bad[i]), 100)}`));
  // Still alive and with no half-made state: a normal session works.
  await establish(x, y);
  await pingPong(x, y, rng, 6);
};

// far-jump makes the sender encrypt 25,001 messages (about 10 s of CPU for libsignal), so
// it runs only with --extended or by name.
const EXTENDED_CASES = ['far-jump'];
const CASE_ORDER = ['pingpong', 'one-way', 'shuffle', 'tamper', 'no-prekey', 'save-load', 'signatures',
  'simultaneous', 'identity-change', 'limits', 'multi-session', 'session-reset', 'prekey-reuse', 'last-resort-kyber', 'group', 'fingerprint', 'service-ids', 'robustness'];

// ---------------------------------------------------------------------------
// Main

function parseArgs(argv) {
  const o = { cases: null, seed: null, list: false, strict: false, extended: false, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--a') o.a = val();
    else if (a === '--b') o.b = val();
    else if (a === '--case') o.cases = val().split(',').filter(Boolean);
    else if (a === '--seed') {
      o.seed = Number(val());
      if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw new Error('--seed needs an integer in [0, 2^32)');
    }
    else if (a === '--list') o.list = true;
    else if (a === '--strict') o.strict = true;
    else if (a === '--extended') o.extended = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--require-spqr') REQUIRE_SPQR = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

function hashSeed(seed, str) {
  let h = seed >>> 0;
  for (const c of str) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`driver: ${e.message}\nusage: node driver.js --a CMD --b CMD [--case NAME[,NAME]] [--seed N] [--strict] [--extended] [--quick] [--require-spqr] [--list]\n`);
    process.exit(2);
  }
  if (opts.list) {
    console.log([...CASE_ORDER, ...EXTENDED_CASES.map((c) => `${c} (--extended)`)].join('\n'));
    return;
  }
  if (!opts.a || !opts.b) {
    process.stderr.write('driver: --a and --b are required\n');
    process.exit(2);
  }
  if (opts.quick) {
    for (const k of Object.keys(SIZES)) SIZES[k] /= QUICK_DIVISOR;
  }
  const cases = opts.cases ?? (opts.extended ? [...CASE_ORDER, ...EXTENDED_CASES] : CASE_ORDER);
  for (const c of cases) {
    if (!CASES[c]) {
      process.stderr.write(`driver: unknown case ${c} (try --list)\n`);
      process.exit(2);
    }
  }
  const seed = Number.isInteger(opts.seed) ? opts.seed >>> 0 : (Math.random() * 4294967296) >>> 0;
  console.log(`seed ${seed}  (rerun with --seed ${seed})`);
  console.log(`A: ${opts.a}`);
  console.log(`B: ${opts.b}`);
  if (opts.quick) console.log(`quick: pingpong ${SIZES.pingpong}, one-way ${SIZES.oneWay} messages`);

  const A = new Peer('A', opts.a);
  const B = new Peer('B', opts.b);
  A.start();
  B.start();
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const t0 = Date.now();
  for (const name of cases) {
    for (const [X, Y] of [[A, B], [B, A]]) {
      if (A.dead) {
        await A.stop();
        A.start();
      }
      if (B.dead) {
        await B.stop();
        B.start();
      }
      const rng = new Rng(hashSeed(seed, `${name}/${X.label}`));
      const t = Date.now();
      epochs = {};
      let err = null;
      try {
        await CASES[name](X, Y, rng);
      } catch (e) {
        err = e;
      }
      const secs = ((Date.now() - t) / 1000).toFixed(2);
      const tag = `${name} [${X.label} initiates]`;
      if (!err) {
        passed++;
        const ep = Object.keys(epochs).sort().map((k) => `${k} ${epochs[k]}`).join(', ');
        console.log(`PASS ${tag} ${secs}s${ep ? ` (max SPQR epoch sent: ${ep})` : ''}`);
      } else if (err instanceof SkipError && !opts.strict) {
        skipped++;
        console.log(`SKIP ${tag}: ${err.message}`);
      } else {
        failed++;
        const msg = err instanceof CheckError ? err.message : err && err.stack ? err.stack : String(err);
        console.log(`FAIL ${tag} ${secs}s: ${msg}`);
        // A peer that answered out of step cannot be trusted for the next case.
        for (const p of [A, B]) {
          if (!p.dead && p.pending.length) {
            p.onDead('restarted after a failed case');
            p.proc.kill('SIGKILL');
          }
        }
      }
    }
  }
  for (const why of await Promise.all([A.stop(), B.stop()])) {
    if (why) {
      failed++;
      console.log(`FAIL exit: ${why}`);
    }
  }
  console.log(`total ${((Date.now() - t0) / 1000).toFixed(2)}s`);
  if (skipped) console.log(`${skipped} skipped (a peer lacks an optional command; --strict fails them)`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

// Every promise that matters is awaited; one left behind by a failed Promise.all is not news.
process.on('unhandledRejection', () => {});

main().catch((e) => {
  process.stderr.write(`driver: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
