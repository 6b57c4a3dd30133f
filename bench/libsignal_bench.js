#!/usr/bin/env node
// Anchor: @signalapp/libsignal-client 0.103.0 (the real libsignal, through its
// Node binding), the same four figures as sotto-bench, in the same line format:
//     <figure> libsignal-client <µs per op>
// Loaded from tests/interop/node_modules. In-memory stores that keep record
// objects; prekeys are never deleted, so one bundle serves every setup op.
// Timing: process.hrtime.bigint() (monotonic), one warm-up batch, the median
// over batches of (batch time / ops).
//
//   node bench/libsignal_bench.js [--quick] [--cpu-time] [--batches B] [--scale F]
// --cpu-time: process CPU time (process.cpuUsage) instead of wall time.
'use strict';

const path = require('path');
const { pathToFileURL } = require('url');

const IMPL = 'libsignal-client';
const MSG_BYTES = 1024;
const SETUP_MSG_BYTES = 32;
const SPK_ID = 3;
const OPK_ID = 7;
const KPK_ID = 11;
const DEFAULT = { setup: 100, encrypt_1k: 2000, decrypt_1k: 2000, pingpong: 300, batches: 11 };
const QUICK = { setup: 2, encrypt_1k: 10, decrypt_1k: 10, pingpong: 4, batches: 1 };

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
    if (a === '--quick') cfg = { ...QUICK, cpu: cfg.cpu };
    else if (a === '--cpu-time') cfg.cpu = true;
    else if (a === '--batches' && i + 1 < argv.length) cfg.batches = Number(argv[++i]);
    else if (a === '--scale' && i + 1 < argv.length) {
      const s = Number(argv[++i]);
      for (const k of ['setup', 'encrypt_1k', 'decrypt_1k', 'pingpong']) cfg[k] = Math.max(1, Math.floor(cfg[k] * s));
    } else {
      throw new Error('usage: libsignal_bench.js [--quick] [--cpu-time] [--batches B] [--scale F]');
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

async function main() {
  const cfg = parseArgs(process.argv.slice(2));
  if (cfg.cpu) now = cpuNow;
  const lib = path.join(__dirname, '..', 'tests', 'interop', 'node_modules', '@signalapp', 'libsignal-client',
    'dist', 'index.js');
  const S = await import(pathToFileURL(lib).href);

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

main().catch((e) => {
  process.stderr.write(`libsignal_bench: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
