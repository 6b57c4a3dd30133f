#!/usr/bin/env node
// Anchor: @signalapp/libsignal-client 0.103.0 (the real libsignal, through its
// Node binding), the same four figures as sotto-bench, in the same line format:
//     <figure> libsignal-client <µs per op>
// Loaded from tests/interop/node_modules. In-memory stores that keep record
// objects; prekeys are never deleted, so one bundle serves every setup op.
// Timing: process.hrtime.bigint() (monotonic), one warm-up batch, the median
// over batches of (batch time / ops).
//
//   node bench/libsignal_bench.js [--quick] [--cpu-time] [--batches B] [--scale F] [--figure epoch]
//                                 [--layers]
// epoch: µs per full SPQR epoch of a 1 KiB ping-pong and messages per epoch
//   ("epoch libsignal-client <µs>", "epoch_msgs libsignal-client <n>"), the
//   epochs read from the messages' pq_ratchet field; --figure epoch: only it.
// --cpu-time: process CPU time (process.cpuUsage) instead of wall time.
// --layers: instead, the group, sealed sender and fingerprint figures of
//   sotto-bench --layers, each as "<figure> libsignal-client <wall µs>" and
//   "cpu <figure> libsignal-client <process CPU µs>".
'use strict';

const path = require('path');
const { pathToFileURL } = require('url');

const IMPL = 'libsignal-client';
const MSG_BYTES = 1024;
const SETUP_MSG_BYTES = 32;
const SPK_ID = 3;
const OPK_ID = 7;
const KPK_ID = 11;
// epoch: SPQR epoch advances per batch (bench.h BENCH_EPOCH_PER_BATCH).
const DEFAULT = { setup: 100, encrypt_1k: 2000, decrypt_1k: 2000, pingpong: 300, epoch: 5, batches: 11 };
const QUICK = { setup: 2, encrypt_1k: 10, decrypt_1k: 10, pingpong: 4, epoch: 1, batches: 1 };
const EPOCH_MAX_MSGS = 100000; // bench.h BENCH_EPOCH_MAX_MSGS
const MAC_LEN = 8;
// The layers figures (bench/layers.c has the same counts).
const LAYERS = { group_enc_1k: 2000, group_dec_1k: 2000, seal_v1: 1000, unseal_v1: 1000, seal_v2_10: 100,
  seal_v2_100: 20, fingerprint: 20 };
const NOW_MS = 1700000000000;
const EXPIRES_MS = NOW_MS + 86400000;

// Nanoseconds (BigInt) from a monotonic clock, or process CPU time.
let now = () => process.hrtime.bigint();
const cpuNow = () => {
  const u = process.cpuUsage();
  return BigInt(u.user + u.system) * 1000n;
};

function parseArgs(argv) {
  let cfg = { ...DEFAULT };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') cfg = { ...QUICK, cpu: cfg.cpu, layers: cfg.layers, quick: true };
    else if (a === '--layers') cfg.layers = true;
    else if (a === '--figure' && i + 1 < argv.length && argv[i + 1] === 'epoch') { cfg.epochOnly = true; i++; }
    else if (a === '--cpu-time') cfg.cpu = true;
    else if (a === '--batches' && i + 1 < argv.length) cfg.batches = Number(argv[++i]);
    else if (a === '--scale' && i + 1 < argv.length) {
      const s = Number(argv[++i]);
      for (const k of ['setup', 'encrypt_1k', 'decrypt_1k', 'pingpong']) cfg[k] = Math.max(1, Math.floor(cfg[k] * s));
      cfg.scale = s;
    } else {
      throw new Error('usage: libsignal_bench.js [--quick] [--cpu-time] [--batches B] [--scale F] [--figure epoch] [--layers]');
    }
  }
  if (!(Number.isInteger(cfg.batches) && cfg.batches >= 1 && cfg.batches <= 101)) throw new Error('bad --batches');
  return cfg;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// fn(n) runs one batch of n ops and returns its timed nanoseconds (BigInt).
async function measure(fn, iters, batches) {
  await fn(iters); // warm-up
  const per = [];
  for (let b = 0; b < batches; b++) per.push(Number(await fn(iters)) / 1000 / iters);
  return median(per);
}

// The SPQR epoch a serialized SignalMessage carries (version byte, protobuf,
// 8-byte MAC; field 5 pq_ratchet = 0x01 || varint epoch || ...), or -1; as
// ours.c message_epoch and tests/interop/driver.js spqrEpoch.
function readVarint(buf, at, end) {
  let v = 0, mul = 1;
  while (at < end) {
    const b = buf[at++];
    v += (b & 0x7f) * mul;
    if (!(b & 0x80)) return [v, at];
    mul *= 128;
    if (mul > 2 ** 56) break;
  }
  return [-1, at];
}
function messageEpoch(ct) {
  const end = ct.length - MAC_LEN;
  let at = 1;
  while (at < end) {
    let key, len;
    [key, at] = readVarint(ct, at, end);
    if (key < 0) return -1;
    const field = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) {
      let v;
      [v, at] = readVarint(ct, at, end);
      if (v < 0) return -1;
    } else if (wire === 2) {
      [len, at] = readVarint(ct, at, end);
      if (len < 0 || len > end - at) return -1;
      if (field === 5) return len >= 2 && ct[at] === 1 ? readVarint(ct, at + 1, at + len)[0] : -1;
      at += len;
    } else {
      return -1;
    }
  }
  return -1;
}

function report(fig, us) {
  process.stdout.write(`${fig} ${IMPL} ${us.toFixed(2)}\n`);
}

function makeUser(S, name, regId) {
  const u = {
    name,
    regId,
    identity: S.IdentityKeyPair.generate(),
    address: S.ProtocolAddress.new(name, 1),
    sessions: new Map(),
    preKeys: new Map(),
    signedPreKeys: new Map(),
    kyberPreKeys: new Map(),
  };
  const key = (a) => `${a.name()}.${a.deviceId()}`;
  u.sessionStore = new (class extends S.SessionStore {
    async saveSession(a, r) { u.sessions.set(key(a), r); }
    async getSession(a) { return u.sessions.get(key(a)) ?? null; }
    async getExistingSessions(as) { return as.map((a) => u.sessions.get(key(a))); }
  })();
  u.identityStore = new (class extends S.IdentityKeyStore {
    async getIdentityKey() { return u.identity.privateKey; }
    async getLocalRegistrationId() { return u.regId; }
    async saveIdentity() { return S.IdentityChange.NewOrUnchanged; }
    async isTrustedIdentity() { return true; }
    async getIdentity() { return null; }
  })();
  u.preKeyStore = new (class extends S.PreKeyStore {
    async savePreKey(id, r) { u.preKeys.set(id, r); }
    async getPreKey(id) { return u.preKeys.get(id); }
    async removePreKey() {} // kept: every setup op reuses the bundle
  })();
  u.signedPreKeyStore = new (class extends S.SignedPreKeyStore {
    async saveSignedPreKey(id, r) { u.signedPreKeys.set(id, r); }
    async getSignedPreKey(id) { return u.signedPreKeys.get(id); }
  })();
  u.kyberPreKeyStore = new (class extends S.KyberPreKeyStore {
    async saveKyberPreKey(id, r) { u.kyberPreKeys.set(id, r); }
    async getKyberPreKey(id) { return u.kyberPreKeys.get(id); }
    async markKyberPreKeyUsed() {} // kept, as above
  })();
  return u;
}

function makeBundle(S, bob) {
  const ts = Date.now();
  const spk = S.PrivateKey.generate();
  const spkSig = bob.identity.privateKey.sign(spk.getPublicKey().serialize());
  bob.signedPreKeys.set(SPK_ID, S.SignedPreKeyRecord.new(SPK_ID, ts, spk.getPublicKey(), spk, spkSig));
  const opk = S.PrivateKey.generate();
  bob.preKeys.set(OPK_ID, S.PreKeyRecord.new(OPK_ID, opk.getPublicKey(), opk));
  const kp = S.KEMKeyPair.generate();
  const kSig = bob.identity.privateKey.sign(kp.getPublicKey().serialize());
  bob.kyberPreKeys.set(KPK_ID, S.KyberPreKeyRecord.new(KPK_ID, ts, kp, kSig));
  return S.PreKeyBundle.new(
    bob.regId, 1, OPK_ID, opk.getPublicKey(), SPK_ID, spk.getPublicKey(), spkSig,
    bob.identity.publicKey, KPK_ID, kp.getPublicKey(), kSig,
  );
}

// Protobuf UnidentifiedSenderMessageContent {type, cert, content, hint}: the
// Node API builds one only from a CiphertextMessage.
function varint(n) {
  const out = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}
function usmcBytes(type, cert, content, hint) {
  const parts = [];
  const field = (num, wire, body) => parts.push(Buffer.from(varint(num * 8 + wire)), body);
  field(1, 0, Buffer.from(varint(type)));
  field(2, 2, Buffer.concat([Buffer.from(varint(cert.length)), Buffer.from(cert)]));
  field(3, 2, Buffer.concat([Buffer.from(varint(content.length)), Buffer.from(content)]));
  field(4, 0, Buffer.from(varint(hint)));
  return new Uint8Array(Buffer.concat(parts));
}

// Paired wall and CPU medians of fn(i), n ops a batch; pre(n) runs before
// the clocks start.
async function measureBoth(fig, n, batches, fn, pre) {
  const wall = [], cpu = [];
  for (let b = 0; b <= batches; b++) {
    if (pre) await pre(n);
    const w0 = process.hrtime.bigint(), c0 = cpuNow();
    for (let i = 0; i < n; i++) await fn(i);
    const c = Number(cpuNow() - c0) / 1000 / n, w = Number(process.hrtime.bigint() - w0) / 1000 / n;
    if (b > 0) { wall.push(w); cpu.push(c); } // batch 0 is the warm-up
  }
  process.stdout.write(`${fig} ${IMPL} ${median(wall).toFixed(2)}\ncpu ${fig} ${IMPL} ${median(cpu).toFixed(2)}\n`);
}

async function layers(S, cfg) {
  const iters = {};
  for (const [k, v] of Object.entries(LAYERS)) iters[k] = cfg.quick ? 2 : Math.max(1, Math.floor(v * (cfg.scale ?? 1)));
  const msg = new Uint8Array(MSG_BYTES).map((_, i) => i & 0xff);
  const crypto = require('crypto');

  // group: a sends (encrypt figure); b's chain is known to r (decrypt figure)
  const senderKeyStore = () => {
    const m = new Map();
    return new (class extends S.SenderKeyStore {
      async saveSenderKey(s, d, r) { m.set(`${s.name()}.${s.deviceId()}.${d}`, r); }
      async getSenderKey(s, d) { return m.get(`${s.name()}.${s.deviceId()}.${d}`) ?? null; }
    })();
  };
  const dist = crypto.randomUUID();
  const ga = S.ProtocolAddress.new('group-a', 1), gb = S.ProtocolAddress.new('group-b', 1);
  const gaStore = senderKeyStore(), gbStore = senderKeyStore(), grStore = senderKeyStore();
  await S.SenderKeyDistributionMessage.create(ga, dist, gaStore);
  const skdm = await S.SenderKeyDistributionMessage.create(gb, dist, gbStore);
  await S.processSenderKeyDistributionMessage(gb, S.SenderKeyDistributionMessage.deserialize(skdm.serialize()), grStore);
  await measureBoth('group_enc_1k', iters.group_enc_1k, cfg.batches,
    async () => (await S.groupEncrypt(ga, dist, gaStore, msg)).serialize());
  let pending = [];
  await measureBoth('group_dec_1k', iters.group_dec_1k, cfg.batches, async (i) => {
    const pt = await S.groupDecrypt(gb, grStore, pending[i]);
    if (pt.length !== MSG_BYTES) throw new Error('group: decrypted the wrong length');
  }, async (n) => {
    pending = [];
    for (let i = 0; i < n; i++) pending.push((await S.groupEncrypt(gb, dist, gbStore, msg)).serialize());
  });

  // sealed sender: trust root -> server certificate -> sender certificate
  const root = S.PrivateKey.generate(), server = S.PrivateKey.generate();
  const senderUser = makeUser(S, '9d0652a3-dcc3-4d11-975f-74d61598733f', 1);
  const recipientUser = makeUser(S, 'recipient', 2);
  const identities = new Map();
  senderUser.identityStore = new (class extends S.IdentityKeyStore {
    async getIdentityKey() { return senderUser.identity.privateKey; }
    async getLocalRegistrationId() { return senderUser.regId; }
    async saveIdentity(a, k) { identities.set(`${a.name()}.${a.deviceId()}`, k); return S.IdentityChange.NewOrUnchanged; }
    async isTrustedIdentity() { return true; }
    async getIdentity(a) { return identities.get(`${a.name()}.${a.deviceId()}`) ?? null; }
  })();
  const sc = S.ServerCertificate.new(7, server.getPublicKey(), root);
  const cert = S.SenderCertificate.new(senderUser.name, '+14155550100', 3, senderUser.identity.publicKey, EXPIRES_MS, sc,
    server);
  const usmc = S.UnidentifiedSenderMessageContent.deserialize(usmcBytes(2, cert.serialize(), msg, 1));
  identities.set('recipient.1', recipientUser.identity.publicKey);
  const trustRoot = root.getPublicKey();
  await measureBoth('seal_v1', iters.seal_v1, cfg.batches,
    async () => S.sealedSenderEncrypt(usmc, recipientUser.address, senderUser.identityStore));
  const v1 = await S.sealedSenderEncrypt(usmc, recipientUser.address, senderUser.identityStore);
  await measureBoth('unseal_v1', iters.unseal_v1, cfg.batches, async () => {
    const u = await S.sealedSenderDecryptToUsmc(v1, recipientUser.identityStore);
    if (!u.senderCertificate().validate(trustRoot, NOW_MS)) throw new Error('unseal: certificate not valid');
    if (u.contents().length !== MSG_BYTES) throw new Error('unseal: wrong length');
  });

  // v2: a session with each recipient (bundles processed before timing)
  const addrs = [];
  for (let i = 0; i < 100; i++) {
    const u = makeUser(S, crypto.randomUUID(), 100 + i);
    await S.processPreKeyBundle(makeBundle(S, u), u.address, senderUser.address, senderUser.sessionStore,
      senderUser.identityStore);
    addrs.push(u.address);
  }
  for (const k of [10, 100]) {
    const to = addrs.slice(0, k);
    await measureBoth(`seal_v2_${k}`, iters[`seal_v2_${k}`], cfg.batches,
      async () => S.sealedSenderMultiRecipientEncrypt(usmc, to, senderUser.identityStore, senderUser.sessionStore));
  }

  const idA = crypto.randomBytes(16), idB = crypto.randomBytes(16);
  await measureBoth('fingerprint', iters.fingerprint, cfg.batches, async () => {
    const fp = S.Fingerprint.new(5200, 2, idA, senderUser.identity.publicKey, idB, recipientUser.identity.publicKey);
    fp.displayableFingerprint().toString();
    fp.scannableFingerprint().toBuffer();
  });
}

async function main() {
  const cfg = parseArgs(process.argv.slice(2));
  if (cfg.cpu) now = cpuNow;
  const lib = path.join(__dirname, '..', 'tests', 'interop', 'node_modules', '@signalapp', 'libsignal-client',
    'dist', 'index.js');
  const S = await import(pathToFileURL(lib).href);
  if (cfg.layers) return layers(S, cfg);

  const alice = makeUser(S, 'alice', 2424);
  const bob = makeUser(S, 'bob', 4242);
  const bundle = makeBundle(S, bob);
  const msg = new Uint8Array(MSG_BYTES).map((_, i) => i & 0xff);
  const setupMsg = msg.subarray(0, SETUP_MSG_BYTES);

  const encrypt = (from, to, pt) =>
    S.signalEncrypt(pt, to.address, from.address, from.sessionStore, from.identityStore);
  const decrypt = async (to, from, ct) => {
    if (ct.type() === S.CiphertextMessageType.PreKey) {
      return S.signalDecryptPreKey(
        S.PreKeySignalMessage.deserialize(ct.serialize()), from.address, to.address, to.sessionStore,
        to.identityStore, to.preKeyStore, to.signedPreKeyStore, to.kyberPreKeyStore,
      );
    }
    return S.signalDecrypt(S.SignalMessage.deserialize(ct.serialize()), from.address, to.address,
      to.sessionStore, to.identityStore);
  };
  const send = async (from, to, pt) => {
    const out = await decrypt(to, from, await encrypt(from, to, pt));
    if (out.length !== pt.length) throw new Error('decrypted the wrong length');
  };
  const handshake = async (firstMsg, reply) => {
    alice.sessions.clear();
    bob.sessions.clear();
    await S.processPreKeyBundle(bundle, bob.address, alice.address, alice.sessionStore, alice.identityStore);
    await send(alice, bob, firstMsg);
    if (reply) await send(bob, alice, msg);
  };

  if (!cfg.epochOnly) {
    report('setup', await measure(async (n) => {
      const t0 = now();
      for (let i = 0; i < n; i++) await handshake(setupMsg, false);
      return now() - t0;
    }, cfg.setup, cfg.batches));

    await handshake(msg, true);
    report('encrypt_1k', await measure(async (n) => {
      const t0 = now();
      for (let i = 0; i < n; i++) {
        const ct = await encrypt(alice, bob, msg);
        ct.serialize();
      }
      return now() - t0;
    }, cfg.encrypt_1k, cfg.batches));

    await handshake(msg, true);
    report('decrypt_1k', await measure(async (n) => {
      const cts = [];
      for (let i = 0; i < n; i++) cts.push((await encrypt(alice, bob, msg)).serialize());
      const t0 = now();
      for (const ct of cts) {
        await S.signalDecrypt(S.SignalMessage.deserialize(ct), alice.address, bob.address, bob.sessionStore,
          bob.identityStore);
      }
      return now() - t0;
    }, cfg.decrypt_1k, cfg.batches));

    let bobTurn = true; // Bob answers Alice's last chain: every message a ratchet step
    report('pingpong', await measure(async (n) => {
      const t0 = now();
      for (let i = 0; i < n; i++) {
        if (bobTurn) await send(bob, alice, msg);
        else await send(alice, bob, msg);
        bobTurn = !bobTurn;
      }
      return now() - t0;
    }, cfg.pingpong, cfg.batches));
  }

  // epoch: fresh sessions, ping-pong until the highest SPQR epoch either side
  // sends advances, one warm-up batch, then batches of cfg.epoch advances,
  // each timed from right after an advancing message to right after the
  // message that completes its advances (as ours.c bench_sotto_epoch).
  await handshake(msg, true);
  let top = -1, turn = false; // Alice first: Bob replied last
  const epochBatch = async (k) => {
    const goal = top + k;
    let n = 0;
    const t0 = now();
    while (top < goal) {
      if (n >= EPOCH_MAX_MSGS) throw new Error('epoch: SPQR epoch did not advance');
      const [from, to] = turn ? [bob, alice] : [alice, bob];
      const ct = await encrypt(from, to, msg);
      const bytes = ct.serialize();
      const e = ct.type() === S.CiphertextMessageType.Whisper ? messageEpoch(bytes) : -1;
      const out = await decrypt(to, from, ct);
      if (out.length !== msg.length) throw new Error('decrypted the wrong length');
      turn = !turn;
      n++;
      if (e > top) top = e;
    }
    return { ns: now() - t0, n };
  };
  await epochBatch(1);
  await epochBatch(cfg.epoch);
  const us = [];
  let msgs = 0, epochs = 0;
  for (let b = 0; b < cfg.batches; b++) {
    const before = top;
    const { ns, n } = await epochBatch(cfg.epoch);
    us.push(Number(ns) / 1000 / (top - before));
    msgs += n;
    epochs += top - before;
  }
  report('epoch', median(us));
  process.stdout.write(`epoch_msgs ${IMPL} ${(msgs / epochs).toFixed(1)}\n`);
}

main().catch((e) => {
  process.stderr.write(`libsignal_bench: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
