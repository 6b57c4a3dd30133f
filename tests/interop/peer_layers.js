#!/usr/bin/env node
// Layers peer backed by the real libsignal (@signalapp/libsignal-client 0.103.0): the
// commands of docs/PEER-LAYERS.md (sender keys with rotation, sealed sender v1/v2,
// certificates, server fan-out, fingerprints) over the JSON-lines protocol of
// docs/peer-protocol.md. Kept apart from peer.js (the 1:1 reference peer); it holds
// just enough 1:1 state (process_bundle) for libsignal's multi-recipient sealed sender,
// which reads each recipient's registration id from a session.
'use strict';
const readline = require('readline');

const DEFAULT_DEVICE = 1;
const FINGERPRINT_ITERATIONS = 5200;
const FINGERPRINT_VERSION = 2;
const PROTO_TYPE = { 3: 1, 2: 2, 7: 7, 8: 8 }; // CiphertextMessageType -> USMC proto Type
let S;
let SSMRM; // SealedSenderMultiRecipientMessage (its own module in the package)

class RequestError extends Error {}
const fail = (m) => { throw new RequestError(m); };
const b64 = (u8) => Buffer.from(u8).toString('base64');
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
function bytes(v, field) {
  if (typeof v !== 'string' || !B64_RE.test(v)) fail(`field "${field}" must be base64`);
  const b = Buffer.from(v, 'base64');
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}
const unb64 = (req, f, opt = false) => (req[f] === undefined || req[f] === null ? (opt ? null : fail(`missing field "${f}"`)) : bytes(req[f], f));
function uint(req, f, { optional = false, min = 0, max = 0xffffffff } = {}) {
  const v = req[f];
  if (v === undefined || v === null) return optional ? null : fail(`missing field "${f}"`);
  if (!Number.isInteger(v) || v < min || v > max) fail(`field "${f}" must be an integer in [${min}, ${max}]`);
  return v;
}
function str(req, f, optional = false) {
  const v = req[f];
  if (v === undefined || v === null) return optional ? null : fail(`missing field "${f}"`);
  if (typeof v !== 'string' || v.length === 0) fail(`field "${f}" must be a non-empty string`);
  return v;
}
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
function uuid(req, f) {
  const v = str(req, f);
  if (!UUID_RE.test(v)) fail(`field "${f}" must be a UUID string`);
  return v.toLowerCase();
}

// Minimal protobuf writer for UnidentifiedSenderMessageContent (libsignal's Node API only
// builds one from a CiphertextMessage; the layers peer seals arbitrary content).
function varint(n) {
  const out = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}
function usmcBytes(type, cert, content, hint, groupId) {
  const parts = [];
  const field = (num, wire, body) => parts.push(Buffer.from(varint(num * 8 + wire)), body);
  field(1, 0, Buffer.from(varint(type)));
  field(2, 2, Buffer.concat([Buffer.from(varint(cert.length)), Buffer.from(cert)]));
  field(3, 2, Buffer.concat([Buffer.from(varint(content.length)), Buffer.from(content)]));
  if (hint) field(4, 0, Buffer.from(varint(hint)));
  if (groupId && groupId.length) field(5, 2, Buffer.concat([Buffer.from(varint(groupId.length)), Buffer.from(groupId)]));
  const b = Buffer.concat(parts);
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

let st = null;
const need = () => st || fail('not initialised: send "init" first');
const addrKey = (a) => `${a.name()}\u0000${a.deviceId()}`;

function stores(state) {
  class Identities extends S.IdentityKeyStore {
    async getIdentityKey() { return state.identity.privateKey; }
    async getLocalRegistrationId() { return state.registrationId; }
    async saveIdentity(a, k) { state.identities.set(addrKey(a), k.serialize()); return S.IdentityChange.NewOrUnchanged; }
    async isTrustedIdentity() { return true; }
    async getIdentity(a) { const r = state.identities.get(addrKey(a)); return r ? S.PublicKey.deserialize(r) : null; }
  }
  class Sessions extends S.SessionStore {
    async saveSession(a, r) { state.sessions.set(addrKey(a), r.serialize()); }
    async getSession(a) { const r = state.sessions.get(addrKey(a)); return r ? S.SessionRecord.deserialize(r) : null; }
    async getExistingSessions(as) {
      return as.map((a) => { const r = state.sessions.get(addrKey(a)); if (!r) throw new Error(`no session for ${a.toString()}`); return S.SessionRecord.deserialize(r); });
    }
  }
  class SenderKeys extends S.SenderKeyStore {
    async saveSenderKey(s, d, r) { state.senderKeys.set(`${addrKey(s)}\u0000${d}`, r.serialize()); }
    async getSenderKey(s, d) { const r = state.senderKeys.get(`${addrKey(s)}\u0000${d}`); return r ? S.SenderKeyRecord.deserialize(r) : null; }
  }
  return { identities: new Identities(), sessions: new Sessions(), senderKeys: new SenderKeys() };
}

const peerAddress = (req) => S.ProtocolAddress.new(str(req, 'peer'), uint(req, 'device', { optional: true, min: 1, max: 127 }) ?? DEFAULT_DEVICE);

function parseBundle(b) {
  if (typeof b !== 'object' || b === null) fail('field "bundle" must be an object');
  const hasPre = b.preKeyId !== undefined && b.preKeyId !== null;
  return S.PreKeyBundle.new(
    uint(b, 'registrationId'), uint(b, 'deviceId', { min: 1, max: 127 }),
    hasPre ? uint(b, 'preKeyId') : null, hasPre ? S.PublicKey.deserialize(unb64(b, 'preKey')) : null,
    uint(b, 'signedPreKeyId'), S.PublicKey.deserialize(unb64(b, 'signedPreKey')), unb64(b, 'signedPreKeySignature'),
    S.PublicKey.deserialize(unb64(b, 'identityKey')), uint(b, 'kyberPreKeyId'),
    S.KEMPublicKey.deserialize(unb64(b, 'kyberPreKey')), unb64(b, 'kyberPreKeySignature'));
}

function unsealedReply(usmc) {
  const cert = usmc.senderCertificate();
  const out = {
    msgType: usmc.msgType(), content: b64(usmc.contents()), contentHint: usmc.contentHint(),
    senderUuid: cert.senderUuid(), senderDevice: cert.senderDeviceId(), senderKey: b64(cert.key().serialize()),
  };
  if (cert.senderE164()) out.senderE164 = cert.senderE164();
  const g = usmc.groupId();
  if (g && g.length) out.groupId = b64(g);
  return out;
}

const commands = {
  async init(req) {
    const name = str(req, 'name', true) ?? 'layers';
    const device = uint(req, 'device', { optional: true, min: 1, max: 127 }) ?? DEFAULT_DEVICE;
    const registrationId = uint(req, 'registrationId', { optional: true, min: 1, max: 16380 }) ?? 1 + Math.floor(Math.random() * 16380);
    const s = { name, device, registrationId, identity: S.IdentityKeyPair.generate(), identities: new Map(), sessions: new Map(), senderKeys: new Map() };
    s.address = S.ProtocolAddress.new(name, device);
    s.stores = stores(s);
    st = s;
    return { identityKey: b64(s.identity.publicKey.serialize()), registrationId, deviceId: device };
  },
  async process_bundle(req) {
    const s = need();
    await S.processPreKeyBundle(parseBundle(req.bundle), peerAddress(req), s.address, s.stores.sessions, s.stores.identities);
    return {};
  },
  async fingerprint(req) {
    const s = need();
    const fp = S.Fingerprint.new(
      uint(req, 'iterations', { optional: true, min: 1 }) ?? FINGERPRINT_ITERATIONS,
      uint(req, 'version', { optional: true }) ?? FINGERPRINT_VERSION,
      unb64(req, 'localId'), s.identity.publicKey, unb64(req, 'remoteId'), S.PublicKey.deserialize(unb64(req, 'remoteKey')));
    return { displayable: fp.displayableFingerprint().toString(), scannable: b64(fp.scannableFingerprint().toBuffer()) };
  },
  async fingerprint_compare(req) {
    const s = need();
    const fp = S.Fingerprint.new(FINGERPRINT_ITERATIONS, uint(req, 'version', { optional: true }) ?? FINGERPRINT_VERSION,
      unb64(req, 'localId'), s.identity.publicKey, unb64(req, 'remoteId'), S.PublicKey.deserialize(unb64(req, 'remoteKey')));
    try {
      return { result: fp.scannableFingerprint().compare(S.ScannableFingerprint._fromBuffer(unb64(req, 'theirs'))) ? 'match' : 'mismatch' };
    } catch (e) {
      if (/version/i.test(String(e.message))) return { result: 'version mismatch' };
      throw e;
    }
  },
  async group_create(req) {
    const s = need();
    const d = uuid(req, 'distributionId');
    if (req.rotate === true) s.senderKeys.delete(`${addrKey(s.address)}\u0000${d}`);
    const skdm = await S.SenderKeyDistributionMessage.create(s.address, d, s.stores.senderKeys);
    return { skdm: b64(skdm.serialize()) };
  },
  async group_process(req) {
    const s = need();
    await S.processSenderKeyDistributionMessage(peerAddress(req), S.SenderKeyDistributionMessage.deserialize(unb64(req, 'skdm')), s.stores.senderKeys);
    return {};
  },
  async group_encrypt(req) {
    const s = need();
    const m = await S.groupEncrypt(s.address, uuid(req, 'distributionId'), s.stores.senderKeys, unb64(req, 'plaintext'));
    return { ciphertext: b64(m.serialize()) };
  },
  async group_decrypt(req) {
    const s = need();
    return { plaintext: b64(await S.groupDecrypt(peerAddress(req), s.stores.senderKeys, unb64(req, 'ciphertext'))) };
  },
  async certificate(req) {
    const s = need();
    const root = S.PrivateKey.deserialize(unb64(req, 'trustRootPrivate'));
    const server = S.PrivateKey.deserialize(unb64(req, 'serverPrivate'));
    const serverCert = S.ServerCertificate.new(uint(req, 'serverKeyId'), server.getPublicKey(), root);
    const key = req.senderKey ? S.PublicKey.deserialize(unb64(req, 'senderKey')) : s.identity.publicKey;
    const cert = S.SenderCertificate.new(str(req, 'senderUuid'), str(req, 'senderE164', true), uint(req, 'senderDevice', { min: 1, max: 127 }),
      key, uint(req, 'expires', { max: Number.MAX_SAFE_INTEGER }), serverCert,
      req.signerPrivate ? S.PrivateKey.deserialize(unb64(req, 'signerPrivate')) : server);
    return { senderCert: b64(cert.serialize()), serverCert: b64(serverCert.serialize()), trustRoot: b64(root.getPublicKey().serialize()) };
  },
  async seal(req) {
    const s = need();
    const type = uint(req, 'msgType');
    if (!(type in PROTO_TYPE)) fail('field "msgType" must be 2, 3, 7 or 8');
    const usmc = S.UnidentifiedSenderMessageContent.deserialize(usmcBytes(PROTO_TYPE[type], unb64(req, 'senderCert'),
      unb64(req, 'content'), uint(req, 'contentHint', { optional: true }) ?? 0, unb64(req, 'groupId', true)));
    const version = uint(req, 'version', { min: 1, max: 2 });
    if (version === 1) {
      const addr = S.ProtocolAddress.new('sealed-recipient', 1);
      s.identities.set(addrKey(addr), unb64(req, 'recipientKey'));
      return { sealed: b64(await S.sealedSenderEncrypt(usmc, addr, s.stores.identities)) };
    }
    if (!Array.isArray(req.recipients) || req.recipients.length === 0) fail('field "recipients" must be a non-empty array');
    const addrs = req.recipients.map((r) => {
      const a = S.ProtocolAddress.new(str(r, 'serviceId'), uint(r, 'device', { min: 1, max: 127 }));
      s.identities.set(addrKey(a), unb64(r, 'identityKey'));
      if (!s.sessions.has(addrKey(a))) fail(`no session with ${a.toString()}: send process_bundle first`);
      return a;
    });
    return { sealed: b64(await S.sealedSenderMultiRecipientEncrypt(usmc, addrs, s.stores.identities, s.stores.sessions)) };
  },
  async fanout(req) {
    const m = new SSMRM(unb64(req, 'sealed'));
    const all = m.recipientsByServiceIdString();
    return {
      messages: Object.entries(all).map(([sid, r]) => ({
        serviceId: sid, devices: r.deviceIds, registrationIds: r.registrationIds, message: b64(m.messageForRecipient(r)),
      })),
    };
  },
  async unseal(req) {
    const s = need();
    const usmc = await S.sealedSenderDecryptToUsmc(unb64(req, 'sealed'), s.stores.identities);
    const cert = usmc.senderCertificate();
    if (!cert.validate(S.PublicKey.deserialize(unb64(req, 'trustRoot')), uint(req, 'timestamp', { max: Number.MAX_SAFE_INTEGER })))
      fail('sender certificate is not valid (trust root, signature or expiry)');
    return unsealedReply(usmc);
  },
};

async function handle(line) {
  let req;
  try { req = JSON.parse(line); } catch (e) { return { ok: false, error: `malformed JSON: ${e.message}` }; }
  if (typeof req !== 'object' || req === null || Array.isArray(req)) return { ok: false, error: 'request must be a JSON object' };
  const reply = (o) => (req.id === undefined ? o : { id: req.id, ...o });
  const fn = typeof req.cmd === 'string' && Object.hasOwn(commands, req.cmd) ? commands[req.cmd] : null;
  if (!fn) return reply({ ok: false, error: `unknown command ${JSON.stringify(req.cmd ?? null)}` });
  try { return reply({ ok: true, ...(await fn(req)) }); } catch (e) { return reply({ ok: false, error: String(e && e.message ? e.message : e) }); }
}

// `node peer_layers.js --vectors` prints tests/unit/test_sealed_libsignal_vectors.h: sender-key
// and sealed sender messages made by libsignal, with the private keys needed to open them,
// so the C unit test test_sealed_libsignal.c checks libsotto (both layers)
// against libsignal without Node.
async function vectors() {
  const hex = (u8) => Buffer.from(u8).toString('hex');
  const arr = (name, u8) => {
    const h = hex(u8).match(/.{1,2}/g) ?? [];
    const lines = [];
    for (let i = 0; i < h.length; i += 16) lines.push('    ' + h.slice(i, i + 16).map((x) => `0x${x}`).join(', ') + ',');
    return `static const uint8_t ${name}[${u8.length}] = {\n${lines.join('\n')}\n};\n`;
  };
  const out = ['/* Generated by `node tests/interop/peer_layers.js --vectors` with libsignal-client 0.103.0. */'];
  // sender keys
  const st = { senderKeys: new Map() };
  const sk = stores(st).senderKeys;
  const alice = S.ProtocolAddress.new('alice', 1);
  const dist = 'd15c0e11-2233-4455-6677-8899aabbccdd';
  const skdm = await S.SenderKeyDistributionMessage.create(alice, dist, sk);
  out.push(arr('LS_SKDM', skdm.serialize()));
  const N = 6;
  out.push(`#define LS_GROUP_N ${N}`);
  for (let i = 0; i < N; i++) {
    const pt = Buffer.from(`libsignal group message ${i}`);
    out.push(arr(`LS_GROUP_PT${i}`, pt));
    out.push(arr(`LS_GROUP_CT${i}`, (await S.groupEncrypt(alice, dist, sk, pt)).serialize()));
  }
  // sealed sender: a sender, two recipients with sessions (v2 needs them)
  const root = S.PrivateKey.generate(), server = S.PrivateKey.generate();
  const sender = S.IdentityKeyPair.generate();
  const expires = 1700000000000 + 86400000;
  const sc = S.ServerCertificate.new(7, server.getPublicKey(), root);
  const cert = S.SenderCertificate.new('9d0652a3-dcc3-4d11-975f-74d61598733f', '+14155550100', 3, sender.publicKey, expires, sc, server);
  out.push(arr('LS_TRUST_ROOT', root.getPublicKey().serialize()));
  out.push(arr('LS_SENDER_IK', sender.publicKey.serialize()));
  out.push(`#define LS_NOW_MS 1700000000000ull\n#define LS_EXPIRES_MS ${expires}ull`);
  const sst = { identity: sender, registrationId: 1, identities: new Map(), sessions: new Map(), senderKeys: new Map() };
  sst.address = S.ProtocolAddress.new('9d0652a3-dcc3-4d11-975f-74d61598733f', 3);
  sst.stores = stores(sst);
  const rcpt = [];
  for (let i = 0; i < 2; i++) {
    const id = S.IdentityKeyPair.generate();
    const spk = S.PrivateKey.generate(), kyber = S.KEMKeyPair.generate();
    const reg = 100 + i;
    const name = i ? 'PNI:796abedb-ca4e-4f18-8803-1fde5b921f9f' : '5f3a0c1e-8d2b-4c6a-9e7f-0a1b2c3d4e5f';
    const b = S.PreKeyBundle.new(reg, 1, null, null, 1, spk.getPublicKey(), id.privateKey.sign(spk.getPublicKey().serialize()),
      id.publicKey, 2, kyber.getPublicKey(), id.privateKey.sign(kyber.getPublicKey().serialize()));
    const addr = S.ProtocolAddress.new(name, 1);
    await S.processPreKeyBundle(b, addr, sst.address, sst.stores.sessions, sst.stores.identities);
    rcpt.push({ id, addr, reg });
    out.push(arr(`LS_RCPT${i}_PRIV`, id.privateKey.serialize()));
  }
  const content = Buffer.from('sealed by libsignal');
  const usmc = S.UnidentifiedSenderMessageContent.deserialize(usmcBytes(2, cert.serialize(), content, 1, Buffer.from([1, 2, 3, 4])));
  out.push(arr('LS_SEALED_CONTENT', content));
  sst.identities.set(addrKey(rcpt[0].addr), rcpt[0].id.publicKey.serialize());
  out.push(arr('LS_SEALED_V1', await S.sealedSenderEncrypt(usmc, rcpt[0].addr, sst.stores.identities)));
  out.push(arr('LS_SEALED_V2_SENT', await S.sealedSenderMultiRecipientEncrypt(usmc, rcpt.map((r) => r.addr), sst.stores.identities, sst.stores.sessions)));
  process.stdout.write(out.join('\n') + '\n');
}

async function main() {
  S = await import('@signalapp/libsignal-client');
  SSMRM = (await import('@signalapp/libsignal-client/dist/SealedSenderMultiRecipientMessage.js')).default;
  if (process.argv.includes('--vectors')) return vectors();
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    if (!line.trim()) return;
    chain = chain.then(async () => process.stdout.write(JSON.stringify(await handle(line)) + '\n'));
  });
  rl.on('close', () => chain.then(() => process.exit(0)));
}
main().catch((e) => { console.error(e); process.exit(1); });
