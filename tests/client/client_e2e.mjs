// End-to-end test of the sotto client against a real sottod on loopback
// (Node 20, no packages). Usage: node client_e2e.mjs SOTTO SOTTOD [ROUNDS]
// Alice, Bob and Carol register (pin, CA file, key file); exit codes of the
// documented failures; Alice writes to Bob while he is offline; a ping-pong of
// ROUNDS (default 100) messages between two daemons over JSON-RPC; Carol gets
// the same text from both; daemon history and errors; the store lock; then
// every file of the server and the clients is searched for the message texts.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

const [SOTTO, SOTTOD] = process.argv.slice(2);
const ROUNDS = Number(process.argv[4] || 100);
if (!SOTTO || !SOTTOD) { console.error('usage: client_e2e.mjs SOTTO SOTTOD [ROUNDS]'); process.exit(2); }
const STEP_TIMEOUT_MS = 60000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sotto-client-e2e-'));
const texts = new Set();             // every message text sent: none may be found on disk
const tag = crypto.randomBytes(6).toString('hex');
const text = (s) => { const t = `${s} ${tag}`; texts.add(t); return t; };

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
      if (m && out.includes('listening on')) resolve({ proc, fingerprint: m[1] });
    });
    proc.on('exit', (code) => reject(new Error(`sottod exited ${code}: ${err}`)));
  }), 'server start');
}

// Runs the client; returns {code, out, err}.
function sotto(dir, args, opts = {}) {
  const env = { ...process.env, SOTTO_PASSPHRASE: opts.pass ?? 'pass-' + path.basename(dir) };
  if (opts.nopass) delete env.SOTTO_PASSPHRASE;
  const r = spawnSync(SOTTO, ['-c', dir, ...args], { env, input: opts.input ?? '', encoding: 'utf8', timeout: STEP_TIMEOUT_MS });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function expectCode(r, code, what) {
  assert.equal(r.code, code, `${what}: exit ${r.code}, want ${code}\nstdout: ${r.out}\nstderr: ${r.err}`);
}

function jsonLines(s) { return s.split('\n').filter(l => l.trim()).map(l => JSON.parse(l)); }

// A daemon and a JSON-RPC connection to it.
class Daemon {
  constructor(dir) { this.dir = dir; this.buf = ''; this.waiters = []; this.notes = []; this.noteWaiters = []; this.nextId = 1; }
  async start() {
    const env = { ...process.env, SOTTO_PASSPHRASE: 'pass-' + path.basename(this.dir) };
    this.proc = spawn(SOTTO, ['-c', this.dir, 'daemon'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.stderr = '';
    this.exited = new Promise(res => this.proc.on('exit', (code, sig) => res({ code, sig })));
    await withTimeout(new Promise((resolve) => this.proc.stderr.on('data', d => {
      this.stderr += d;
      if (this.stderr.includes('connected')) resolve();
    })), `daemon ${this.dir} start`);
    this.sock = net.createConnection(path.join(this.dir, 'sotto.sock'));
    await new Promise((res, rej) => { this.sock.on('connect', res); this.sock.on('error', rej); });
    this.sock.setEncoding('utf8');
    this.sock.on('data', d => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i); this.buf = this.buf.slice(i + 1);
        const m = JSON.parse(line);
        if (m.method === 'receive') {
          const w = this.noteWaiters.shift();
          if (w) w(m.params); else this.notes.push(m.params);
        } else {
          this.waiters.shift()(m);
        }
      }
    });
  }
  call(method, params) {
    const id = this.nextId++;
    const p = new Promise(res => this.waiters.push(res));
    this.sock.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    return withTimeout(p, `rpc ${method}`).then(r => { assert.equal(r.id, id); return r; });
  }
  raw(line) {
    const p = new Promise(res => this.waiters.push(res));
    this.sock.write(line + '\n');
    return withTimeout(p, 'rpc raw');
  }
  nextNote() {
    if (this.notes.length) return Promise.resolve(this.notes.shift());
    return withTimeout(new Promise(res => this.noteWaiters.push(res)), `notification at ${this.dir}`);
  }
  async stop() {
    this.sock.end();
    this.proc.kill('SIGTERM');
    const r = await withTimeout(this.exited, 'daemon exit');
    assert.equal(r.code, 0, `daemon exit ${JSON.stringify(r)}: ${this.stderr}`);
  }
}

function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out); else if (e.isFile()) out.push(p);
  }
  return out;
}

let server;
const daemons = [];
async function main() {
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  server = await startServer(path.join(tmp, 'server'), port);
  const A = path.join(tmp, 'alice'), B = path.join(tmp, 'bob'), C = path.join(tmp, 'carol');
  const names = { alice: `alice${tag}`.slice(0, 20), bob: `bob${tag}`.slice(0, 20), carol: `carol${tag}`.slice(0, 20) };

  // Help and usage.
  for (const cmd of ['register', 'send', 'receive', 'history', 'daemon']) {
    const r = spawnSync(SOTTO, [cmd, '--help'], { encoding: 'utf8' });
    expectCode({ code: r.status, out: r.stdout, err: r.stderr }, 0, `${cmd} --help`);
    assert.match(r.stdout, new RegExp(`usage: sotto .*${cmd}`));
  }
  expectCode(sotto(A, ['frobnicate']), 2, 'unknown command');
  expectCode(sotto(A, ['register', '--server', `http://127.0.0.1:${port}`, '--username', 'x']), 2, 'http URL');
  expectCode(sotto(A, ['history', 'bob']), 7, 'history without a store');

  // Registration: a wrong pin fails (exit 9) and leaves nothing behind.
  const badPin = server.fingerprint.replace(/^./, c => (c === '0' ? '1' : '0'));
  expectCode(sotto(A, ['register', '--server', url, '--username', names.alice, '--pin', badPin]), 9, 'wrong pin');
  assert.ok(!fs.existsSync(path.join(A, 'store.db')), 'failed register leaves no store');
  expectCode(sotto(A, ['register', '--server', url, '--username', names.alice, '--pin', server.fingerprint]), 0, 'register alice');
  expectCode(sotto(B, ['register', '--server', url, '--username', names.bob,
                       '--cacert', path.join(tmp, 'server', 'sottod.crt')]), 0, 'register bob');
  expectCode(sotto(C, ['register', '--server', url, '--username', names.carol, '--pin', server.fingerprint, '--key-file'],
                   { nopass: true }), 0, 'register carol');
  expectCode(sotto(path.join(tmp, 'dup'), ['register', '--server', url, '--username', names.bob.toUpperCase(),
                                           '--pin', server.fingerprint]), 10, 'duplicate username');
  expectCode(sotto(A, ['register', '--server', url, '--username', 'other', '--pin', server.fingerprint]), 10, 'store exists');
  expectCode(sotto(A, ['history', names.bob], { pass: 'wrong' }), 8, 'wrong passphrase');
  expectCode(sotto(A, ['history', names.bob], { nopass: true }), 2, 'no passphrase and no terminal');
  const keyStat = fs.statSync(path.join(C, 'store.key'));
  assert.equal(keyStat.mode & 0o777, 0o600, 'key file mode');
  assert.equal(keyStat.size, 32, 'key file size');
  for (const d of [A, B, C]) {
    assert.equal(fs.statSync(d).mode & 0o777, 0o700, `${d} mode`);
    for (const f of fs.readdirSync(d)) assert.equal(fs.statSync(path.join(d, f)).mode & 0o077, 0, `${d}/${f} private`);
  }

  // Alice writes to Bob while he is offline; Bob reads later, once.
  const t1 = text('offline one'), t2 = text('offline two from stdin');
  expectCode(sotto(A, ['send', '-m', t1, names.bob]), 0, 'send 1');
  expectCode(sotto(A, ['send', names.bob], { input: t2 + '\n' }), 0, 'send 2 (stdin)');
  expectCode(sotto(A, ['send', '-m', text('nobody'), `nobody${tag}`]), 7, 'send to unknown user');
  let r = sotto(B, ['receive', '--timeout', '0', '--json']); // the backlog, then stop
  expectCode(r, 0, 'bob receive');
  let got = jsonLines(r.out);
  assert.deepEqual(got.map(m => [m.peer, m.message]), [[names.alice, t1], [names.alice, t2]], 'bob got both, in order');
  r = sotto(B, ['receive', '--timeout', '1', '--json']);
  expectCode(r, 0, 'bob receive again');
  assert.equal(jsonLines(r.out).length, 0, 'nothing twice');
  r = sotto(A, ['history', '--json', names.bob]);
  assert.deepEqual(jsonLines(r.out).map(m => [m.direction, m.state, m.message]),
                   [['out', 'sent', t1], ['out', 'sent', t2]], 'alice history');

  // Daemons: ping-pong over JSON-RPC.
  const da = new Daemon(A), db = new Daemon(B);
  daemons.push(da, db);
  await da.start();
  await db.start();
  expectCode(sotto(A, ['history', names.bob]), 6, 'store locked while the daemon runs');
  assert.match(sotto(A, ['history', names.bob]).err, new RegExp(`in use by PID ${da.proc.pid}`));
  for (let i = 0; i < ROUNDS; i++) {
    const ping = text(`ping ${i}`), pong = text(`pong ${i}`);
    let res = await da.call('send', { recipient: names.bob, message: ping });
    assert.equal(res.result.results[0].status, 'sent', JSON.stringify(res));
    let n = await db.nextNote();
    assert.deepEqual([n.from, n.message], [names.alice, ping]);
    res = await db.call('send', { recipients: [names.alice], message: pong });
    assert.equal(res.result.results[0].status, 'sent');
    n = await da.nextNote();
    assert.deepEqual([n.from, n.message], [names.bob, pong]);
  }
  let h = await da.call('history', { username: names.bob, limit: 4 });
  assert.equal(h.result.length, 4);
  assert.equal(h.result[3].message, `pong ${ROUNDS - 1} ${tag}`);
  let e = await da.call('nope', {});
  assert.equal(e.error.code, -32601);
  e = await da.raw('{not json');
  assert.equal(e.error.code, -32700);
  e = await da.call('send', { recipient: names.bob });
  assert.equal(e.error.code, -32602);
  e = await da.call('send', { recipient: `nobody${tag}`, message: text('lost') });
  assert.equal(e.result.results[0].status, 'failed');

  // Carol gets the same text from both.
  const same = text('same text for carol');
  assert.equal((await da.call('send', { recipient: names.carol, message: same })).result.results[0].status, 'sent');
  assert.equal((await db.call('send', { recipient: names.carol, message: same })).result.results[0].status, 'sent');
  r = sotto(C, ['receive', '--timeout', '2', '--json'], { nopass: true });
  expectCode(r, 0, 'carol receive');
  got = jsonLines(r.out).map(m => [m.peer, m.message]).sort();
  assert.deepEqual(got, [[names.alice, same], [names.bob, same]].sort(), 'carol got it from both');
  await da.stop();
  await db.stop();
  daemons.length = 0;

  // Stop the server; then no file anywhere holds a message text.
  server.proc.kill('SIGTERM');
  await withTimeout(new Promise(res => server.proc.on('exit', res)), 'server exit');
  server = null;
  const files = walk(tmp);
  assert.ok(files.length > 5);
  for (const f of files) {
    const data = fs.readFileSync(f);
    for (const t of texts) assert.ok(!data.includes(Buffer.from(t)), `${f} contains "${t}"`);
  }
  console.log(`ok: ${texts.size} texts, ${files.length} files searched, ${ROUNDS} ping-pong rounds`);
}

main().then(() => { fs.rmSync(tmp, { recursive: true, force: true }); process.exit(0); }, (e) => {
  console.error(e);
  for (const d of daemons) { try { d.proc.kill('SIGTERM'); console.error(d.stderr); } catch { /* gone */ } }
  if (server) server.proc.kill('SIGTERM');
  console.error(`left ${tmp} for inspection`);
  process.exit(1);
});
