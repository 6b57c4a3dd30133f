#!/usr/bin/env node
// The driver's own test: paired with broken-peer.js in each mode, or with peer.js given
// a deliberate state fault (INTEROP_PEER_FAULT), the driver must
// report failures (exit 1, "N passed, M failed" with M > 0, one FAIL line per failed
// case, no crash); through the transparent mode it must pass. Runs a short case list.
//
//   node check-broken.js [--seed N]
'use strict';

const { spawnSync } = require('child_process');
const path = require('path');

const here = __dirname;
const node = process.execPath;
const peer = `${node} ${path.join(here, 'peer.js')}`;
// "fault:X" runs peer.js with INTEROP_PEER_FAULT=X (state bugs no reply rewriter can fake);
// anything else is a broken-peer.js mode.
const broken = (mode) =>
  mode.startsWith('fault:')
    ? `env INTEROP_PEER_FAULT=${mode.slice(6)} ${peer}`
    : `${node} ${path.join(here, 'broken-peer.js')} --mode ${mode} -- ${peer}`;
const si = process.argv.indexOf('--seed');
const seed = si >= 0 ? process.argv[si + 1] : String(1 + Math.floor(Math.random() * 1e9));

// mode -> cases that are enough to expose it
const PLAN = {
  none: 'tamper,signatures,group',
  'corrupt-ciphertext': 'pingpong',
  'wrong-plaintext': 'shuffle',
  'accept-tampered': 'tamper',
  'bad-signature': 'signatures',
  'wrong-id': 'pingpong',
  'fault:keep-prekeys': 'prekey-reuse',
  'fault:trust-all': 'identity-change',
  'fault:pin-on-failure': 'robustness',
};

let bad = 0;
for (const [mode, cases] of Object.entries(PLAN)) {
  const r = spawnSync(node, [path.join(here, 'driver.js'), '--a', peer, '--b', broken(mode), '--case', cases, '--seed', seed], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = r.stdout ?? '';
  const m = out.match(/^(\d+) passed, (\d+) failed$/m);
  const fails = (out.match(/^FAIL /gm) ?? []).length;
  let verdict;
  if (!m) verdict = 'no summary line';
  else if (/^driver: /m.test(r.stderr ?? '')) verdict = `driver crashed: ${r.stderr}`;
  else if (mode === 'none') verdict = r.status === 0 && m[2] === '0' ? null : 'transparent wrapper did not pass';
  else if (r.status !== 1) verdict = `exit status ${r.status}, expected 1`;
  else if (m[2] === '0' || Number(m[2]) !== fails) verdict = `summary says ${m[2]} failed, ${fails} FAIL lines`;
  else verdict = null;
  console.log(`${verdict ? 'BAD ' : 'ok  '} mode ${mode}: ${m ? m[0] : '?'}${verdict ? ` -- ${verdict}` : ''}`);
  if (verdict) {
    bad++;
    process.stdout.write(out);
  }
}
console.log(bad ? `${bad} mode(s) not detected` : 'driver detected every broken mode');
process.exit(bad ? 1 : 0);
