#!/usr/bin/env node
// A deliberately broken peer, to prove the driver can fail. It runs a real peer and
// rewrites some of its replies on the way out.
//
//   node broken-peer.js --mode MODE -- <real peer command...>
//
// Modes:
//   none               pass everything through unchanged (the control)
//   corrupt-ciphertext flip one byte of every 10th ciphertext that encrypt returns
//   wrong-plaintext    alter the plaintext of every 10th successful decrypt
//   accept-tampered    turn every refused decrypt into ok:true with an empty plaintext
//   bad-signature      flip a bit in every signature; every verify says valid
//   wrong-id           echo a wrong "id" on every 50th reply
'use strict';

const { spawn } = require('child_process');
const readline = require('readline');

const EVERY = 10;
const ID_EVERY = 50;
const MODES = ['none', 'corrupt-ciphertext', 'wrong-plaintext', 'accept-tampered', 'bad-signature', 'wrong-id'];

const argv = process.argv.slice(2);
const sep = argv.indexOf('--');
const mi = argv.indexOf('--mode');
const mode = mi >= 0 ? argv[mi + 1] : 'corrupt-ciphertext';
if (sep < 0 || sep === argv.length - 1 || !MODES.includes(mode)) {
  process.stderr.write(`usage: broken-peer.js --mode {${MODES.join('|')}} -- <peer command...>\n`);
  process.exit(2);
}
const child = spawn(argv[sep + 1], argv.slice(sep + 2), { stdio: ['pipe', 'pipe', 'inherit'] });
child.on('exit', (code) => process.exit(code ?? 1));
process.stdin.on('end', () => child.stdin.end());

const cmds = []; // command of each request still waiting for its reply, in order
readline.createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (line) => {
  let cmd = null;
  try {
    cmd = JSON.parse(line).cmd ?? null;
  } catch {
    // the real peer answers malformed lines too
  }
  cmds.push(cmd);
  child.stdin.write(line + '\n');
});

const counts = {};
const nth = (key, every) => {
  counts[key] = (counts[key] ?? 0) + 1;
  return counts[key] % every === 0;
};
const flipB64 = (s, pos, mask) => {
  const b = Buffer.from(s, 'base64');
  if (b.length === 0) return Buffer.from([mask]).toString('base64');
  b[pos(b.length)] ^= mask;
  return b.toString('base64');
};

function rewrite(cmd, r) {
  if (mode === 'corrupt-ciphertext' && cmd === 'encrypt' && r.ok && nth('enc', EVERY)) {
    r.ciphertext = flipB64(r.ciphertext, (n) => n >> 1, 0x01);
  } else if (mode === 'wrong-plaintext' && cmd === 'decrypt' && r.ok && nth('dec', EVERY)) {
    r.plaintext = flipB64(r.plaintext, (n) => n - 1, 0x20);
  } else if (mode === 'accept-tampered' && (cmd === 'decrypt' || cmd === 'group_decrypt') && !r.ok) {
    return { ...(r.id === undefined ? {} : { id: r.id }), ok: true, plaintext: '' };
  } else if (mode === 'bad-signature' && cmd === 'sign' && r.ok) {
    r.signature = flipB64(r.signature, () => 5, 0x01);
  } else if (mode === 'bad-signature' && cmd === 'verify' && r.ok) {
    r.valid = true;
  } else if (mode === 'wrong-id' && r.id !== undefined && nth('id', ID_EVERY)) {
    r.id = typeof r.id === 'number' ? r.id + 1 : 'x';
  }
  return r;
}

readline.createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
  const cmd = cmds.shift();
  let out = line;
  try {
    out = JSON.stringify(rewrite(cmd, JSON.parse(line)));
  } catch {
    // pass through whatever it was
  }
  process.stdout.write(out + '\n');
});
