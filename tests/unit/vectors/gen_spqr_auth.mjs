// Writes tests/unit/vectors/spqr_auth.txt: SPQR v1 authenticator values
// computed with Node's own HKDF and HMAC from the formulas of
// signalapp/SparsePostQuantumRatchet src/authenticator.rs (an independent
// implementation of the same definitions), for tests/unit/test_spqr_braid_auth.c.
//   node tests/unit/vectors/gen_spqr_auth.mjs > tests/unit/vectors/spqr_auth.txt
// Inputs: auth key = bytes 0..31, epoch 1; hdr = 64 bytes (3i + 1);
// ct = 1088 bytes (7i + 2); epoch secret = 32 bytes (0xA5 ^ i), epoch 1 -> 2.
import { hkdfSync, createHmac } from 'node:crypto';

const be64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
const seq = (n, f) => Buffer.from(Array.from({ length: n }, (_, i) => f(i) & 0xff));
const update = (st, ep, k) => {
  const out = Buffer.from(hkdfSync('sha256', Buffer.concat([st.root, k]), Buffer.alloc(32),
    Buffer.concat([Buffer.from('Signal_PQCKA_V1_MLKEM768:Authenticator Update'), be64(ep)]), 64));
  return { root: out.subarray(0, 32), mac: out.subarray(32) };
};
const mac = (st, label, ep, data) => createHmac('sha256', st.mac)
  .update(Buffer.concat([Buffer.from(label), be64(ep), data])).digest();

const key = seq(32, (i) => i);
const hdr = seq(64, (i) => 3 * i + 1);
const ct = seq(1088, (i) => 7 * i + 2);
const secret = seq(32, (i) => 0xa5 ^ i);
let st = update({ root: Buffer.alloc(32), mac: Buffer.alloc(32) }, 1, key);
const lines = [];
lines.push(`init_root ${st.root.toString('hex')}`, `init_mac ${st.mac.toString('hex')}`);
lines.push(`hdr_mac_e1 ${mac(st, 'Signal_PQCKA_V1_MLKEM768:ekheader', 1, hdr).toString('hex')}`);
lines.push(`ct_mac_e1 ${mac(st, 'Signal_PQCKA_V1_MLKEM768:ciphertext', 1, ct).toString('hex')}`);
st = update(st, 1, secret);
lines.push(`upd_root ${st.root.toString('hex')}`, `upd_mac ${st.mac.toString('hex')}`);
lines.push(`ct_mac_upd ${mac(st, 'Signal_PQCKA_V1_MLKEM768:ciphertext', 1, ct).toString('hex')}`);
lines.push(`hdr_mac_e2 ${mac(st, 'Signal_PQCKA_V1_MLKEM768:ekheader', 2, hdr).toString('hex')}`);
process.stdout.write(lines.join('\n') + '\n');
