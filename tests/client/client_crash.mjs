// Crash test of the sotto client and sottod (Node 20, no packages).
// Usage: node client_crash.mjs SOTTO SOTTOD [N]
// Alice's daemon sends N (default 1000) numbered messages to Bob's daemon over
// JSON-RPC while the server, Alice's daemon and Bob's daemon are each killed
// with SIGKILL at random moments (during requests) and restarted. A message
// whose send request died is looked up in Alice's history and only sent again
// if it was never stored (as a user would). At the end Bob's history must
// hold every message exactly once, in order, and Alice's must show all sent.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

const [SOTTO, SOTTOD] = process.argv.slice(2);
const N = Number(process.argv[4] || 1000);
const KILLS_EACH = Number(process.env.SOTTO_CRASH_KILLS || 8);
if (!SOTTO || !SOTTOD) { console.error('usage: client_crash.mjs SOTTO SOTTOD [N]'); process.exit(2); }
const STEP_TIMEOUT_MS = 60000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sotto-client-crash-'));
const tag = crypto.randomBytes(5).toString('hex');
const msgText = (i) => `burst ${String(i).padStart(5, '0')} ${tag}`;
const sleep = (ms) => new Promise(r => setTimeout(r, ms));
const children = new Set(); // killed on failure

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

class Server {
  constructor(dir, port) { this.dir = dir; this.port = port; }
  start() {
    return withTimeout(new Promise((resolve, reject) => {
      this.proc = spawn(SOTTOD, ['--data', this.dir, '--listen', `127.0.0.1:${this.port}`], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.add(this.proc);
      let out = '';
      this.proc.stdout.on('data', d => {
        out += d;
        const m = out.match(/fingerprint ([0-9a-f]{64})/);
        if (m && out.includes('listening on')) { this.fingerprint = m[1]; resolve(); }
      });
      this.exited = new Promise(res => this.proc.on('exit', res));
      this.proc.on('error', reject);
    }), 'server start');
  }
  async kill() { this.proc.kill('SIGKILL'); await this.exited; }
}

function sotto(dir, args) {
  const env = { ...process.env, SOTTO_PASSPHRASE: 'pw-' + path.basename(dir) };
  const r = spawnSync(SOTTO, ['-c', dir, ...args], { env, encoding: 'utf8', timeout: STEP_TIMEOUT_MS });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

class Daemon {
  constructor(dir) { this.dir = dir; }
  async start() {
    const env = { ...process.env, SOTTO_PASSPHRASE: 'pw-' + path.basename(this.dir) };
    this.buf = ''; this.waiters = new Map(); this.nextId = 1; this.stderr = '';
    this.proc = spawn(SOTTO, ['-c', this.dir, 'daemon'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(this.proc);
    this.exited = new Promise(res => this.proc.on('exit', (code, sig) => res({ code, sig })));
    await withTimeout(new Promise((resolve) => this.proc.stderr.on('data', d => {
      this.stderr = (this.stderr + d).slice(-4000);
      if (this.stderr.includes('listening on')) resolve();
    })), `daemon ${this.dir} start`);
    this.sock = net.createConnection(path.join(this.dir, 'sotto.sock'));
    await new Promise((res, rej) => { this.sock.on('connect', res); this.sock.on('error', rej); });
    this.sock.setEncoding('utf8');
    this.sock.on('error', () => {});
    this.sock.on('close', () => { for (const [, w] of this.waiters) w.rej(new Error('daemon gone')); this.waiters.clear(); });
    this.sock.on('data', d => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const m = JSON.parse(this.buf.slice(0, i)); this.buf = this.buf.slice(i + 1);
        if (m.id !== undefined && this.waiters.has(m.id)) { this.waiters.get(m.id).res(m); this.waiters.delete(m.id); }
      }
    });
  }
  call(method, params) {
    const id = this.nextId++;
    const p = new Promise((res, rej) => this.waiters.set(id, { res, rej }));
    this.sock.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    return withTimeout(p, `rpc ${method}`);
  }
  async kill() { this.proc.kill('SIGKILL'); await this.exited; this.sock.destroy(); }
  async stop() { this.sock.end(); this.proc.kill('SIGTERM'); return withTimeout(this.exited, 'daemon stop'); }
}

const chains = {};
let restartError = null;
function restart(who, kill, start) {
  const delay = crypto.randomInt(15);
  chains[who] = (chains[who] || Promise.resolve())
    .then(() => sleep(delay)).then(kill).then(start)
    .catch(e => { restartError = restartError || new Error(`${who} restart: ${e.message}`); });
}

function plan(n, k) { // k random distinct positions in [1, n)
  const s = new Set();
  while (s.size < Math.min(k, n - 1)) s.add(1 + crypto.randomInt(n - 1));
  return s;
}

async function main() {
  const port = await freePort();
  const server = new Server(path.join(tmp, 'server'), port);
  await server.start();
  const url = `https://127.0.0.1:${port}`;
  const A = path.join(tmp, 'alice'), B = path.join(tmp, 'bob');
  const an = `alice${tag}`, bn = `bob${tag}`;
  for (const [d, n] of [[A, an], [B, bn]]) {
    const r = sotto(d, ['register', '--server', url, '--username', n, '--pin', server.fingerprint]);
    assert.equal(r.code, 0, r.err);
  }
  const alice = new Daemon(A), bob = new Daemon(B);
  await alice.start();
  await bob.start();
  const killServer = plan(N, KILLS_EACH), killAlice = plan(N, KILLS_EACH), killBob = plan(N, KILLS_EACH);
  let resent = 0, lookups = 0;
  const t0 = Date.now();
  for (let i = 0; i < N;) {
    const text = msgText(i);
    const p = alice.call('send', { recipient: bn, message: text });
    // Restarts of one process are chained, never overlapping; a failed one fails the test.
    if (killServer.delete(i)) restart('server', () => server.kill(), () => server.start());
    if (killBob.delete(i)) restart('bob', () => bob.kill(), () => bob.start());
    const aliceDies = killAlice.delete(i);
    if (aliceDies) setTimeout(() => alice.proc.kill('SIGKILL'), crypto.randomInt(15));
    try {
      const r = await p;
      assert.ok(r.result, JSON.stringify(r));
      if (aliceDies) await alice.exited.then(() => alice.sock.destroy());
      else { i++; continue; }
    } catch (e) {
      if (!aliceDies) throw e;
    }
    // Alice died around this request: restart, and send again only if the
    // message was never stored.
    await alice.exited;
    await alice.start();
    lookups++;
    const h = await alice.call('history', { username: bn, limit: 5 });
    if (h.result.some(m => m.message === text)) i++;
    else resent++;
  }
  await Promise.all(Object.values(chains));
  if (restartError) throw restartError;
  // Everything pending goes out on reconnect or the daemon's 30 s tick.
  const deadline = Date.now() + 180000;
  let got = [];
  while (Date.now() < deadline) {
    try {
      const h = await bob.call('history', { username: an, limit: 10000 });
      got = h.result;
      if (got.length >= N) break;
    } catch { /* bob restarting */ }
    await sleep(1000);
  }
  const ms = Date.now() - t0;
  await alice.stop();
  await bob.stop();
  server.proc.kill('SIGTERM');
  const inBob = JSON.parse('[' + sotto(B, ['history', '--json', an]).out.trim().split('\n').join(',') + ']');
  const texts = inBob.map(m => m.message);
  const want = Array.from({ length: N }, (_, i) => msgText(i));
  const missing = want.filter(t => !texts.includes(t));
  const dups = texts.filter((t, i) => texts.indexOf(t) !== i);
  assert.deepEqual({ missing: missing.slice(0, 5), dups: dups.slice(0, 5), count: texts.length },
                   { missing: [], dups: [], count: N }, 'every message exactly once');
  assert.deepEqual(texts, want, 'in order');
  const out = JSON.parse('[' + sotto(A, ['history', '--json', bn]).out.trim().split('\n').join(',') + ']');
  assert.equal(out.length, N);
  assert.ok(out.every(m => m.state === 'sent'), 'alice: all sent');
  console.log(`ok: ${N} messages exactly once in order through ${KILLS_EACH} SIGKILLs each of sottod, ` +
              `alice and bob (${lookups} history look-ups, ${resent} re-sent by the driver) in ${ms} ms`);
}

main().then(() => { fs.rmSync(tmp, { recursive: true, force: true }); process.exit(0); }, (e) => {
  console.error(e);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  console.error(`left ${tmp} for inspection`);
  process.exit(1);
});
