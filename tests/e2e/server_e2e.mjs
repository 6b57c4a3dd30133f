// End-to-end test of sottod over real TLS connections (Node 20, no packages).
// Usage: node server_e2e.mjs PATH/TO/sottod
// Starts sottod on a free loopback port with a temp data dir, pins the printed
// certificate fingerprint, and drives registration, keys, bundles, messages
// (offline, WebSocket push + ack, HTTP fetch + ack), a SIGTERM restart that
// must keep queued envelopes, and malformed / oversized input.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// Real keys and XEdDSA signatures from the pinned libsignal (tests/interop).
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const SignalClient = require(path.join(here, '..', 'interop', 'node_modules', '@signalapp', 'libsignal-client'));

const SOTTOD = process.argv[2];
if (!SOTTOD) { console.error('usage: server_e2e.mjs SOTTOD'); process.exit(2); }
const STEP_TIMEOUT_MS = 20000;
let passed = 0, failed = 0;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

function withTimeout(p, what, ms = STEP_TIMEOUT_MS) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

// ---- the server process ----
class Server {
  constructor(dir, port) { this.dir = dir; this.port = port; this.stderr = ''; }
  start() {
    return withTimeout(new Promise((resolve, reject) => {
      this.proc = spawn(SOTTOD, ['--data', this.dir, '--listen', `127.0.0.1:${this.port}`],
                        { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      this.proc.stderr.on('data', d => { this.stderr += d; });
      this.proc.stdout.on('data', d => {
        out += d;
        const m = out.match(/fingerprint ([0-9a-f]{64})/);
        if (m && out.includes('listening on')) { this.fingerprint = m[1]; resolve(); }
      });
      this.exited = new Promise(res => this.proc.on('exit', (code, sig) => res({ code, sig })));
      this.proc.on('error', reject);
      this.exited.then(r => reject(new Error(`sottod exited early ${JSON.stringify(r)}: ${this.stderr}`)));
    }), 'server start');
  }
  async stop() {
    this.proc.kill('SIGTERM');
    return withTimeout(this.exited, 'server exit');
  }
}

// ---- a pinned TLS connection with a byte buffer ----
class Conn {
  constructor(srv, { localAddress } = {}) {
    this.srv = srv; this.buf = Buffer.alloc(0); this.closed = false; this.waiters = [];
    this.localAddress = localAddress;
  }
  open() {
    return withTimeout(new Promise((resolve, reject) => {
      this.sock = tls.connect({ host: '127.0.0.1', port: this.srv.port, rejectUnauthorized: false,
                                minVersion: 'TLSv1.3', servername: 'localhost',
                                ...(this.localAddress ? { localAddress: this.localAddress } : {}) }, () => {
        const fp = this.sock.getPeerCertificate().fingerprint256.replace(/:/g, '').toLowerCase();
        if (fp !== this.srv.fingerprint) { this.sock.destroy(); reject(new Error('fingerprint mismatch')); return; }
        if (this.sock.getProtocol() !== 'TLSv1.3') { reject(new Error('not TLS 1.3')); return; }
        resolve(this);
      });
      this.sock.on('data', d => { this.buf = Buffer.concat([this.buf, d]); this.wake(); });
      this.sock.on('close', () => { this.closed = true; this.wake(); });
      this.sock.on('error', () => { this.closed = true; this.wake(); });
    }), 'tls connect');
  }
  wake() { const w = this.waiters; this.waiters = []; w.forEach(f => f()); }
  waitFor(pred, what) {
    return withTimeout(new Promise((resolve, reject) => {
      const check = () => {
        let r;
        try { r = pred(); } catch (e) { reject(e); return; }
        if (r !== undefined) resolve(r);
        else if (this.closed) reject(new Error(`connection closed while waiting for ${what}`));
        else this.waiters.push(check);
      };
      check();
    }), what);
  }
  write(b) { this.sock.write(b); }
  take(n) { const b = this.buf.subarray(0, n); this.buf = this.buf.subarray(n); return b; }
  // One HTTP response: {status, headers, body}
  readResponse() {
    return this.waitFor(() => {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const head = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = parseInt(head[0].split(' ')[1], 10);
      const headers = {};
      for (const l of head.slice(1)) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
      const len = parseInt(headers['content-length'] || '0', 10);
      if (this.buf.length < end + 4 + len) return undefined;
      this.take(end + 4);
      const body = this.take(len).toString('utf8');
      return { status, headers, body, json: () => JSON.parse(body) };
    }, 'http response');
  }
  async request(method, p, { body, auth, headers = {} } = {}) {
    const b = body === undefined ? Buffer.alloc(0) : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    let h = `${method} ${p} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${b.length}\r\n`;
    if (auth) h += `Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n`;
    for (const [k, v] of Object.entries(headers)) h += `${k}: ${v}\r\n`;
    this.write(Buffer.concat([Buffer.from(h + '\r\n'), b]));
    return this.readResponse();
  }
  waitClosed(what = 'close') { return this.waitFor(() => (this.closed ? true : undefined), what).catch(e => { if (this.closed) return true; throw e; }); }
  end() { this.sock.destroy(); }
}

async function http(srv, method, p, opts) {
  const c = await new Conn(srv).open();
  try { return await c.request(method, p, opts); } finally { c.end(); }
}

// ---- WebSocket (client side: masked frames out, plain frames in) ----
function wsFrame(opcode, payload, { mask = true, fin = true } = {}) {
  const p = Buffer.from(payload);
  const len = p.length;
  const hdr = [];
  hdr.push((fin ? 0x80 : 0) | opcode);
  const m = mask ? 0x80 : 0;
  if (len < 126) hdr.push(m | len);
  else if (len < 65536) hdr.push(m | 126, len >> 8, len & 255);
  else { hdr.push(m | 127, 0, 0, 0, 0, (len >>> 24) & 255, (len >> 16) & 255, (len >> 8) & 255, len & 255); }
  if (!mask) return Buffer.concat([Buffer.from(hdr), p]);
  const key = crypto.randomBytes(4);
  const out = Buffer.from(p);
  for (let i = 0; i < out.length; i++) out[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(hdr), key, out]);
}

class WS {
  constructor(conn) { this.c = conn; }
  static async open(srv, auth, protocol) {
    const c = await new Conn(srv).open();
    const key = crypto.randomBytes(16).toString('base64');
    c.write(`GET /v1/websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
            (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
            `Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n\r\n`);
    const head = await c.waitFor(() => {
      const end = c.buf.indexOf('\r\n\r\n');
      return end < 0 ? undefined : c.take(end + 4).toString('latin1');
    }, 'ws handshake');
    assert.match(head, /^HTTP\/1\.1 101 /);
    const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    assert.ok(head.includes(`Sec-WebSocket-Accept: ${accept}`), `Sec-WebSocket-Accept: want ${accept} for ${key}, got ${head}`);
    return new WS(c);
  }
  next(what = 'ws frame') {
    const c = this.c;
    return c.waitFor(() => {
      const b = c.buf;
      if (b.length < 2) return undefined;
      let len = b[1] & 127, off = 2;
      if (len === 126) { if (b.length < 4) return undefined; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return undefined; len = Number(b.readBigUInt64BE(2)); off = 10; }
      if (b.length < off + len) return undefined;
      const opcode = b[0] & 15;
      c.take(off);
      const payload = c.take(len);
      if (opcode === 8) return { opcode, code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() };
      return { opcode, bytes: Buffer.from(payload), text: payload.toString('utf8'), json: () => JSON.parse(payload.toString('utf8')) };
    }, what);
  }
  async nextJson(what) {
    for (;;) {
      const f = await this.next(what);
      if (f.opcode === 1) return f.json();
      if (f.opcode === 8) throw new Error(`closed ${f.code} ${f.reason} while waiting for ${what}`);
    }
  }
  send(obj) { this.c.write(wsFrame(1, JSON.stringify(obj))); }
  close() { this.c.end(); }
}

// ---- test data ----
const b64 = b => Buffer.from(b).toString('base64');
const ecKey = () => b64(SignalClient.PrivateKey.generate().getPublicKey().serialize());
const kemKey = () => b64(SignalClient.KEMKeyPair.generate().getPublicKey().serialize());
function signedEc(ik, keyId) {
  const pub = Buffer.from(SignalClient.PrivateKey.generate().getPublicKey().serialize());
  return { keyId, publicKey: b64(pub), signature: b64(ik.sign(pub)) };
}
function signedKem(ik, keyId) {
  const pub = Buffer.from(SignalClient.KEMKeyPair.generate().getPublicKey().serialize());
  return { keyId, publicKey: b64(pub), signature: b64(ik.sign(pub)) };
}
function registration(username, secret, ik = SignalClient.PrivateKey.generate()) {
  return { username, secret, registrationId: 1 + crypto.randomInt(16000),
           identityKey: b64(ik.getPublicKey().serialize()),
           signedPreKey: signedEc(ik, 1), pqLastResortPreKey: signedKem(ik, 1000) };
}

// Links a new device to the account behind byAuth (identity key ik); its id.
async function linkDeviceOn(srv, byAuth, secret, ik) {
  let r = await http(srv, 'POST', '/v1/devices/link', { auth: byAuth });
  assert.equal(r.status, 200, r.body);
  r = await http(srv, 'POST', '/v1/devices', { body: { token: r.json().token, secret,
    registrationId: 1 + crypto.randomInt(16000), signedPreKey: signedEc(ik, 1),
    pqLastResortPreKey: signedKem(ik, 2) } });
  assert.equal(r.status, 200, r.body);
  return r.json().deviceId;
}

async function step(name, fn) {
  try { await fn(); passed++; console.log(`ok - ${name}`); }
  catch (e) { failed++; console.log(`not ok - ${name}: ${e.stack || e}`); }
}

// ---- the scenario ----
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sottod-e2e-'));
fs.writeFileSync(path.join(dir, 'sottod.conf'), '# e2e\nregister_burst = 4\nregister_per_hour = 1\nlog_level = debug\nheader_timeout_ms = 1500\nmax_connections = 40\n');
const port = await freePort();
let srv = new Server(dir, port);
const alice = { name: 'alice', secret: 'alice-secret-0123456789-abcdefghij' };
const bob = { name: 'bob', secret: 'bob-secret-0123456789abc-abcdefghi' };
const authOf = u => `${u.name}.1:${u.secret}`;
let firstId, liveId;
const content1 = crypto.randomBytes(300), content2 = crypto.randomBytes(40), content3 = crypto.randomBytes(5000);

try {
  await srv.start();
  const fp1 = srv.fingerprint;
  await step('key file is private, certificate is pinned', async () => {
    assert.equal(fs.statSync(path.join(dir, 'sottod.key')).mode & 0o777, 0o600);
    const r = await http(srv, 'GET', '/health');
    assert.equal(r.status, 200);
  });

  await step('a registration whose prekey signature fails is refused (400)', async () => {
    const reg = registration('mallory', 'mallory-secret-0123456-abcdefghijk');
    reg.signedPreKey.signature = b64(crypto.randomBytes(64));
    const r = await http(srv, 'POST', '/v1/accounts', { body: reg });
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /signature/);
  });

  await step('register two accounts', async () => {
    for (const u of [alice, bob]) {
      u.ik = SignalClient.PrivateKey.generate();
      const r = await http(srv, 'POST', '/v1/accounts', { body: registration(u.name, u.secret, u.ik) });
      assert.equal(r.status, 200, r.body);
      const j = r.json();
      assert.match(j.uuid, /^[0-9a-f-]{36}$/);
      assert.equal(j.deviceId, 1);
      u.uuid = j.uuid;
    }
    const dup = await http(srv, 'POST', '/v1/accounts', { body: registration('alice', 'another-secret-0123456-abcdefghijkl') });
    assert.equal(dup.status, 409);
  });

  await step('registration is rate limited per address (429)', async () => {
    const r = await http(srv, 'POST', '/v1/accounts', { body: registration('carol', 'carol-secret-0123456789-abcdefghij') });
    assert.equal(r.status, 429, r.body);
  });

  await step('upload and count keys (keep-alive, cached auth)', async () => {
    const c = await new Conn(srv).open();
    const preKeys = [1, 2, 3].map(i => ({ keyId: i, publicKey: ecKey() }));
    const pqPreKeys = [11, 12].map(i => signedKem(bob.ik, i));
    const forged = signedKem(alice.ik, 13); // signed by the wrong identity
    let r = await c.request('PUT', '/v1/keys', { auth: authOf(bob), body: { preKeys, pqPreKeys: [...pqPreKeys, forged] } });
    assert.equal(r.status, 400, r.body);
    r = await c.request('PUT', '/v1/keys', { auth: authOf(bob), body: { preKeys, pqPreKeys } });
    assert.equal(r.status, 204, r.body);
    r = await c.request('GET', '/v1/keys', { auth: authOf(bob) });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { count: 3, pqCount: 2 });
    r = await c.request('GET', '/v1/keys', {});
    assert.equal(r.status, 401);
    c.end();
  });

  await step('fetch a bundle consumes one-time keys', async () => {
    const r = await http(srv, 'GET', '/v1/keys/bob/*', { auth: authOf(alice) });
    assert.equal(r.status, 200, r.body);
    const j = r.json();
    assert.equal(j.uuid, bob.uuid);
    assert.equal(j.devices.length, 1);
    const d = j.devices[0];
    assert.equal(d.deviceId, 1);
    assert.ok(d.preKey && d.preKey.publicKey, 'one-time EC prekey');
    assert.equal(Buffer.from(d.pqPreKey.publicKey, 'base64').length, 1569);
    assert.equal(d.pqPreKey.lastResort, false);
    const n = await http(srv, 'GET', '/v1/keys', { auth: authOf(bob) });
    assert.deepEqual(n.json(), { count: 2, pqCount: 1 });
    const missing = await http(srv, 'GET', '/v1/keys/nobody/*', { auth: authOf(alice) });
    assert.equal(missing.status, 404);
  });

  await step('device mismatch is refused with 409 and nothing is stored', async () => {
    const r = await http(srv, 'PUT', '/v1/messages/bob', { auth: authOf(alice),
      body: { messages: [{ destinationDeviceId: 1, type: 1, content: b64(content1) },
                         { destinationDeviceId: 2, type: 1, content: b64(content1) }] } });
    assert.equal(r.status, 409, r.body);
    assert.deepEqual(r.json(), { missingDevices: [], extraDevices: [2] });
    const f = await http(srv, 'GET', '/v1/messages', { auth: authOf(bob) });
    assert.equal(f.json().messages.length, 0);
  });

  await step('send while the recipient is offline', async () => {
    const r = await http(srv, 'PUT', '/v1/messages/bob', { auth: authOf(alice),
      body: { messages: [{ destinationDeviceId: 1, type: 3, content: b64(content1) }] } });
    assert.equal(r.status, 200, r.body);
  });

  await step('WebSocket delivers the queued envelope, then a live one; ack deletes', async () => {
    const ws = await WS.open(srv, authOf(bob));
    let m = await ws.nextJson('queued envelope');
    assert.equal(m.type, 'envelope');
    assert.equal(Buffer.from(m.envelope.content, 'base64').compare(content1), 0);
    assert.equal(m.envelope.type, 3);
    assert.equal(m.envelope.sourceUuid, alice.uuid);
    assert.equal(m.envelope.sourceDevice, 1);
    firstId = m.envelope.id;
    m = await ws.nextJson('queue_empty');
    assert.equal(m.type, 'queue_empty');
    ws.send({ type: 'ack', ids: [firstId] });
    // A live message is pushed to the open socket after its commit.
    const r = await http(srv, 'PUT', `/v1/messages/${bob.uuid}`, { auth: authOf(alice),
      body: { messages: [{ destinationDeviceId: 1, type: 1, content: b64(content2) }] } });
    assert.equal(r.status, 200, r.body);
    m = await ws.nextJson('live envelope');
    assert.equal(Buffer.from(m.envelope.content, 'base64').compare(content2), 0);
    liveId = m.envelope.id;
    ws.close(); // not acked: must survive
    // the acked one is gone, the live one is still queued
    const f = await http(srv, 'GET', '/v1/messages', { auth: authOf(bob) });
    const ids = f.json().messages.map(e => e.id);
    assert.deepEqual(ids, [liveId]);
  });

  await step('70 more queued envelopes arrive in order, 64 unacked at most', async () => {
    const c = await new Conn(srv).open();
    const sentBodies = [];
    for (let i = 0; i < 70; i++) {
      const body = Buffer.from(`message ${i}`);
      sentBodies.push(body.toString());
      const r = await c.request('PUT', '/v1/messages/bob', { auth: authOf(alice),
        body: { messages: [{ destinationDeviceId: 1, type: 1, content: b64(body) }] } });
      assert.equal(r.status, 200, r.body);
    }
    c.end();
    const ws = await WS.open(srv, authOf(bob));
    const got = [];
    const first = [];
    for (let i = 0; i < 64; i++) first.push(await ws.nextJson('windowed envelope'));
    // the window is full: nothing more until an ack (queue_empty comes only after the rest)
    await new Promise(r => setTimeout(r, 300));
    assert.equal(ws.c.buf.length, 0, 'pushed past the window');
    const more = ws.nextJson('after ack');
    // the unacked envelope from before (liveId) comes first, then these 70
    assert.equal(first[0].envelope.id, liveId);
    ws.send({ type: 'ack', ids: first.map(m => m.envelope.id).slice(1, 11) });
    const rest = [await more];
    while (first.length + rest.length < 71) rest.push(await ws.nextJson('rest'));
    for (const m of [...first, ...rest]) got.push(Buffer.from(m.envelope.content, 'base64').toString());
    assert.deepEqual(got.slice(1), sentBodies);
    assert.equal((await ws.nextJson('queue_empty after backlog')).type, 'queue_empty');
    const all = [...first, ...rest].map(m => m.envelope.id).slice(1);
    ws.send({ type: 'ack', ids: all.slice(10) });
    await new Promise(r => setTimeout(r, 300));
    ws.close();
    const f = await http(srv, 'GET', '/v1/messages', { auth: authOf(bob) });
    assert.deepEqual(f.json().messages.map(e => e.id), [liveId]);
  });

  await step('WebSocket "send": answered by id after the commit, in order; errors under the id', async () => {
    const wa = await WS.open(srv, authOf(alice));
    assert.equal((await wa.nextJson('alice queue_empty')).type, 'queue_empty');
    const bodies = [];
    for (let i = 0; i < 20; i++) {
      const body = Buffer.from(`ws send ${i}`);
      bodies.push(body.toString());
      wa.send({ type: 'send', id: 1000 + i, to: i % 2 ? 'bob' : bob.uuid,
                messages: [{ destinationDeviceId: 1, type: 1, content: b64(body) }] });
    }
    wa.send({ type: 'send', id: 7, to: 'bob', messages: [{ destinationDeviceId: 1, type: 1, content: b64(content1) },
                                                           { destinationDeviceId: 3, type: 1, content: b64(content1) }] });
    wa.send({ type: 'send', id: 8, to: 'nobody-here', messages: [{ destinationDeviceId: 1, type: 1, content: b64(content1) }] });
    wa.send({ type: 'send', id: 9, to: 'bob', messages: [] });
    const answers = [];
    while (answers.length < 23) answers.push(await wa.nextJson('sent'));
    const byId = Object.fromEntries(answers.map(a => [a.id, a]));
    for (const a of answers) assert.equal(a.type, 'sent');
    // the 20 good ones in submission order, all 200
    assert.deepEqual(answers.filter(a => a.id >= 1000).map(a => [a.id, a.status]),
                     bodies.map((_, i) => [1000 + i, 200]));
    assert.equal(byId[7].status, 409);
    assert.deepEqual(byId[7].extraDevices, [3]);
    assert.deepEqual(byId[7].missingDevices, []);
    assert.equal(byId[8].status, 404);
    assert.equal(byId[9].status, 400);
    assert.match(byId[9].error, /messages/);
    // the socket stays usable, and bob gets the 20 in order with alice as sender
    const wb = await WS.open(srv, authOf(bob));
    const got = [];
    for (;;) {
      const m = await wb.nextJson('bob envelopes');
      if (m.type === 'queue_empty') break;
      got.push(m.envelope);
    }
    const texts = got.map(e => Buffer.from(e.content, 'base64').toString()).filter(t => t.startsWith('ws send'));
    assert.deepEqual(texts, bodies);
    assert.ok(got.filter(e => e.id !== liveId).every(e => e.sourceUuid === alice.uuid));
    wb.send({ type: 'ack', ids: got.filter(e => e.id !== liveId).map(e => e.id) });
    // a send without an id cannot be answered: protocol error, closed
    wa.send({ type: 'send', to: 'bob', messages: [] });
    let f;
    do { f = await wa.next('close 1002'); } while (f.opcode !== 8);
    assert.equal(f.code, 1002);
    await new Promise(r => setTimeout(r, 300));
    wa.close();
    wb.close();
    const left = await http(srv, 'GET', '/v1/messages', { auth: authOf(bob) });
    assert.deepEqual(left.json().messages.map(e => e.id), [liveId]);
  });

  let ws2;
  let drainedOk = [];
  await step('SIGTERM drains: sends in flight answered, then close 1001, exit code 0', async () => {
    const r = await http(srv, 'PUT', '/v1/messages/bob', { auth: authOf(alice),
      body: { messages: [{ destinationDeviceId: 1, type: 1, content: b64(content3) }] } });
    assert.equal(r.status, 200, r.body);
    ws2 = await WS.open(srv, authOf(alice));
    const e = await ws2.nextJson('alice queue_empty');
    assert.equal(e.type, 'queue_empty');
    // Sends racing the signal: each is answered before the close (200 and
    // committed, or 503 and not), or, if it came after the close, not
    // committed at all. The restart step checks bob's queue against this.
    for (let i = 0; i < 30; i++)
      ws2.send({ type: 'send', id: i, to: 'bob',
                 messages: [{ destinationDeviceId: 1, type: 1, content: b64(Buffer.from(`drain ${i}`)) }] });
    const ex = await srv.stop();
    if (process.env.E2E_DEBUG) console.log(srv.stderr.split('\n').slice(-40).join('\n'));
    const answers = new Map();
    let f;
    for (;;) {
      f = await ws2.next('answers, then the close frame');
      if (f.opcode === 8) break;
      if (f.opcode !== 1) continue;
      const m = f.json();
      assert.equal(m.type, 'sent');
      assert.ok(!answers.has(m.id), `send ${m.id} answered twice`);
      assert.ok(m.status === 200 || m.status === 503, `send ${m.id}: ${m.status}`);
      answers.set(m.id, m.status);
    }
    assert.equal(f.code, 1001);
    assert.deepEqual(ex, { code: 0, sig: null });
    drainedOk = [...answers].filter(([, st]) => st === 200).map(([id]) => id).sort((a, b) => a - b);
  });

  await step('restart resumes the queue (same certificate)', async () => {
    srv = new Server(dir, port);
    await srv.start();
    assert.equal(srv.fingerprint, fp1);
    // The queue-depth gauge starts from what the database holds.
    const depth = async () =>
      Number(/^sottod_queue_depth_total (\d+)$/m.exec((await http(srv, 'GET', '/metrics')).body)[1]);
    const d0 = await depth();
    assert.ok(d0 >= 2, `queue depth after restart ${d0}`);
    const c = await new Conn(srv).open();
    const f = await c.request('GET', '/v1/messages', { auth: authOf(bob) });
    assert.equal(f.status, 200);
    const msgs = f.json().messages;
    assert.deepEqual(msgs.map(e => e.id).slice(0, 1), [liveId]);
    assert.equal(Buffer.from(msgs[1].content, 'base64').compare(content3), 0);
    // exactly the drained sends answered 200, in order, and nothing else
    assert.deepEqual(msgs.slice(2).map(e => Buffer.from(e.content, 'base64').toString()),
                     drainedOk.map(i => `drain ${i}`));
    for (const e of msgs) {
      const d = await c.request('DELETE', `/v1/messages/${e.id}`, { auth: authOf(bob) });
      assert.equal(d.status, 204);
    }
    const g = await c.request('GET', '/v1/messages', { auth: authOf(bob) });
    assert.equal(g.json().messages.length, 0);
    assert.equal(await depth(), d0 - msgs.length);
    c.end();
  });

  // ---- malformed and oversized input ----
  const raw = async (bytes, what) => {
    const c = await new Conn(srv).open();
    c.write(bytes);
    const r = await c.readResponse();
    await c.waitClosed(what);
    return r;
  };
  await step('garbage request line: 400 and closed', async () => {
    assert.equal((await raw('GARBAGE\r\n\r\n', '400')).status, 400);
  });
  await step('HTTP/2 preface-ish version: 505', async () => {
    assert.equal((await raw('GET / HTTP/2.0\r\nHost: x\r\n\r\n', '505')).status, 505);
  });
  await step('oversized header: 431 and closed', async () => {
    assert.equal((await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`, '431')).status, 431);
  });
  await step('oversized body before auth: 413 without reading it', async () => {
    assert.equal((await raw('POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n', '413')).status, 413);
  });
  await step('oversized body after auth: 413', async () => {
    const h = `PUT /v1/messages/bob HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${b64(authOf(alice))}\r\nContent-Length: 999999999\r\n\r\n`;
    assert.equal((await raw(h, '413 authed')).status, 413);
  });
  await step('chunked body: 411', async () => {
    assert.equal((await raw('POST /v1/accounts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', '411')).status, 411);
  });
  await step('bad credentials: 401 and closed', async () => {
    const h = `GET /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${b64('bob.1:wrong-secret-0123456789')}\r\n\r\n`;
    assert.equal((await raw(h, '401')).status, 401);
  });
  await step('envelope too large: 413', async () => {
    const r = await http(srv, 'PUT', '/v1/messages/bob', { auth: authOf(alice),
      body: { messages: [{ destinationDeviceId: 1, type: 1, content: b64(crypto.randomBytes(200 * 1024)) }] } });
    assert.equal(r.status, 413, r.body);
  });
  await step('bad JSON body: 400', async () => {
    const r = await http(srv, 'PUT', '/v1/messages/bob', { auth: authOf(alice), body: '{"messages":' });
    assert.equal(r.status, 400);
  });
  await step('WebSocket message too big: close 1009', async () => {
    const ws = await WS.open(srv, authOf(bob));
    await ws.nextJson('queue_empty');
    ws.c.write(wsFrame(1, Buffer.alloc(64 * 1024, 0x61)));
    let f;
    do { f = await ws.next('close 1009'); } while (f.opcode !== 8);
    assert.equal(f.code, 1009);
    ws.close();
  });
  await step('unmasked client frame: close 1002', async () => {
    const ws = await WS.open(srv, authOf(bob));
    await ws.nextJson('queue_empty');
    ws.c.write(wsFrame(1, '{"type":"ack","ids":[]}', { mask: false }));
    let f;
    do { f = await ws.next('close 1002'); } while (f.opcode !== 8);
    assert.equal(f.code, 1002);
    ws.close();
  });
  await step('bad ack message: close 1002', async () => {
    const ws = await WS.open(srv, authOf(bob));
    await ws.nextJson('queue_empty');
    ws.send({ type: 'nonsense' });
    let f;
    do { f = await ws.next('close 1002'); } while (f.opcode !== 8);
    assert.equal(f.code, 1002);
    ws.close();
  });
  await step('pipelined requests are answered in order on one connection', async () => {
    const c = await new Conn(srv).open();
    c.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal((await c.readResponse()).status, 200);
    assert.equal((await c.readResponse()).status, 404);
    assert.equal((await c.readResponse()).status, 200);
    c.end();
  });
  await step('Expect: 100-continue gets 100 before the body is sent', async () => {
    const c = await new Conn(srv).open();
    c.write(`GET /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${b64(authOf(bob))}\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n`);
    assert.equal((await c.readResponse()).status, 100);
    c.write('{}');
    assert.equal((await c.readResponse()).status, 200);
    c.end();
  });
  await step('a request head that never completes: 408 and closed', async () => {
    const c = await new Conn(srv).open();
    c.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const r = await c.readResponse();
    assert.equal(r.status, 408);
    await c.waitClosed('408 close');
  });
  await step('connections past max_connections are refused; the server stays up', async () => {
    const open = [];
    let refused = 0;
    const attempt = () => new Promise(res => {
      const s = tls.connect({ host: '127.0.0.1', port: srv.port, rejectUnauthorized: false });
      s.once('secureConnect', () => { open.push(s); res(); });
      s.once('error', () => { refused++; res(); });
      s.once('close', () => { res(); });
    });
    for (let i = 0; i < 45; i++) await withTimeout(attempt(), 'connect');
    assert.ok(refused >= 5 || open.length <= 40, `open ${open.length}, refused ${refused}`);
    open.forEach(s => s.destroy());
    await new Promise(r => setTimeout(r, 300));
    assert.equal((await http(srv, 'GET', '/health')).status, 200);
  });
  await step('a device added or removed: "devices" to the account\'s other WebSockets (JSON and sotto.pb), not the remover\'s', async () => {
    // sotto.pb: ServerMessage{queue_empty = 3: true} and {devices_changed = 4: true}
    const PB_EMPTY = '1801', PB_DEVICES = '2001';
    const nextBinary = async (ws, what) => {
      for (;;) {
        const f = await ws.next(what);
        if (f.opcode === 2) return f.bytes.toString('hex');
        if (f.opcode === 8) throw new Error(`closed ${f.code} while waiting for ${what}`);
      }
    };
    const linkDevice = (byAuth, secret) => linkDeviceOn(srv, byAuth, secret, alice.ik);
    const w1 = await WS.open(srv, authOf(alice));
    assert.equal((await w1.nextJson('alice.1 queue_empty')).type, 'queue_empty');
    const s2 = 'alice-two-secret-0123456789-abcdefg';
    const d2 = await linkDevice(authOf(alice), s2);
    assert.deepEqual(await w1.nextJson('devices after a link'), { type: 'devices' });
    const auth2 = `alice.${d2}:${s2}`;
    const w2 = await WS.open(srv, auth2, 'sotto.pb');
    assert.equal(await nextBinary(w2, 'alice.2 queue_empty'), PB_EMPTY);
    // Linked with device 2's token: both sockets hear of it.
    const s3 = 'alice-three-secret-0123456789-abcde';
    const d3 = await linkDevice(auth2, s3);
    assert.equal(await nextBinary(w2, 'devices (binary) after a link'), PB_DEVICES);
    assert.deepEqual(await w1.nextJson('devices after the second link'), { type: 'devices' });
    // Device 2 removes device 3: device 1 hears of it, device 2 does not.
    let r = await http(srv, 'DELETE', `/v1/devices/${d3}`, { auth: auth2 });
    assert.equal(r.status, 204, r.body);
    assert.deepEqual(await w1.nextJson('devices after a removal'), { type: 'devices' });
    // What device 2's socket gets next: one "devices" for a link by device 1,
    // then the answer to a send of its own (none for the removal before).
    const s4 = 'alice-four-secret-0123456789-abcdef';
    const d4 = await linkDevice(authOf(alice), s4);
    assert.deepEqual(await w1.nextJson('devices after the third link'), { type: 'devices' });
    w2.send({ type: 'send', id: 77, to: 'nobody-here', messages: [{ destinationDeviceId: 1, type: 1, content: b64(content2) }] });
    assert.equal(await nextBinary(w2, 'devices for the third link'), PB_DEVICES);
    assert.notEqual(await nextBinary(w2, 'the answer to the send'), PB_DEVICES, 'the remover was not told of its own removal');
    // Leave alice with device 1 only, as the later steps expect.
    for (const d of [d2, d4]) {
      r = await http(srv, 'DELETE', `/v1/devices/${d}`, { auth: authOf(alice) });
      assert.equal(r.status, 204, r.body);
    }
    w1.close();
    w2.close();
  });
  await step('a long poll whose client left frees its mailbox: the next wait is not refused (409)', async () => {
    const sleep = ms => new Promise(res => setTimeout(res, ms));
    let r = await http(srv, 'POST', '/v1/provisioning', {});
    assert.equal(r.status, 200, r.body);
    const addr = r.json().address;
    const c = await new Conn(srv).open();
    c.write(`GET /v1/provisioning/${addr}?timeout=60 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n`);
    // The server holds the wait once another GET is refused for it.
    for (;;) {
      r = await http(srv, 'GET', `/v1/provisioning/${addr}?timeout=0`);
      if (r.status === 409) break;
      assert.equal(r.status, 204, r.body);
      await sleep(20);
    }
    c.end();
    // The client is gone: the mailbox must take a new wait before the 60 s
    // the old one asked for have passed (it takes about one sweep, 1 s;
    // without noticing the close it would take all 60).
    const until = Date.now() + 30000;
    for (;;) {
      r = await http(srv, 'GET', `/v1/provisioning/${addr}?timeout=0`);
      if (r.status === 204) break;
      assert.equal(r.status, 409, r.body);
      assert.ok(Date.now() < until, 'the mailbox still holds a wait whose client left 30 s ago');
      await sleep(100);
    }
  });
  await step('a login still being checked when its device is removed does not outlive the removal', async () => {
    // Each round: a device is linked, CONNS connections send a request with its
    // credentials (the server checks them with Argon2id on its workers) and
    // device 1 removes it at the same moment. Whatever each first request got,
    // once the removal has answered 204 a second request on the same
    // keep-alive connection must not be served: 401 (or 429), or a closed
    // connection. Each round's connections come from their own address: the
    // refused logins count against it (burst 20).
    const ROUNDS = 30, CONNS = 10;
    for (let round = 0; round < ROUNDS; round++) {
      const secret = `alice-gone-${round}-secret-0123456789-abcdef`;
      const localAddress = `127.0.1.${10 + round}`;
      let r = await http(srv, 'POST', '/v1/devices/link', { auth: authOf(alice) });
      assert.equal(r.status, 200, r.body);
      const reg = await new Conn(srv, { localAddress }).open();  // registrations are limited per address
      r = await reg.request('POST', '/v1/devices', { body: { token: r.json().token, secret,
        registrationId: 1 + crypto.randomInt(16000), signedPreKey: signedEc(alice.ik, 1),
        pqLastResortPreKey: signedKem(alice.ik, 2) } });
      reg.end();
      assert.equal(r.status, 200, r.body);
      const d = r.json().deviceId;
      const auth = `alice.${d}:${secret}`;
      const conns = await Promise.all(Array.from({ length: CONNS }, () => new Conn(srv, { localAddress }).open()));
      // The removal comes on a connection already logged in (no Argon2id
      // of its own), right behind the logins: the server's workers take it
      // while the logins' checks run.
      const del = await new Conn(srv).open();
      assert.equal((await del.request('GET', '/v1/devices', { auth: authOf(alice) })).status, 200);
      const first = conns.map(c => c.request('GET', '/v1/keys', { auth }).catch(() => null));
      // Rounds send the removal 0..58 ms behind the logins, to land it at
      // different points of their checks; some round lands it while a check
      // is under way (no timing is asserted: every round checks the same).
      await new Promise(res => setTimeout(res, 2 * round));
      r = await del.request('DELETE', `/v1/devices/${d}`, { auth: authOf(alice) });
      del.end();
      assert.equal(r.status, 204, r.body);
      await Promise.all(first);
      for (const c of conns) {
        if (!c.closed) {
          const again = await c.request('GET', '/v1/keys', { auth }).catch(() => null);
          assert.ok(again === null || again.status === 401 || again.status === 429,
                    `a removed device was served after its removal: ${again && again.status}`);
        }
        c.end();
      }
    }
  });
  await step('still alive; metrics count relayed messages and errors', async () => {
    const h = await http(srv, 'GET', '/health');
    assert.equal(h.status, 200);
    const m = await http(srv, 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /sottod_errors_total\{kind="http_malformed"\} [1-9]/);
    assert.match(m.body, /sottod_errors_total\{kind="http_too_large"\} [1-9]/);
    assert.match(m.body, /sottod_connections_total [1-9]/);
    assert.match(m.body, /sottod_errors_total\{kind="conn_limit"\} [1-9]/);
    assert.match(m.body, /sottod_errors_total\{kind="timeout"\} [1-9]/);
    assert.match(m.body, /sottod_errors_total\{kind="ws_too_large"\} 1/);
  });
  await step('logs never hold addresses, secrets or contents', async () => {
    const logs = srv.stderr;
    assert.ok(!logs.includes('127.0.0.1:'), 'address in logs');
    for (const u of [alice, bob]) assert.ok(!logs.includes(u.secret) && !logs.includes(u.uuid), 'user data in logs');
    assert.ok(!logs.includes(b64(content1).slice(0, 16)), 'content in logs');
  });
  await step('command line: --help, disclose, bad --listen', async () => {
    const h = spawnSync(SOTTOD, ['--help'], { encoding: 'utf8' });
    assert.equal(h.status, 0);
    assert.match(h.stdout, /disclose USERNAME/);
    const d = spawnSync(SOTTOD, ['disclose', 'alice', '--data', dir], { encoding: 'utf8' });
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stdout, /alice/);
    const n = spawnSync(SOTTOD, ['disclose', 'nobody', '--data', dir], { encoding: 'utf8' });
    assert.equal(n.status, 1);
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'sottod-e2e-bad-'));
    const b = spawnSync(SOTTOD, ['--data', other, '--listen', 'not-an-address:1'], { encoding: 'utf8' });
    assert.notEqual(b.status, 0);
    assert.match(b.stderr, /not an IP address/);
    assert.ok(!fs.existsSync(path.join(other, 'sottod.key')), 'no key made for a bad start');
    fs.rmSync(other, { recursive: true, force: true });
  });

  // ---- early push (a second server whose commits wait long) ----
  // batch_window_ms and early_hold_ms are long here, so what reaches a device
  // before its sender's answer was pushed before its commit; no step asserts
  // on time, only on which came first.
  const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'sottod-e2e-early-'));
  fs.writeFileSync(path.join(dir2, 'sottod.conf'),
    '# e2e: early push\nregister_burst = 10\nbatch_window_ms = 1000\nearly_hold_ms = 8000\nlog_level = debug\n');
  const srv2 = new Server(dir2, await freePort());
  const carol = { name: 'carol', secret: 'carol-secret-0123456789-abcdefghij' };
  const dave = { name: 'dave', secret: 'dave-secret-0123456789ab-abcdefghij' };
  const metric = async (name) =>
    Number(new RegExp(`^${name} (\\d+)$`, 'm').exec((await http(srv2, 'GET', '/metrics')).body)[1]);
  // Starts a PUT; .answered tells whether its answer came yet.
  const sendTo = (to, devices, content) => {
    const p = http(srv2, 'PUT', `/v1/messages/${to}`, { auth: authOf(carol),
      body: { messages: devices.map(d => ({ destinationDeviceId: d, type: 1, content: b64(content) })) } });
    const h = { answered: false, done: p.then(r => { h.answered = true; return r; }) };
    return h;
  };
  // A WebSocket of dave's device 1 that has been handed its backlog (acked:
  // acks still waiting for their commit may bring an envelope again).
  const caughtUp = async () => {
    const ws = await WS.open(srv2, authOf(dave));
    for (;;) {
      const m = await ws.nextJson('backlog, then queue_empty');
      if (m.type === 'queue_empty') return ws;
      ws.send({ type: 'ack', ids: [m.envelope.id] });
    }
  };
  const envelopeOf = async (ws, what) => {
    for (;;) {
      const m = await ws.nextJson(what);
      if (m.type === 'envelope') return m.envelope;
    }
  };
  try {
    await srv2.start();
    await step('early push: before its commit a live envelope reaches a caught-up device; acked then, it is never written', async () => {
      for (const u of [carol, dave]) {
        u.ik = SignalClient.PrivateKey.generate();
        const r = await http(srv2, 'POST', '/v1/accounts', { body: registration(u.name, u.secret, u.ik) });
        assert.equal(r.status, 200, r.body);
        u.uuid = r.json().uuid;
      }
      const ws = await WS.open(srv2, authOf(dave));
      assert.equal((await ws.nextJson('dave queue_empty')).type, 'queue_empty');
      // The first message to dave: his devices are not known yet, so it is
      // pushed after its commit, like before.
      const m0 = crypto.randomBytes(50);
      let s = sendTo('dave', [1], m0);
      let e = await envelopeOf(ws, 'first envelope');
      assert.equal((await s.done).status, 200);
      assert.equal(Buffer.from(e.content, 'base64').compare(m0), 0);
      assert.equal(await metric('sottod_messages_pushed_early_total'), 0);
      ws.send({ type: 'ack', ids: [e.id] });
      // Now his device set is known: the next one comes before carol's answer.
      const m1 = crypto.randomBytes(60);
      s = sendTo('dave', [1], m1);
      e = await envelopeOf(ws, 'early envelope');
      assert.ok(!s.answered, 'the answer came before the push');
      assert.equal(Buffer.from(e.content, 'base64').compare(m1), 0);
      assert.equal(e.sourceUuid, carol.uuid);
      ws.send({ type: 'ack', ids: [e.id] });
      assert.equal((await s.done).status, 200);
      assert.equal(await metric('sottod_messages_pushed_early_total'), 1);
      assert.equal(await metric('sottod_messages_unwritten_total'), 1);
      // Not acked before its commit: written, and delivered again under
      // the same id.
      const m2 = crypto.randomBytes(70);
      s = sendTo('dave', [1], m2);
      const e2 = await envelopeOf(ws, 'early envelope, not acked');
      assert.ok(!s.answered, 'the answer came before the push');
      assert.equal((await s.done).status, 200);
      ws.close();
      const f = await http(srv2, 'GET', '/v1/messages', { auth: authOf(dave) });
      assert.deepEqual(f.json().messages.map(x => [x.id, Buffer.from(x.content, 'base64').compare(m2)]),
                       [[e2.id, 0]]);
      assert.equal(await metric('sottod_messages_unwritten_total'), 1);
      const d = await http(srv2, 'DELETE', `/v1/messages/${e2.id}`, { auth: authOf(dave) });
      assert.equal(d.status, 204);
    });
    await step('early push keeps order: a socket that replaced another gets the older envelope first', async () => {
      const ws1 = await caughtUp();
      // Prime: one committed round trip makes dave's devices known again.
      let s = sendTo('dave', [1], Buffer.from('prime'));
      let e = await envelopeOf(ws1, 'prime');
      ws1.send({ type: 'ack', ids: [e.id] });
      await s.done;
      const a = sendTo('dave', [1], Buffer.from('older'));
      const ea = await envelopeOf(ws1, 'older, early');
      assert.ok(!a.answered);
      // A new socket replaces the first before "older" is committed; it is
      // caught up at once (nothing committed waits), yet "newer" must not
      // overtake "older", which it has not seen.
      const ws2 = await caughtUp();
      const b = sendTo('dave', [1], Buffer.from('newer'));
      const got = [await envelopeOf(ws2, 'first on the new socket'), await envelopeOf(ws2, 'second')];
      assert.deepEqual(got.map(x => Buffer.from(x.content, 'base64').toString()), ['older', 'newer']);
      assert.equal(got[0].id, ea.id);
      ws2.send({ type: 'ack', ids: got.map(x => x.id) });
      assert.equal((await a.done).status, 200);
      assert.equal((await b.done).status, 200);
      ws1.close();
      ws2.close();
    });
    await step('a device added: the old set is refused (409) and none of it reaches the old device', async () => {
      const ws = await caughtUp();
      let s = sendTo('dave', [1], Buffer.from('known set'));
      let e = await envelopeOf(ws, 'known set');
      ws.send({ type: 'ack', ids: [e.id] });
      await s.done;
      const early = await metric('sottod_messages_pushed_early_total');
      const d2 = await linkDeviceOn(srv2, authOf(dave), 'dave-two-secret-0123456789-abcdefgh', dave.ik);
      assert.deepEqual(await ws.nextJson('devices'), { type: 'devices' });
      s = sendTo('dave', [1], Buffer.from('old set'));
      const r = await s.done;
      assert.equal(r.status, 409, r.body);
      assert.deepEqual(r.json(), { missingDevices: [d2], extraDevices: [] });
      s = sendTo('dave', [1, d2], Buffer.from('new set'));
      e = await envelopeOf(ws, 'the next envelope');
      assert.equal(Buffer.from(e.content, 'base64').toString(), 'new set');
      assert.equal((await s.done).status, 200);
      // Only "new set" was pushed early (the refusal taught the server the
      // new set); "old set" never was.
      assert.equal(await metric('sottod_messages_pushed_early_total'), early + 1);
      ws.close();
    });
    await step('a batch whose commit was already timed for its window still waits for its early pushes\' acks', async () => {
      const ws = await caughtUp();
      // An HTTP ack is answered after its commit: a batch has just started.
      let r = await http(srv2, 'DELETE', `/v1/messages/${crypto.randomUUID()}`, { auth: authOf(dave) });
      assert.equal(r.status, 204, r.body);
      // Within batch_window_ms of it, another ack sets the next commit for
      // the end of that window...
      const ack2 = http(srv2, 'DELETE', `/v1/messages/${crypto.randomUUID()}`, { auth: authOf(dave) });
      // ...and an early push joins that batch: it must wait (up to
      // early_hold_ms, 8 s here) for the push's ack, not go at the window's end.
      const before = await metric('sottod_messages_unwritten_total');
      const s = sendTo('dave', [1, 2], Buffer.from('held'));
      const e = await envelopeOf(ws, 'held');
      await new Promise(res => setTimeout(res, 3000));   // past the window, well inside the hold
      ws.send({ type: 'ack', ids: [e.id] });
      assert.equal((await s.done).status, 200);
      assert.equal((await ack2).status, 204);
      assert.equal(await metric('sottod_messages_unwritten_total'), before + 1,
                   'the early push was written: its batch did not wait for the ack');
      ws.close();
    });
    await step('restart: an id handed out for an envelope never written does not come back', async () => {
      // Device 1's envelope takes the higher seq and is acked before its
      // commit, so the highest seq handed out is stored nowhere; after a
      // restart the same device gets an envelope of the same length.
      const ws = await caughtUp();
      const body = Buffer.alloc(33, 7);
      let s = sendTo('dave', [2, 1], body);
      const e = await envelopeOf(ws, 'early envelope');
      assert.ok(!s.answered, 'the answer came before the push');
      ws.send({ type: 'ack', ids: [e.id] });
      assert.equal((await s.done).status, 200);
      ws.close();
      await srv2.stop();
      await srv2.start();
      s = sendTo('dave', [1, 2], body);
      assert.equal((await s.done).status, 200);
      const f = await http(srv2, 'GET', '/v1/messages', { auth: authOf(dave) });
      const ids = f.json().messages.map(x => x.id);
      assert.equal(ids.length, 1);
      assert.notEqual(ids[0], e.id, 'an id came back after a restart');
    });
  } finally {
    if (srv2.proc && srv2.proc.exitCode === null) await srv2.stop().catch(() => srv2.proc.kill('SIGKILL'));
    if (failed) console.log('--- sottod (early push) stderr ---\n' + srv2.stderr.split('\n').slice(-30).join('\n'));
    fs.rmSync(dir2, { recursive: true, force: true });
  }
  await step('final SIGTERM exits 0', async () => {
    const ex = await srv.stop();
    assert.deepEqual(ex, { code: 0, sig: null });
  });
} catch (e) {
  failed++;
  console.log(`not ok - setup: ${e.stack || e}`);
} finally {
  if (srv.proc && srv.proc.exitCode === null) srv.proc.kill('SIGKILL');
  if (failed) console.log('--- sottod stderr ---\n' + srv.stderr.split('\n').slice(-40).join('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
