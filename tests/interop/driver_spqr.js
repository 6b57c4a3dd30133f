#!/usr/bin/env node
// SPQR epoch-advance driver: pairs two peers speaking the peer protocol
// (/work/shared/docs/peer-protocol.md) and checks that the sparse post-quantum ratchet moves
// to new epochs in both directions, read from the pq_ratchet field (0x01 || varint epoch ||
// ...) of every message each side sends. Each case runs twice, each side initiating, with
// fresh peers.
//
//   node driver_spqr.js --a "<cmd for peer A>" --b "<cmd for peer B>" [--case NAME[,NAME]]
//                       [--seed N] [--round-trips N] [--min-advances N]
//
// Cases:
//   pingpong  strict alternation, --round-trips round trips (300)
//   lossy     bursts of 1..3 messages each way; 10% of messages are dropped and the rest
//             delivered in blocks of 20 in shuffled order; every message that arrives
//             must decrypt to its plaintext
// Each needs the highest epoch sent by each side to reach 1 + --min-advances (3).
// Prints one line per case and initiator, then "N passed, M failed"; exits 1 on any failure.
'use strict';

const { spawn } = require('child_process');

const REPLY_TIMEOUT_MS = 60000;
const DEFAULTS = { roundTrips: 300, minAdvances: 3 };
const LOSSY = { dropPct: 10, window: 20, maxBurst: 3 };
const MAC_LEN = 8;
const DEVICE = 1;

class CheckError extends Error {}
function check(cond, msg) {
  if (!cond) throw new CheckError(msg);
}
const b64 = (u8) => Buffer.from(u8).toString('base64');
const unb64 = (s) => new Uint8Array(Buffer.from(s, 'base64'));

// mulberry32: the whole schedule derives from the seed.
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
  bytes(n) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
  shuffle(a) {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

// One peer process; requests pipelined, replies strictly in order.
class Peer {
  constructor(cmd, label) {
    this.label = label;
    this.proc = spawn('/bin/sh', ['-c', cmd], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.pending = [];
    this.buf = '';
    this.nextId = 1;
    this.dead = null;
    this.proc.stdout.on('data', (d) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const p = this.pending.shift();
        if (!p) continue;
        clearTimeout(p.timer);
        try {
          p.resolve(JSON.parse(line));
        } catch {
          p.reject(new CheckError(`${label}: reply is not JSON: ${line.slice(0, 120)}`));
        }
      }
    });
    this.exit = null;
    this.proc.on('exit', (code, sig) => {
      this.exit = { code, sig };
      this.dead = `${label} exited (${sig ?? code})`;
      for (const p of this.pending.splice(0)) p.reject(new CheckError(this.dead));
    });
  }
  call(req) {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(new CheckError(this.dead));
      const timer = setTimeout(() => reject(new CheckError(`${this.label}: no reply to ${req.cmd}`)), REPLY_TIMEOUT_MS);
      this.pending.push({ resolve, reject, timer });
      this.proc.stdin.write(JSON.stringify({ id: this.nextId++, ...req }) + '\n');
    });
  }
  async ok(req) {
    const r = await this.call(req);
    check(r.ok, `${this.label}: ${req.cmd} failed: ${r.error}`);
    return r;
  }
  // Closes stdin and waits for the exit; null, or why the exit was not clean (a sanitizer
  // or valgrind report at exit shows up as a non-zero status).
  stop() {
    const why = () => (this.exit.code === 0 ? null : `${this.label} exited with ${this.exit.sig ?? `status ${this.exit.code}`}`);
    return new Promise((resolve) => {
      if (this.exit) return resolve(why());
      this.proc.on('exit', () => resolve(why()));
      this.proc.stdin.end();
    });
  }
}

// Protobuf fields between start and end: [{field, valStart, valEnd}] (varints and bytes).
function protoFields(buf, start, end) {
  const out = [];
  let i = start;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      check(i < end, 'truncated varint');
      const b = buf[i++];
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
      mul *= 128;
    }
    throw new CheckError('long varint');
  };
  while (i < end) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wt = key & 7;
    if (wt === 0) {
      const s = i;
      varint();
      out.push({ field, valStart: s, valEnd: i });
    } else if (wt === 2) {
      const n = varint();
      check(i + n <= end, 'truncated field');
      out.push({ field, valStart: i, valEnd: i + n });
      i += n;
    } else {
      throw new CheckError(`wire type ${wt}`);
    }
  }
  return out;
}

// The SPQR epoch a message carries: type 3 (PreKey) wraps the SignalMessage in field 4;
// SignalMessage = version byte || protobuf || 8-byte MAC, pq_ratchet is field 5.
function spqrEpoch(type, ct) {
  let buf = ct;
  if (type === 3) {
    const inner = protoFields(ct, 1, ct.length).find((f) => f.field === 4);
    check(inner, 'PreKeySignalMessage without a message');
    buf = ct.slice(inner.valStart, inner.valEnd);
  }
  const pq = protoFields(buf, 1, buf.length - MAC_LEN).find((f) => f.field === 5);
  check(pq && pq.valEnd - pq.valStart >= 2 && buf[pq.valStart] === 1, 'message without a v1 pq_ratchet');
  let v = 0;
  let mul = 1;
  for (let i = pq.valStart + 1; i < pq.valEnd; i++) {
    v += (buf[i] & 0x7f) * mul;
    if (!(buf[i] & 0x80)) return v;
    mul *= 128;
  }
  throw new CheckError('pq_ratchet epoch does not parse');
}

async function setup(X, Y) {
  const x = { peer: X, name: 'alice' };
  const y = { peer: Y, name: 'bob' };
  await X.ok({ cmd: 'init', name: x.name, device: DEVICE });
  await Y.ok({ cmd: 'init', name: y.name, device: DEVICE });
  const { bundle } = await Y.ok({ cmd: 'bundle' });
  await X.ok({ cmd: 'process_bundle', peer: y.name, device: DEVICE, bundle });
  return [x, y];
}

// Encrypts n messages on `from` for `to`; records the epochs sent.
async function send(from, to, n, rng, stats) {
  const pts = Array.from({ length: n }, () => rng.bytes(1 + rng.int(64)));
  const replies = await Promise.all(
    pts.map((pt) => from.peer.call({ cmd: 'encrypt', peer: to.name, device: DEVICE, plaintext: b64(pt) })),
  );
  return replies.map((r, i) => {
    check(r.ok, `${from.peer.label}: encrypt failed: ${r.error}`);
    const ct = unb64(r.ciphertext);
    const e = spqrEpoch(r.type, ct);
    const s = stats[from.peer.label];
    s.max = Math.max(s.max, e);
    if (e !== s.last) s.changes.push(e);
    s.last = e;
    return { from, to, type: r.type, ct, pt: pts[i] };
  });
}

async function deliver(msgs) {
  const replies = await Promise.all(
    msgs.map((m) => m.to.peer.call({ cmd: 'decrypt', peer: m.from.name, device: DEVICE, type: m.type, ciphertext: b64(m.ct) })),
  );
  replies.forEach((r, i) => {
    const m = msgs[i];
    check(r.ok, `${m.to.peer.label}: decrypt failed: ${r.error}`);
    check(Buffer.from(unb64(r.plaintext)).equals(Buffer.from(m.pt)), `${m.to.peer.label}: wrong plaintext`);
  });
}

const CASES = {
  async pingpong(x, y, rng, stats, opts) {
    let turn = [x, y];
    for (let i = 0; i < 2 * opts.roundTrips; i++) {
      const [from, to] = turn;
      await deliver(await send(from, to, 1, rng, stats));
      turn = [to, from];
    }
  },
  async lossy(x, y, rng, stats, opts) {
    const queues = new Map([[x, []], [y, []]]);
    let yHeard = false;
    const flush = async (q, all) => {
      while (q.length >= LOSSY.window || (all && q.length > 0)) {
        const block = rng.shuffle(q.splice(0, LOSSY.window));
        const arrive = block.filter(() => rng.int(100) >= LOSSY.dropPct);
        await deliver(arrive);
        if (arrive.some((m) => m.to === y)) yHeard = true;
      }
    };
    for (let r = 0; r < opts.roundTrips; r++) {
      queues.get(x).push(...(await send(x, y, 1 + rng.int(LOSSY.maxBurst), rng, stats)));
      await flush(queues.get(x), r % 7 === 6);
      // The responder can only answer once some message of the initiator has arrived.
      if (!yHeard) continue;
      queues.get(y).push(...(await send(y, x, 1 + rng.int(LOSSY.maxBurst), rng, stats)));
      await flush(queues.get(y), r % 7 === 6);
    }
    await flush(queues.get(x), true);
    await flush(queues.get(y), true);
  },
};

async function runCase(name, cmdA, cmdB, aInitiates, seed, opts) {
  const A = new Peer(cmdA, 'A');
  const B = new Peer(cmdB, 'B');
  const [X, Y] = aInitiates ? [A, B] : [B, A];
  const stats = { A: { max: -1, last: -1, changes: [] }, B: { max: -1, last: -1, changes: [] } };
  const tag = `${name} (${X.label} initiates)`;
  const t0 = Date.now();
  let ok = false;
  try {
    const [x, y] = await setup(X, Y);
    await CASES[name](x, y, new Rng(seed), stats, opts);
    for (const p of ['A', 'B']) {
      check(stats[p].max >= 1 + opts.minAdvances,
        `${p}: highest SPQR epoch sent ${stats[p].max}, needed ${1 + opts.minAdvances}`);
    }
    ok = true;
  } catch (e) {
    if (!(e instanceof CheckError)) throw e;
    console.log(`FAIL ${tag}: ${e.message} (epochs sent so far: A ${stats.A.changes.join('>')}; B ${stats.B.changes.join('>')})`);
  }
  const exits = (await Promise.all([A.stop(), B.stop()])).filter((w) => w !== null);
  if (ok && exits.length > 0) {
    console.log(`FAIL ${tag}: ${exits.join('; ')}`);
    return false;
  }
  if (ok) {
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    console.log(`PASS ${tag} ${secs}s (SPQR epochs sent: A ${stats.A.changes.join('>')}; B ${stats.B.changes.join('>')})`);
  }
  return ok;
}

async function main() {
  const args = process.argv.slice(2);
  let cmdA = null, cmdB = null, cases = Object.keys(CASES), seed = (Date.now() & 0x7fffffff) >>> 0;
  const opts = { ...DEFAULTS };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = () => {
      if (i + 1 >= args.length) throw new Error(`${a} needs a value`);
      return args[++i];
    };
    if (a === '--a') cmdA = v();
    else if (a === '--b') cmdB = v();
    else if (a === '--case') cases = v().split(',');
    else if (a === '--seed') seed = Number(v()) >>> 0;
    else if (a === '--round-trips') opts.roundTrips = Number(v());
    else if (a === '--min-advances') opts.minAdvances = Number(v());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!cmdA || !cmdB) throw new Error('usage: node driver_spqr.js --a CMD --b CMD [--case NAME[,NAME]] [--seed N] [--round-trips N] [--min-advances N]');
  for (const c of cases) if (!CASES[c]) throw new Error(`unknown case ${c}`);
  console.log(`driver_spqr: seed ${seed}`);
  let pass = 0, fail = 0;
  for (const c of cases) {
    for (const aInitiates of [true, false]) {
      if (await runCase(c, cmdA, cmdB, aInitiates, seed, opts)) pass++;
      else fail++;
    }
  }
  console.log(`${pass} passed, ${fail} failed`);
  process.exit(fail === 0 ? 0 : 1);
}

main().catch((e) => {
  process.stderr.write(`driver_spqr: ${e.stack || e.message}\n`);
  process.exit(2);
});
