#!/usr/bin/env node
// The driver's own test: paired with broken-peer.js in each mode, or with peer.js given
// a deliberate state fault (INTEROP_PEER_FAULT), the driver must
// report failures (exit 1, "N passed, M failed" with M > 0, one FAIL line per failed
// case, no crash); through the transparent mode it must pass. Runs a short case list.
//
//   node check-broken.js [--seed N]
'use strict';

const { spawn } = require('child_process');
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

// Runs the driver once; resolves { status, stdout, stderr }.
function runDriver(args) {
  return new Promise((resolve) => {
    const p = spawn(node, [path.join(here, 'driver.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function verdictOf(mode, r) {
  const m = r.stdout.match(/^(\d+) passed, (\d+) failed$/m);
  const fails = (r.stdout.match(/^FAIL /gm) ?? []).length;
  if (!m) return [null, 'no summary line'];
  if (/^driver: /m.test(r.stderr)) return [m, `driver crashed: ${r.stderr}`];
  if (mode === 'none') return [m, r.status === 0 && m[2] === '0' ? null : 'transparent wrapper did not pass'];
  if (r.status !== 1) return [m, `exit status ${r.status}, expected 1`];
  if (m[2] === '0' || Number(m[2]) !== fails) return [m, `summary says ${m[2]} failed, ${fails} FAIL lines`];
  return [m, null];
}

// A few driver runs at a time: each is mostly waiting on its peers.
const PARALLEL = 3;

async function main() {
  const modes = Object.keys(PLAN);
  const results = new Array(modes.length);
  let next = 0;
  const worker = async () => {
    while (next < modes.length) {
      const i = next++;
      const mode = modes[i];
      results[i] = await runDriver(['--a', peer, '--b', broken(mode), '--case', PLAN[mode], '--seed', seed]);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  let bad = 0;
  modes.forEach((mode, i) => {
    const [m, verdict] = verdictOf(mode, results[i]);
    console.log(`${verdict ? 'BAD ' : 'ok  '} mode ${mode}: ${m ? m[0] : '?'}${verdict ? ` -- ${verdict}` : ''}`);
    if (verdict) {
      bad++;
      process.stdout.write(results[i].stdout);
    }
  });
  console.log(bad ? `${bad} mode(s) not detected` : 'driver detected every broken mode');
  process.exit(bad ? 1 : 0);
}

main();
