// Writes tests/unit/vectors/mlkem768_noble.txt: FIPS 203 ML-KEM-768 known
// answers from @noble/post-quantum 0.7.1 (tests/interop/node_modules), for
// tests/unit/test_mlkem768.c. Deterministic: every seed is a hash of its index.
//   node tests/unit/vectors/gen_mlkem768.mjs > tests/unit/vectors/mlkem768_noble.txt
// One vector per line, hex, space separated:
//   seed64 m32 sha256(ek) sha256(dk) sha256(ct) ss ss_rejected
// ss_rejected: decapsulation of ct with byte (i * 37) % 1088 xored with 0x01.
// The first FULL_COUNT lines carry ek dk ct in full as well (appended).
import path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
const here = path.dirname(fileURLToPath(import.meta.url));
const { ml_kem768 } = await import(
  path.join(here, '../../interop/node_modules/@noble/post-quantum/ml-kem.js'));

const COUNT = 100;
const FULL_COUNT = 3;
const hex = (b) => Buffer.from(b).toString('hex');
const sha256 = (b) => createHash('sha256').update(b).digest();
const h = (alg, s) => createHash(alg).update(s).digest();

const out = [];
for (let i = 0; i < COUNT; i++) {
  const seed = new Uint8Array(h('sha512', `sotto mlkem768 keygen ${i}`));
  const m = new Uint8Array(h('sha256', `sotto mlkem768 encaps ${i}`));
  const { publicKey, secretKey } = ml_kem768.keygen(seed);
  const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey, m);
  const ss2 = ml_kem768.decapsulate(cipherText, secretKey);
  if (hex(ss2) !== hex(sharedSecret)) throw new Error('noble round trip failed');
  const bad = Uint8Array.from(cipherText);
  bad[(i * 37) % bad.length] ^= 1;
  const ssBad = ml_kem768.decapsulate(bad, secretKey);
  const f = [hex(seed), hex(m), hex(sha256(publicKey)), hex(sha256(secretKey)),
    hex(sha256(cipherText)), hex(sharedSecret), hex(ssBad)];
  if (i < FULL_COUNT) f.push(hex(publicKey), hex(secretKey), hex(cipherText));
  out.push(f.join(' '));
}
process.stdout.write(out.join('\n') + '\n');
