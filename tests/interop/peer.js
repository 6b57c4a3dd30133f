#!/usr/bin/env node
// Conformance peer backed by the real libsignal (@signalapp/libsignal-client 0.103.0).
//
// Speaks /work/shared/docs/peer-protocol.md: one JSON request per
// line on stdin, one JSON reply per line on stdout, strictly in order, "id" echoed.
// All stores are in memory. Every request runs in a transaction: whatever the library
// wrote to a store is rolled back if the request fails, so a failed request changes
// nothing. Driver-only extras (see README.md): save_session / load_session.
'use strict';

const readline = require('readline');

const DEFAULT_DEVICE = 1;
const MAX_REGISTRATION_ID = 16380;
const SIGNED_PREKEY_ID = 1;
const LAST_RESORT_KYBER_ID = 1; // one-time Kyber prekeys are numbered after it
const FINGERPRINT_ITERATIONS = 5200;
const FINGERPRINT_VERSION = 2;
const MAX_LINE = 16 * 1024 * 1024;

let S; // the libsignal module, loaded at start-up (it is an ES module)

// Deliberate faults, only for check-broken.js (proving the driver catches state bugs a
// reply rewriter cannot fake). Unset in every real pairing.
//   keep-prekeys    one-time EC and Kyber prekeys are never removed
//   trust-all       any identity is trusted, changed or not
//   pin-on-failure  a failed process_bundle still trusts the bundle's identity (first use)
const FAULTS = ['keep-prekeys', 'trust-all', 'pin-on-failure'];
const FAULT = process.env.INTEROP_PEER_FAULT || null;
if (FAULT && !FAULTS.includes(FAULT)) {
  process.stderr.write(`peer.js: unknown INTEROP_PEER_FAULT ${FAULT}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// Helpers

class RequestError extends Error {}

function fail(msg) {
  throw new RequestError(msg);
}

function b64(u8) {
  return Buffer.from(u8).toString('base64');
}

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// Strict standard base64 -> Uint8Array backed by its own ArrayBuffer.
function unb64(req, field, { optional = false } = {}) {
  const v = req[field];
  if (v === undefined || v === null) {
    if (optional) return null;
    fail(`missing field "${field}"`);
  }
  if (typeof v !== 'string') fail(`field "${field}" must be a base64 string`);
  if (!B64_RE.test(v)) fail(`field "${field}" is not valid base64`);
  const buf = Buffer.from(v, 'base64');
  const out = new Uint8Array(buf.length);
  out.set(buf);
  return out;
}

function str(req, field, { optional = false } = {}) {
  const v = req[field];
  if (v === undefined || v === null) {
    if (optional) return null;
    fail(`missing field "${field}"`);
  }
  if (typeof v !== 'string' || v.length === 0) fail(`field "${field}" must be a non-empty string`);
  return v;
}

function uint(req, field, { optional = false, min = 0, max = 0xffffffff } = {}) {
  const v = req[field];
  if (v === undefined || v === null) {
    if (optional) return null;
    fail(`missing field "${field}"`);
  }
  if (!Number.isInteger(v) || v < min || v > max) {
    fail(`field "${field}" must be an integer in [${min}, ${max}]`);
  }
  return v;
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function uuid(req, field) {
  const v = str(req, field);
  if (!UUID_RE.test(v)) fail(`field "${field}" must be a UUID string`);
  return v.toLowerCase();
}

function bytesEqual(a, b) {
  return Buffer.from(a).equals(Buffer.from(b));
}

// ---------------------------------------------------------------------------
// Transactional in-memory state

class Journal {
  constructor() {
    this.entries = [];
  }
  set(map, key, value) {
    this.entries.push([map, key, map.has(key), map.get(key)]);
    map.set(key, value);
  }
  delete(map, key) {
    if (!map.has(key)) return;
    this.entries.push([map, key, true, map.get(key)]);
    map.delete(key);
  }
  rollback() {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const [map, key, had, old] = this.entries[i];
      if (had) map.set(key, old);
      else map.delete(key);
    }
    this.entries = [];
  }
  commit() {
    this.entries = [];
  }
}

function addrKey(address) {
  return `${address.name()}\u0000${address.deviceId()}`;
}

// Records are kept serialized, so nothing the library holds aliases our state.
function makeStores(state) {
  const j = () => state.journal;

  class Sessions extends S.SessionStore {
    async saveSession(address, record) {
      j().set(state.sessions, addrKey(address), record.serialize());
    }
    async getSession(address) {
      const raw = state.sessions.get(addrKey(address));
      return raw ? S.SessionRecord.deserialize(raw) : null;
    }
    async getExistingSessions(addresses) {
      return addresses.map((a) => {
        const raw = state.sessions.get(addrKey(a));
        if (!raw) throw new Error(`no session for ${a.toString()}`);
        return S.SessionRecord.deserialize(raw);
      });
    }
  }

  class Identities extends S.IdentityKeyStore {
    async getIdentityKey() {
      return state.identity.privateKey;
    }
    async getLocalRegistrationId() {
      return state.registrationId;
    }
    // Trust on first use; a different key for a known address is never trusted.
    async saveIdentity(address, key) {
      const k = addrKey(address);
      const old = state.identities.get(k);
      const raw = key.serialize();
      if (old && bytesEqual(old, raw)) return S.IdentityChange.NewOrUnchanged;
      j().set(state.identities, k, raw);
      return old ? S.IdentityChange.ReplacedExisting : S.IdentityChange.NewOrUnchanged;
    }
    async isTrustedIdentity(address, key, _direction) {
      if (FAULT === 'trust-all') return true;
      const old = state.identities.get(addrKey(address));
      return !old || bytesEqual(old, key.serialize());
    }
    async getIdentity(address) {
      const raw = state.identities.get(addrKey(address));
      return raw ? S.PublicKey.deserialize(raw) : null;
    }
  }

  class PreKeys extends S.PreKeyStore {
    async savePreKey(id, record) {
      j().set(state.preKeys, id, record.serialize());
    }
    async getPreKey(id) {
      const raw = state.preKeys.get(id);
      if (!raw) throw new Error(`no prekey with id ${id}`);
      return S.PreKeyRecord.deserialize(raw);
    }
    async removePreKey(id) {
      if (FAULT === 'keep-prekeys') return;
      j().delete(state.preKeys, id);
    }
  }

  class SignedPreKeys extends S.SignedPreKeyStore {
    async saveSignedPreKey(id, record) {
      j().set(state.signedPreKeys, id, record.serialize());
    }
    async getSignedPreKey(id) {
      const raw = state.signedPreKeys.get(id);
      if (!raw) throw new Error(`no signed prekey with id ${id}`);
      return S.SignedPreKeyRecord.deserialize(raw);
    }
  }

  // One-time Kyber prekeys are removed once used. The last-resort one stays, but a
  // (signed prekey, base key) pair may use it only once.
  class KyberPreKeys extends S.KyberPreKeyStore {
    async saveKyberPreKey(id, record) {
      j().set(state.kyberPreKeys, id, record.serialize());
    }
    async getKyberPreKey(id) {
      const raw = state.kyberPreKeys.get(id);
      if (!raw) throw new Error(`no kyber prekey with id ${id}`);
      return S.KyberPreKeyRecord.deserialize(raw);
    }
    async markKyberPreKeyUsed(id, signedPreKeyId, baseKey) {
      if (id !== LAST_RESORT_KYBER_ID) {
        if (FAULT !== 'keep-prekeys') j().delete(state.kyberPreKeys, id);
        return;
      }
      const k = `${signedPreKeyId}:${b64(baseKey.serialize())}`;
      if (state.lastResortUses.has(k)) throw new Error('last-resort Kyber prekey reused with the same base key');
      j().set(state.lastResortUses, k, true);
    }
  }

  class SenderKeys extends S.SenderKeyStore {
    async saveSenderKey(sender, distributionId, record) {
      j().set(state.senderKeys, `${addrKey(sender)}\u0000${distributionId}`, record.serialize());
    }
    async getSenderKey(sender, distributionId) {
      const raw = state.senderKeys.get(`${addrKey(sender)}\u0000${distributionId}`);
      return raw ? S.SenderKeyRecord.deserialize(raw) : null;
    }
  }

  return {
    sessions: new Sessions(),
    identities: new Identities(),
    preKeys: new PreKeys(),
    signedPreKeys: new SignedPreKeys(),
    kyberPreKeys: new KyberPreKeys(),
    senderKeys: new SenderKeys(),
  };
}

function newState(name, device, registrationId) {
  const state = {
    name,
    device,
    registrationId,
    identity: S.IdentityKeyPair.generate(),
    sessions: new Map(),
    identities: new Map(),
    preKeys: new Map(),
    signedPreKeys: new Map(),
    kyberPreKeys: new Map(),
    senderKeys: new Map(),
    nextPreKeyId: 1,
    nextKyberPreKeyId: LAST_RESORT_KYBER_ID + 1,
    lastResortUses: new Map(),
    saved: new Map(),
    journal: new Journal(),
  };
  state.address = S.ProtocolAddress.new(name, device);
  state.stores = makeStores(state);

  const spk = S.PrivateKey.generate();
  const spkPub = spk.getPublicKey();
  const spkSig = state.identity.privateKey.sign(spkPub.serialize());
  state.signedPreKeys.set(
    SIGNED_PREKEY_ID,
    S.SignedPreKeyRecord.new(SIGNED_PREKEY_ID, Date.now(), spkPub, spk, spkSig).serialize(),
  );
  const lr = S.KEMKeyPair.generate();
  const lrSig = state.identity.privateKey.sign(lr.getPublicKey().serialize());
  state.kyberPreKeys.set(
    LAST_RESORT_KYBER_ID,
    S.KyberPreKeyRecord.new(LAST_RESORT_KYBER_ID, Date.now(), lr, lrSig).serialize(),
  );
  return state;
}

function makeBundle(state, withPreKey, lastResortKyber = false) {
  const spk = S.SignedPreKeyRecord.deserialize(state.signedPreKeys.get(SIGNED_PREKEY_ID));
  const bundle = {
    address: state.name,
    registrationId: state.registrationId,
    deviceId: state.device,
    identityKey: b64(state.identity.publicKey.serialize()),
    signedPreKeyId: SIGNED_PREKEY_ID,
    signedPreKey: b64(spk.publicKey().serialize()),
    signedPreKeySignature: b64(spk.signature()),
  };
  if (withPreKey) {
    const id = state.nextPreKeyId++;
    const priv = S.PrivateKey.generate();
    const pub = priv.getPublicKey();
    state.journal.set(state.preKeys, id, S.PreKeyRecord.new(id, pub, priv).serialize());
    bundle.preKeyId = id;
    bundle.preKey = b64(pub.serialize());
  }
  if (lastResortKyber) {
    const rec = S.KyberPreKeyRecord.deserialize(state.kyberPreKeys.get(LAST_RESORT_KYBER_ID));
    bundle.kyberPreKeyId = LAST_RESORT_KYBER_ID;
    bundle.kyberPreKey = b64(rec.publicKey().serialize());
    bundle.kyberPreKeySignature = b64(rec.signature());
    return bundle;
  }
  const kid = state.nextKyberPreKeyId++;
  const kp = S.KEMKeyPair.generate();
  const kpub = kp.getPublicKey().serialize();
  const ksig = state.identity.privateKey.sign(kpub);
  state.journal.set(state.kyberPreKeys, kid, S.KyberPreKeyRecord.new(kid, Date.now(), kp, ksig).serialize());
  bundle.kyberPreKeyId = kid;
  bundle.kyberPreKey = b64(kpub);
  bundle.kyberPreKeySignature = b64(ksig);
  return bundle;
}

function parseBundle(b) {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) fail('field "bundle" must be an object');
  const hasPreKey = b.preKeyId !== undefined && b.preKeyId !== null;
  const hasPreKeyPub = b.preKey !== undefined && b.preKey !== null;
  if (hasPreKey !== hasPreKeyPub) fail('bundle: preKeyId and preKey must be both present or both absent');
  const key = (f) => unb64(b, f);
  return S.PreKeyBundle.new(
    uint(b, 'registrationId'),
    uint(b, 'deviceId', { min: 1, max: 127 }),
    hasPreKey ? uint(b, 'preKeyId') : null,
    hasPreKey ? S.PublicKey.deserialize(key('preKey')) : null,
    uint(b, 'signedPreKeyId'),
    S.PublicKey.deserialize(key('signedPreKey')),
    key('signedPreKeySignature'),
    S.PublicKey.deserialize(key('identityKey')),
    uint(b, 'kyberPreKeyId'),
    S.KEMPublicKey.deserialize(key('kyberPreKey')),
    key('kyberPreKeySignature'),
  );
}

// ---------------------------------------------------------------------------
// Commands

let state = null;

function need() {
  if (!state) fail('not initialised: send "init" first');
  return state;
}

function peerAddress(req) {
  return S.ProtocolAddress.new(str(req, 'peer'), uint(req, 'device', { min: 1, max: 127 }));
}

const commands = {
  async init(req) {
    const name = str(req, 'name', { optional: true }) ?? 'peer';
    const device = uint(req, 'device', { optional: true, min: 1, max: 127 }) ?? DEFAULT_DEVICE;
    const regId =
      uint(req, 'registrationId', { optional: true, min: 1, max: MAX_REGISTRATION_ID }) ??
      1 + Math.floor(Math.random() * MAX_REGISTRATION_ID);
    const fresh = newState(name, device, regId);
    const bundle = makeBundle(fresh, true);
    fresh.journal.commit();
    state = fresh;
    return { bundle };
  },

  async bundle(req) {
    const st = need();
    for (const f of ['noPreKey', 'lastResortKyber']) {
      if (req[f] !== undefined && typeof req[f] !== 'boolean') fail(`field "${f}" must be a boolean`);
    }
    return { bundle: makeBundle(st, req.noPreKey !== true, req.lastResortKyber === true) };
  },

  async process_bundle(req) {
    const st = need();
    const addr = peerAddress(req);
    try {
      const bundle = parseBundle(req.bundle);
      await S.processPreKeyBundle(bundle, addr, st.address, st.stores.sessions, st.stores.identities);
    } catch (e) {
      const k = addrKey(addr);
      if (FAULT === 'pin-on-failure' && !st.identities.has(k) && typeof req.bundle?.identityKey === 'string') {
        st.identities.set(k, unb64(req.bundle, 'identityKey')); // outside the journal: survives
      }
      throw e;
    }
    return {};
  },

  async encrypt(req) {
    const st = need();
    const addr = peerAddress(req);
    const pt = unb64(req, 'plaintext');
    const msg = await S.signalEncrypt(pt, addr, st.address, st.stores.sessions, st.stores.identities);
    return { type: msg.type(), ciphertext: b64(msg.serialize()) };
  },

  async decrypt(req) {
    const st = need();
    const addr = peerAddress(req);
    const type = uint(req, 'type');
    const ct = unb64(req, 'ciphertext');
    let pt;
    if (type === S.CiphertextMessageType.PreKey) {
      const m = S.PreKeySignalMessage.deserialize(ct);
      pt = await S.signalDecryptPreKey(
        m, addr, st.address, st.stores.sessions, st.stores.identities,
        st.stores.preKeys, st.stores.signedPreKeys, st.stores.kyberPreKeys,
      );
    } else if (type === S.CiphertextMessageType.Whisper) {
      const m = S.SignalMessage.deserialize(ct);
      pt = await S.signalDecrypt(m, addr, st.address, st.stores.sessions, st.stores.identities);
    } else {
      fail(`unsupported message type ${type}`);
    }
    return { plaintext: b64(pt) };
  },

  async sign(req) {
    const st = need();
    return { signature: b64(st.identity.privateKey.sign(unb64(req, 'message'))) };
  },

  async verify(req) {
    const key = S.PublicKey.deserialize(unb64(req, 'key'));
    const msg = unb64(req, 'message');
    const sig = unb64(req, 'signature');
    return { valid: key.verify(msg, sig) };
  },

  async fingerprint(req) {
    const st = need();
    const iterations = uint(req, 'iterations', { optional: true, min: 1, max: 1000000 }) ?? FINGERPRINT_ITERATIONS;
    const version = uint(req, 'version', { optional: true }) ?? FINGERPRINT_VERSION;
    const fp = S.Fingerprint.new(
      iterations, version,
      unb64(req, 'localId'), st.identity.publicKey,
      unb64(req, 'remoteId'), S.PublicKey.deserialize(unb64(req, 'remoteKey')),
    );
    return {
      displayable: fp.displayableFingerprint().toString(),
      scannable: b64(fp.scannableFingerprint().toBuffer()),
    };
  },

  async group_create(req) {
    const st = need();
    const skdm = await S.SenderKeyDistributionMessage.create(st.address, uuid(req, 'distributionId'), st.stores.senderKeys);
    return { skdm: b64(skdm.serialize()) };
  },

  async group_process(req) {
    const st = need();
    const addr = peerAddress(req);
    const skdm = S.SenderKeyDistributionMessage.deserialize(unb64(req, 'skdm'));
    await S.processSenderKeyDistributionMessage(addr, skdm, st.stores.senderKeys);
    return {};
  },

  async group_encrypt(req) {
    const st = need();
    const msg = await S.groupEncrypt(st.address, uuid(req, 'distributionId'), st.stores.senderKeys, unb64(req, 'plaintext'));
    return { ciphertext: b64(msg.serialize()) };
  },

  async group_decrypt(req) {
    const st = need();
    const addr = peerAddress(req);
    const pt = await S.groupDecrypt(addr, st.stores.senderKeys, unb64(req, 'ciphertext'));
    return { plaintext: b64(pt) };
  },

  // Driver-only: serialize the session record for (peer, device), then replace the
  // record by what deserializing those bytes gives. Replies "session" (the bytes).
  async save_session(req) {
    const st = need();
    const k = addrKey(peerAddress(req));
    const raw = st.sessions.get(k);
    if (!raw) fail('no session for that address');
    const bytes = S.SessionRecord.deserialize(raw).serialize();
    st.journal.set(st.sessions, k, S.SessionRecord.deserialize(bytes).serialize());
    st.journal.set(st.saved, k, bytes);
    return { session: b64(bytes) };
  },

  // Driver-only: replace the session record for (peer, device) by deserializing
  // "session" (default: the bytes of the last save_session for that address).
  async load_session(req) {
    const st = need();
    const k = addrKey(peerAddress(req));
    let raw = unb64(req, 'session', { optional: true });
    if (!raw) raw = st.saved.get(k);
    if (!raw) fail('no saved record for that address: send save_session first or give "session"');
    st.journal.set(st.sessions, k, S.SessionRecord.deserialize(raw).serialize());
    return {};
  },
};

function errorText(e) {
  if (e && typeof e.message === 'string' && e.message.length > 0) return e.message;
  return String(e);
}

async function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    return { ok: false, error: `malformed JSON: ${errorText(e)}` };
  }
  if (typeof req !== 'object' || req === null || Array.isArray(req)) {
    return { ok: false, error: 'request must be a JSON object' };
  }
  const id = req.id;
  const reply = (obj) => (id === undefined ? obj : { id, ...obj });
  const fn = typeof req.cmd === 'string' && Object.hasOwn(commands, req.cmd) ? commands[req.cmd] : null;
  if (!fn) return reply({ ok: false, error: `unknown command ${JSON.stringify(req.cmd ?? null)}` });
  const journal = state ? state.journal : null;
  try {
    const out = await fn(req);
    if (journal) journal.commit();
    return reply({ ok: true, ...out });
  } catch (e) {
    if (journal) journal.rollback();
    return reply({ ok: false, error: errorText(e) });
  }
}

async function main() {
  S = await import('@signalapp/libsignal-client');
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const out = [];
  let flushScheduled = false;
  const flush = () => {
    flushScheduled = false;
    if (out.length) process.stdout.write(out.splice(0).join(''));
  };
  for await (const line of rl) {
    let reply;
    if (line.length > MAX_LINE) reply = { ok: false, error: 'request too long' };
    else if (line.trim().length === 0) continue;
    else reply = await handle(line);
    out.push(JSON.stringify(reply) + '\n');
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }
  flush();
}

// The driver went away: nothing left to answer.
process.stdout.on('error', () => process.exit(0));

process.on('uncaughtException', (e) => {
  process.stderr.write(`peer.js: uncaught: ${e && e.stack ? e.stack : e}\n`);
});

main().catch((e) => {
  process.stderr.write(`peer.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
