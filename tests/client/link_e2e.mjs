// End-to-end test of linked devices against a real sottod on loopback
// (Node 20; keys for the raw API part from the pinned libsignal in
// tests/interop). Usage: node link_e2e.mjs SOTTO SOTTOD
//
// Clients: Alice registers on her phone (a1) and links her laptop (a2) with
// sotto link / sotto add-device; Bob writes to Alice and both her devices
// receive it; the laptop replies and the phone's history shows the reply as
// outgoing (a sent transcript), Bob's as incoming; the phone's own sends show
// on the laptop too; the daemon lists the devices over JSON-RPC. A used or malformed link code is refused. Alice unlinks
// the laptop: Bob's next send reaches the phone only (his client takes the
// 409 path), the laptop's credentials are refused, sottod disclose lists one
// device.
// Raw API: a forged link token and a used one are refused, a token survives a
// refused attempt (bad prekey signature), device ids are never reused, a
// device cannot remove itself or device 1, a removed device's WebSocket is
// closed (4403); a provisioning mailbox has one waiter at a time, takes one
// message (a second PUT 409, a PUT without credentials 401, an oversized one
// 413), hands it to a long poll that is waiting, and is gone afterwards;
// mailbox creation is rate-limited per address. Then every file of the server
// and the clients is searched for the message texts.
import { spawn, spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const SignalClient = require(path.join(here, '..', 'interop', 'node_modules', '@signalapp', 'libsignal-client'));

const noble = (p) => import(pathToFileURL(path.join(here, '..', 'interop', 'node_modules', '@noble', p)).href);
const { x25519 } = await noble('curves/ed25519.js');
const { blake2b } = await noble('hashes/blake2.js');
const { hsalsa, xsalsa20poly1305 } = await noble('ciphers/salsa.js');

// libsodium's crypto_box_seal_open: ephemeral pk (32) || crypto_box(m) with
// nonce blake2b-24(epk || pk) and key HSalsa20(X25519(sk, epk), 0).
function sealOpen(sealed, pk, sk) {
  const epk = sealed.subarray(0, 32);
  const nonce = blake2b(Buffer.concat([epk, pk]), { dkLen: 24 });
  const shared = new Uint8Array(x25519.getSharedSecret(sk, epk));
  const sigma = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  const out = new Uint32Array(8);
  hsalsa(sigma, new Uint32Array(shared.buffer.slice(0)), new Uint32Array(4), out);
  return Buffer.from(xsalsa20poly1305(new Uint8Array(out.buffer), nonce).decrypt(new Uint8Array(sealed.subarray(32))));
}

const [SOTTO, SOTTOD] = process.argv.slice(2);
if (!SOTTO || !SOTTOD) { console.error('usage: link_e2e.mjs SOTTO SOTTOD'); process.exit(2); }
const STEP_TIMEOUT_MS = 60000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sotto-link-e2e-'));
const texts = new Set();
const tag = crypto.randomBytes(6).toString('hex');
const text = (s) => { const t = `${s} ${tag}`; texts.add(t); return t; };
const b64 = (b) => Buffer.from(b).toString('base64');
const b64url = (b) => Buffer.from(b).toString('base64url');

function withTimeout(p, what, ms = STEP_TIMEOUT_MS) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

function startServer(dir, port) {
  return withTimeout(new Promise((resolve, reject) => {
    const proc = spawn(SOTTOD, ['--data', dir, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    proc.stderr.on('data', d => { err += d; });
    proc.stdout.on('data', d => {
      out += d;
      const m = out.match(/fingerprint ([0-9a-f]{64})/);
      if (m && out.includes('listening on')) resolve({ proc, port, fingerprint: m[1], log: () => err });
    });
    proc.on('exit', (code) => reject(new Error(`sottod exited ${code}: ${err}`)));
  }), 'server start');
}

const env = (dir) => ({ ...process.env, SOTTO_PASSPHRASE: 'pass-' + path.basename(dir) });

function sotto(dir, args) {
  return withTimeout(new Promise((resolve, reject) => {
    const p = spawn(SOTTO, ['-c', dir, ...args], { env: env(dir), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', d => { out += d; });
    p.stderr.on('data', d => { err += d; });
    p.on('error', reject);
    p.on('close', code => resolve({ code, out, err }));
  }), `sotto ${args[0]}`);
}

function expectCode(r, code, what) {
  assert.equal(r.code, code, `${what}: exit ${r.code}, want ${code}\nstdout: ${r.out}\nstderr: ${r.err}`);
}

const jsonLines = (s) => s.split('\n').filter(l => l.trim()).map(l => JSON.parse(l));

// `sotto link` on the new device: resolves with the link code once printed,
// and with the process result at the end (done).
function startLink(dir, args) {
  const p = spawn(SOTTO, ['-c', dir, 'link', ...args], { env: env(dir), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  const done = withTimeout(new Promise(res => p.on('close', code => res({ code, out, err }))), 'link exit');
  const code = withTimeout(new Promise((resolve, reject) => {
    p.stdout.on('data', d => {
      out += d;
      const m = out.match(/^(sotto-link:\S+)\n/);
      if (m) resolve(m[1]);
    });
    p.stderr.on('data', d => { err += d; });
    p.on('close', c => reject(new Error(`link exited ${c} before printing a code: ${err}`)));
  }), 'link code');
  return { code, done };
}

// ---- raw HTTPS with the pinned certificate ----
// from: another loopback source address (sottod's provisioning limit is per address).
function request(srv, method, p, { body, auth, from } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port: srv.port, rejectUnauthorized: false, servername: 'localhost',
                               ...(from ? { localAddress: from } : {}) }, () => {
      const fp = sock.getPeerCertificate().fingerprint256.replace(/:/g, '').toLowerCase();
      if (fp !== srv.fingerprint) { sock.destroy(); reject(new Error('fingerprint mismatch')); return; }
      const b = body === undefined ? Buffer.alloc(0) : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      let h = `${method} ${p} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${b.length}\r\nConnection: close\r\n`;
      if (auth) h += `Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n`;
      sock.write(Buffer.concat([Buffer.from(h + '\r\n'), b]));
    });
    let buf = Buffer.alloc(0);
    sock.on('data', d => { buf = Buffer.concat([buf, d]); });
    sock.on('error', reject);
    sock.on('close', () => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) { reject(new Error(`no answer to ${method} ${p}`)); return; }
      const head = buf.subarray(0, end).toString('latin1').split('\r\n');
      const bodyText = buf.subarray(end + 4).toString('utf8');
      resolve({ status: parseInt(head[0].split(' ')[1], 10), head: head.join('\n'), body: bodyText,
                json: () => JSON.parse(bodyText) });
    });
  }), `${method} ${p}`);
}

// A WebSocket of one device; resolves closed with the server's close code.
function openWs(srv, auth) {
  return withTimeout(new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port: srv.port, rejectUnauthorized: false, servername: 'localhost' }, () => {
      sock.write('GET /v1/websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
                 `Sec-WebSocket-Key: ${b64(crypto.randomBytes(16))}\r\nSec-WebSocket-Version: 13\r\n` +
                 `Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n\r\n`);
    });
    let buf = Buffer.alloc(0), upgraded = false, closeCode = null, onClose;
    const closed = new Promise(res => { onClose = res; });
    sock.on('data', d => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buf.subarray(0, end).toString('latin1').startsWith('HTTP/1.1 101')) { reject(new Error('no upgrade')); return; }
        upgraded = true;
        buf = buf.subarray(end + 4);
        resolve({ closed, end: () => sock.destroy() });
      }
      while (buf.length >= 2) { // server frames are unmasked; close frames are short
        const len = buf[1] & 0x7f, hdr = len === 126 ? 4 : len === 127 ? 10 : 2;
        const plen = len === 126 ? buf.readUInt16BE(2) : len === 127 ? Number(buf.readBigUInt64BE(2)) : len;
        if (buf.length < hdr + plen) break;
        if ((buf[0] & 0x0f) === 8 && closeCode === null) closeCode = plen >= 2 ? buf.readUInt16BE(hdr) : 1005;
        buf = buf.subarray(hdr + plen);
      }
    });
    sock.on('close', () => onClose(closeCode));
    sock.on('error', () => onClose(closeCode));
  }), 'websocket');
}

function signed(ik, keyId, kem) {
  const pub = Buffer.from(kem ? SignalClient.KEMKeyPair.generate().getPublicKey().serialize()
                              : SignalClient.PrivateKey.generate().getPublicKey().serialize());
  return { keyId, publicKey: b64(pub), signature: b64(ik.sign(pub)) };
}
const secret = () => b64(crypto.randomBytes(32));
const deviceBody = (token, ik, sec) => ({ token, secret: sec, registrationId: 1 + crypto.randomInt(16000),
                                          signedPreKey: signed(ik, 1, false), pqLastResortPreKey: signed(ik, 2, true) });

function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out); else if (e.isFile()) out.push(p);
  }
  return out;
}

let server;
async function main() {
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const sdir = path.join(tmp, 'server');
  server = await startServer(sdir, port);
  const pin = ['--pin', server.fingerprint];
  const [A1, A2, B] = ['a1', 'a2', 'b'].map(n => path.join(tmp, n));
  const alice = `alice${tag.slice(0, 4)}`, bob = `bob${tag.slice(0, 4)}`;

  // ---- linking with the client ----
  expectCode(await sotto(A1, ['register', '--server', url, '--username', alice, ...pin]), 0, 'alice registers');
  expectCode(await sotto(B, ['register', '--server', url, '--username', bob, ...pin]), 0, 'bob registers');
  const link = startLink(A2, ['--server', url, ...pin, '--name', 'laptop']);
  const code = await link.code;
  assert.match(code, /^sotto-link:[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
  let r = await sotto(A1, ['add-device', code]);
  expectCode(r, 0, 'add-device');
  r = await link.done;
  expectCode(r, 0, 'link');
  assert.match(r.out, new RegExp(`linked: ${alice} device 2`));
  expectCode(await sotto(A1, ['add-device', code]), 7, 'a used link code');
  expectCode(await sotto(A1, ['add-device', 'sotto-link:nonsense']), 2, 'a malformed link code');
  expectCode(await sotto(A2, ['link', '--server', url, ...pin]), 10, 'link into a directory with a store');
  r = await sotto(A1, ['devices', '--json']);
  expectCode(r, 0, 'devices');
  assert.deepEqual(jsonLines(r.out).map(d => [d.id, d.current]), [[1, true], [2, false]]);
  r = await sotto(A2, ['devices']);
  assert.match(r.out, /device 2 .*\(this device: laptop\)/);
  r = await sotto(A2, ['devices', '--json']);
  assert.deepEqual(jsonLines(r.out).map(d => [d.id, d.current, d.name]), [[1, false, undefined], [2, true, 'laptop']]);
  console.log('ok - linking');

  // Bob writes to Alice: both of her devices get it (his client learns of
  // device 2 through the 409 of his first submission).
  const t1 = text('bob to both of alice');
  expectCode(await sotto(B, ['send', '-m', t1, alice]), 0, 'bob sends');
  for (const d of [A1, A2]) {
    r = await sotto(d, ['receive', '--timeout', '0', '--json']);
    expectCode(r, 0, `receive on ${path.basename(d)}`);
    assert.deepEqual(jsonLines(r.out).map(m => [m.peer, m.message]), [[bob, t1]], `${path.basename(d)}: ${r.err}`);
  }
  // The laptop replies: Bob has it as incoming, the phone as outgoing.
  const t2 = text('reply from the laptop');
  expectCode(await sotto(A2, ['send', '-m', t2, bob]), 0, 'laptop sends');
  r = await sotto(B, ['receive', '--timeout', '0', '--json']);
  assert.deepEqual(jsonLines(r.out).map(m => [m.peer, m.message]), [[alice, t2]]);
  r = await sotto(A1, ['receive', '--timeout', '0', '--json']);
  expectCode(r, 0, 'phone receives the transcript');
  assert.equal(r.out, '', 'a transcript is not printed as a new message');
  const hist = async (d, peer) => jsonLines((await sotto(d, ['history', '--json', peer])).out)
    .map(m => [m.direction, m.state, m.message]);
  assert.deepEqual(await hist(A1, bob), [['in', 'read', t1], ['out', 'sent', t2]], 'phone history');
  assert.deepEqual(await hist(B, alice), [['out', 'sent', t1], ['in', 'read', t2]], 'bob history');
  // And the other way round: the phone's send shows on the laptop.
  const t3 = text('from the phone');
  expectCode(await sotto(A1, ['send', '-m', t3, bob]), 0, 'phone sends');
  expectCode(await sotto(A2, ['receive', '--timeout', '0']), 0, 'laptop receives the transcript');
  assert.deepEqual(await hist(A2, bob), [['in', 'read', t1], ['out', 'sent', t2], ['out', 'sent', t3]], 'laptop history');
  // The transcript carries the message's own uid and timestamp (the
  // sender's clock): both devices have the same timestamps.
  const ts = async (d) => jsonLines((await sotto(d, ['history', '--json', bob])).out).map(m => m.timestamp);
  assert.deepEqual(await ts(A1), await ts(A2), 'the same timestamps on both devices');
  console.log('ok - messages reach every device, sent transcripts');

  // The daemon's JSON-RPC lists the devices too.
  {
    const d = spawn(SOTTO, ['-c', A1, 'daemon'], { env: env(A1), stdio: ['ignore', 'ignore', 'pipe'] });
    let derr = '';
    const exited = new Promise(res => d.on('exit', (code) => res(code)));
    await withTimeout(new Promise(res => d.stderr.on('data', x => { derr += x; if (derr.includes('connected')) res(); })),
                      'daemon start');
    const sock = net.createConnection(path.join(A1, 'sotto.sock'));
    await new Promise((res, rej) => { sock.on('connect', res); sock.on('error', rej); });
    let buf = '';
    const line = withTimeout(new Promise(res => sock.on('data', x => { buf += x; if (buf.includes('\n')) res(buf); })),
                             'rpc devices');
    sock.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'devices' }) + '\n');
    const ans = JSON.parse(await line);
    assert.deepEqual(ans.result.map(x => [x.id, x.current]), [[1, true], [2, false]], JSON.stringify(ans));
    sock.end();
    d.kill('SIGTERM');
    assert.equal(await withTimeout(exited, 'daemon exit'), 0, derr);
  }

  // Unlinking.
  expectCode(await sotto(A2, ['unlink', '2']), 2, 'a device cannot remove itself');
  expectCode(await sotto(A2, ['unlink', '1']), 2, 'device 1 cannot be removed');
  expectCode(await sotto(A1, ['unlink', '9']), 7, 'no such device');
  expectCode(await sotto(A1, ['unlink', '2']), 0, 'unlink the laptop');
  r = await sotto(A1, ['devices', '--json']);
  assert.deepEqual(jsonLines(r.out).map(d => d.id), [1]);
  const t4 = text('after the unlink');
  expectCode(await sotto(B, ['send', '-m', t4, alice]), 0, 'bob sends after the unlink');
  r = await sotto(A1, ['receive', '--timeout', '0', '--json']);
  assert.deepEqual(jsonLines(r.out).map(m => m.message), [t4]);
  expectCode(await sotto(A2, ['receive', '--timeout', '0']), 5, 'the removed device is refused');
  const t5 = text('phone alone');
  expectCode(await sotto(A1, ['send', '-m', t5, bob]), 0, 'phone sends with no other device');
  const disc = spawnSync(SOTTOD, ['disclose', alice, '--data', sdir], { encoding: 'utf8' });
  assert.equal(disc.status, 0, disc.stderr);
  const devLines = disc.stdout.split('\n').filter(l => /^ {2}device \d+/.test(l));
  assert.deepEqual(devLines.map(l => l.trim().split(/\s+/)[1]), ['1'], disc.stdout);
  console.log('ok - unlink: the 409 path, the removed device refused, disclose');

  // A running daemon learns of a device linked meanwhile from the server's
  // "devices" event, not 30 s later: the phone's daemon has just asked the
  // server (no other device), then a device is linked by another path (this
  // test plays the new device: it opens the sealed provisioning message and
  // registers with the raw API), and the daemon's next send carries a
  // transcript to it.
  {
    // From 127.0.0.2: the rate limit test below counts on 127.0.0.1's budget.
    const from = '127.0.0.2';
    r = await request(server, 'POST', '/v1/provisioning', { from });
    assert.equal(r.status, 200, r.body);
    const box = r.json().address;
    const sk = x25519.utils.randomSecretKey(), pk = x25519.getPublicKey(sk);
    expectCode(await sotto(A1, ['add-device', `sotto-link:${box}.${b64url(pk)}`]), 0, 'add-device for the raw device');
    r = await request(server, 'GET', `/v1/provisioning/${box}?timeout=0`);
    assert.equal(r.status, 200, r.body);
    const pm = sealOpen(Buffer.from(r.json().message, 'base64'), pk, sk);
    assert.equal(pm[0], 1, 'provisioning message version');
    const auuid = pm.subarray(1, 37).toString('latin1');
    const aik = SignalClient.PrivateKey.deserialize(pm.subarray(37, 69));
    const ltoken = b64url(pm.subarray(69, 101));
    assert.equal(pm.subarray(102, 102 + pm[101]).toString('utf8'), alice);
    assert.equal(pm.length, 102 + pm[101], 'no trailing bytes');

    const d = spawn(SOTTO, ['-c', A1, 'daemon'], { env: env(A1), stdio: ['ignore', 'ignore', 'pipe'] });
    let derr = '';
    const exited = new Promise(res => d.on('exit', (code) => res(code)));
    const stderrHas = (what, s) => withTimeout(new Promise(res => {
      const check = () => { if (derr.includes(s)) res(); };
      d.stderr.on('data', x => { derr += x; check(); });
      check();
    }), what);
    await stderrHas('daemon start', 'connected');
    const sock = net.createConnection(path.join(A1, 'sotto.sock'));
    await new Promise((res, rej) => { sock.on('connect', res); sock.on('error', rej); });
    let buf = '';
    const answers = [];
    sock.on('data', x => {
      buf += x;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { answers.push(JSON.parse(buf.slice(0, i))); buf = buf.slice(i + 1); }
    });
    const rpc = (id, method, params) => {
      sock.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
      return withTimeout(new Promise(res => {
        const t = setInterval(() => { const a = answers.find(x => x.id === id); if (a) { clearInterval(t); res(a); } }, 20);
      }), `rpc ${method} ${id}`);
    };
    const t6 = text('daemon alone');
    let ans = await rpc(11, 'send', { recipient: bob, message: t6 });
    assert.equal(ans.result.results[0].status, 'sent', JSON.stringify(ans));

    const s3 = secret();
    r = await request(server, 'POST', '/v1/devices', { body: deviceBody(ltoken, aik, s3), from });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json(), { uuid: auuid, deviceId: 3 });
    await stderrHas('the daemon hears of the new device', "the account's devices changed");
    const t7 = text('daemon after the link');
    ans = await rpc(12, 'send', { recipient: bob, message: t7 });
    assert.equal(ans.result.results[0].status, 'sent', JSON.stringify(ans));
    // The transcript is queued for device 3 once the send is answered.
    r = await request(server, 'GET', '/v1/messages', { auth: `${alice}.3:${s3}` });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(r.json().messages.map(e => [e.sourceUuid, e.sourceDevice]), [[auuid, 1]],
                     'one transcript from the phone (the send before the link had no device to go to)');
    sock.end();
    d.kill('SIGTERM');
    assert.equal(await withTimeout(exited, 'daemon exit'), 0, derr);
    expectCode(await sotto(A1, ['unlink', '3']), 0, 'unlink the raw device');
  }
  console.log('ok - a running daemon learns of a linked device from the server at once');

  // ---- the raw API ----
  const ik = SignalClient.PrivateKey.generate();
  const tina = `tina${tag.slice(0, 4)}`, s1 = secret();
  r = await request(server, 'POST', '/v1/accounts', { body: {
    username: tina, secret: s1, registrationId: 7, identityKey: b64(ik.getPublicKey().serialize()),
    signedPreKey: signed(ik, 1, false), pqLastResortPreKey: signed(ik, 1000, true) } });
  assert.equal(r.status, 200, r.body);
  const tuuid = r.json().uuid;
  const auth1 = `${tina}.1:${s1}`;
  r = await request(server, 'POST', '/v1/devices', { body: deviceBody(b64url(crypto.randomBytes(32)), ik, secret()) });
  assert.equal(r.status, 403, `forged token: ${r.body}`);
  assert.equal((await request(server, 'POST', '/v1/devices/link')).status, 401);
  r = await request(server, 'POST', '/v1/devices/link', { auth: auth1 });
  assert.equal(r.status, 200, r.body);
  const token = r.json().token;
  assert.equal(token.length, 43);
  assert.equal(r.json().expiresIn, 600);
  r = await request(server, 'POST', '/v1/devices', { body: deviceBody(token, SignalClient.PrivateKey.generate(), secret()) });
  assert.equal(r.status, 400, `keys signed by another identity: ${r.body}`);
  const s2 = secret();
  r = await request(server, 'POST', '/v1/devices', { body: deviceBody(token, ik, s2) });
  assert.equal(r.status, 200, `the token survived the refused attempt: ${r.body}`);
  assert.deepEqual(r.json(), { uuid: tuuid, deviceId: 2 });
  r = await request(server, 'POST', '/v1/devices', { body: deviceBody(token, ik, secret()) });
  assert.equal(r.status, 403, `a used token: ${r.body}`);
  const auth2 = `${tina}.2:${s2}`;
  r = await request(server, 'GET', '/v1/devices', { auth: auth2 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json().devices.map(d => d.id), [1, 2]);
  assert.ok(r.json().devices.every(d => d.created % 86400 === 0), 'creation days only');
  assert.equal((await request(server, 'DELETE', '/v1/devices/2', { auth: auth2 })).status, 403, 'itself');
  assert.equal((await request(server, 'DELETE', '/v1/devices/1', { auth: auth2 })).status, 403, 'device 1');
  const ws2 = await openWs(server, auth2);
  assert.equal((await request(server, 'DELETE', '/v1/devices/2', { auth: auth1 })).status, 204);
  assert.equal(await withTimeout(ws2.closed, 'removed device socket'), 4403, 'the removed device\'s WebSocket is closed');
  assert.equal((await request(server, 'GET', '/v1/devices', { auth: auth2 })).status, 401, 'removed');
  r = await request(server, 'POST', '/v1/devices/link', { auth: auth1 });
  r = await request(server, 'POST', '/v1/devices', { body: deviceBody(r.json().token, ik, secret()) });
  assert.deepEqual(r.json(), { uuid: tuuid, deviceId: 3 }, 'device ids are never reused');
  console.log('ok - link tokens: forged, used, given back; device list and removal');

  // Mailboxes.
  r = await request(server, 'POST', '/v1/provisioning');
  assert.equal(r.status, 200);
  const addr = r.json().address;
  assert.match(addr, /^[A-Za-z0-9_-]{22}$/);
  assert.equal((await request(server, 'GET', `/v1/provisioning/${addr}?timeout=0`)).status, 204);
  assert.equal((await request(server, 'GET', `/v1/provisioning/${addr}?timeout=99`)).status, 400);
  const msg = crypto.randomBytes(300);
  assert.equal((await request(server, 'PUT', `/v1/provisioning/${addr}`, { body: { message: b64(msg) } })).status, 401);
  assert.equal((await request(server, 'PUT', `/v1/provisioning/${addr}`,
                              { auth: auth1, body: { message: b64(crypto.randomBytes(4097)) } })).status, 413);
  const waiting = request(server, 'GET', `/v1/provisioning/${addr}?timeout=30`);
  // Until it waits, a second GET finds the mailbox empty (204); then it is refused (409).
  let second = 204;
  for (let i = 0; i < 200 && second === 204; i++) {
    second = (await request(server, 'GET', `/v1/provisioning/${addr}?timeout=0`)).status;
    if (second === 204) await new Promise(res => setTimeout(res, 50));
  }
  assert.equal(second, 409, 'one waiter per mailbox');
  assert.equal((await request(server, 'PUT', `/v1/provisioning/${addr}`, { auth: auth1, body: { message: b64(msg) } })).status, 204);
  r = await waiting;
  assert.equal(r.status, 200, `the waiting GET is answered by the PUT (its timeout gives 204): ${r.body}`);
  assert.deepEqual(Buffer.from(r.json().message, 'base64'), msg);
  assert.equal((await request(server, 'GET', `/v1/provisioning/${addr}?timeout=0`)).status, 404, 'handed out once');
  assert.equal((await request(server, 'PUT', `/v1/provisioning/${addr}`, { auth: auth1, body: { message: b64(msg) } })).status, 404);
  r = await request(server, 'POST', '/v1/provisioning');
  const addr2 = r.json().address;
  assert.equal((await request(server, 'PUT', `/v1/provisioning/${addr2}`, { auth: auth1, body: { message: b64(msg) } })).status, 204);
  assert.equal((await request(server, 'PUT', `/v1/provisioning/${addr2}`, { auth: auth1, body: { message: b64(msg) } })).status, 409);
  assert.equal((await request(server, 'GET', '/v1/provisioning/AAAAAAAAAAAAAAAAAAAAAA?timeout=0')).status, 404);
  console.log('ok - provisioning mailboxes');
  // The per-address limit (shared by mailboxes and device registrations).
  let limited = null;
  for (let i = 0; i < 12 && !limited; i++) {
    r = await request(server, 'POST', '/v1/provisioning');
    if (r.status === 429) limited = r;
    else assert.equal(r.status, 200);
  }
  assert.ok(limited, 'mailbox creation is rate-limited');
  assert.match(limited.head, /Retry-After: \d+/i);
  console.log('ok - rate limit');

  // Nothing of the conversation on disk anywhere, and nothing of the
  // provisioning in the server's log.
  server.proc.kill('SIGTERM');
  await withTimeout(new Promise(res => server.proc.on('exit', res)), 'server exit');
  assert.ok(!server.log().includes(addr) && !server.log().includes(token), 'no address or token in the log');
  server = null;
  const files = walk(tmp);
  assert.ok(files.length > 5);
  for (const f of files) {
    const data = fs.readFileSync(f);
    for (const t of texts) assert.ok(!data.includes(Buffer.from(t)), `${f} contains "${t}"`);
    assert.ok(!data.includes(Buffer.from(token)) && !data.includes(Buffer.from(addr)), `${f} holds a token or address`);
  }
  console.log(`ok: ${texts.size} texts, ${files.length} files searched`);
}

main().then(() => { fs.rmSync(tmp, { recursive: true, force: true }); process.exit(0); }, (e) => {
  console.error(e);
  if (server) { console.error(server.log()); server.proc.kill('SIGTERM'); }
  console.error(`left ${tmp} for inspection`);
  process.exit(1);
});
